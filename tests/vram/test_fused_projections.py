"""Phi-3's fused projections: which LoRA adapters a run gets, in the layout it really loads.

Microsoft's Phi-3 and Phi-4 checkpoints store q, k, v as one qkv_proj and gate, up as one gate_up_proj, which the
usual target names do not reach (measured: microsoft/phi-4 through Unsloth 2026.10.9, 21,299,200 trainable parameters
at rank 16). Unsloth converted some of its uploads to Llama's or Mistral's split layout, and its loader sends the
original's id to them, so those are sized with adapters on all seven projections."""

from __future__ import annotations

import pytest

from finetune_advisor.tools.estimate_vram import estimate_vram
from finetune_advisor.vram.resolve import from_architecture
from finetune_advisor.vram.shapes import shapes

# microsoft/phi-4's sizes: 40 layers, hidden 5120, 40 query heads and 10 key-value heads of 128, MLP 17920.
PHI4 = {"model_type": "phi3", "num_hidden_layers": 40, "hidden_size": 5120, "intermediate_size": 17920,
        "num_attention_heads": 40, "num_key_value_heads": 10, "vocab_size": 100352, "tie_word_embeddings": False,
        "max_position_embeddings": 16384}
FUSED_R16 = 40 * 16 * ((5120 + 5120) + (17920 + 5120))  # o_proj and down_proj: 21,299,200, what Unsloth created
SPLIT_R16 = 40 * 16 * (2 * (5120 + 5120) + 2 * (5120 + 1280) + 3 * (5120 + 17920))  # all seven: 65,536,000


def test_a_phi3_config_gets_adapters_on_o_proj_and_down_proj_only_and_says_why() -> None:
    result = estimate_vram(architecture=PHI4, method="qlora", seq_len=2048)
    assert result.trainable_params_m == pytest.approx(FUSED_R16 / 1e6, abs=0.001)  # reported in millions, to 3 places
    said = " ".join(result.assumptions)
    assert "holds gate_up_proj and qkv_proj as fused matrices" in said and "o_proj, down_proj only" in said


def test_the_fused_layout_keeps_the_parameter_count() -> None:
    """Fusing moves no parameter: the count is microsoft/phi-4's, 14,659,507,200."""
    assert shapes(from_architecture(PHI4).arch).total_params == 14_659_507_200


@pytest.mark.parametrize("model", ["phi-4", "unsloth/phi-4", "unsloth/phi-4-bnb-4bit", "microsoft/phi-4"])
def test_phi4_is_sized_as_unsloths_llama_layout_however_it_is_named(model: str) -> None:
    result = estimate_vram(model=model, method="qlora", seq_len=2048)
    assert result.trainable_params_m == pytest.approx(SPLIT_R16 / 1e6, abs=0.001)
    assert any("converted to llama's layout" in a for a in result.assumptions)


def test_a_phi3_upload_unsloth_left_fused_is_sized_fused() -> None:
    """Phi-4-mini's Unsloth upload reads Phi3ForCausalLM: 32 layers of o_proj (3072 -> 3072) and down_proj (8192 ->
    3072) at rank 16."""
    result = estimate_vram(model="phi-4-mini", method="qlora", seq_len=2048)
    assert result.trainable_params_m == pytest.approx(32 * 16 * ((3072 + 3072) + (8192 + 3072)) / 1e6, abs=0.001)
    assert not any("converted to" in a for a in result.assumptions)


def test_glm4_fuses_its_mlp_only() -> None:
    """GLM-4 (transformers GlmMLP / Glm4MLP) keeps q, k, v apart and fuses gate and up: the usual names adapt q, k, v, o
    and down_proj. A small config: 2 layers, hidden 64, 4 heads and 2 key-value heads of 16, MLP 128."""
    config = {"model_type": "glm4", "num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 1000,
              "tie_word_embeddings": False, "max_position_embeddings": 4096}
    result = estimate_vram(architecture=config, method="lora", seq_len=512, lora_rank=64)
    per_layer = (64 + 64) + 2 * (64 + 32) + (64 + 64) + (128 + 64)  # q, k, v, o, down
    assert result.trainable_params_m == pytest.approx(2 * 64 * per_layer / 1e6, abs=0.001)
    assert any("holds gate_up_proj as fused matrices, which the target names gate_proj, up_proj do not reach" in a
               for a in result.assumptions)
