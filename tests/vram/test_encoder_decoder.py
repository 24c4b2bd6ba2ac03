"""Whisper, the speech encoder-decoder: its parameter counts, what its activations grow with, the Unsloth
notebook it is checked against, and bad config fields refused by name."""

from __future__ import annotations

import json
import pathlib

import pytest

from finetune_advisor.errors import InvalidInputError
from finetune_advisor.tools.estimate_vram import estimate_vram
from finetune_advisor.vram import constants as k
from finetune_advisor.vram.architecture import Architecture
from finetune_advisor.vram.estimator import RunConfig, estimate
from finetune_advisor.vram.shapes import shapes

# openai/whisper-large-v3 config.json, as the catalog entry cites it (the fields the estimator reads).
LARGE_V3_CONFIG = {
    "model_type": "whisper", "d_model": 1280, "num_hidden_layers": 32, "encoder_layers": 32, "decoder_layers": 32,
    "encoder_attention_heads": 20, "decoder_attention_heads": 20, "encoder_ffn_dim": 5120, "decoder_ffn_dim": 5120,
    "num_mel_bins": 128, "vocab_size": 51866, "max_source_positions": 1500, "max_target_positions": 448,
    "is_encoder_decoder": True, "activation_function": "gelu",
}
NOTEBOOK = next(p for p in json.loads((pathlib.Path(__file__).parents[2] / "bench/vram_accuracy/public_unsloth.json")
                                      .read_text())["points"] if p["id"] == "nb-whisper-large-v3-t4")


def _catalog_arch(model: str) -> Architecture:
    from finetune_advisor.adapters.cache import load_catalog
    from finetune_advisor.catalog.resolve import resolve

    entry = resolve(load_catalog(), model).entry
    assert entry.architecture is not None
    return entry.architecture


@pytest.mark.parametrize(("model", "published"), [
    ("whisper-large-v3", 1_543_490_560),  # the card's 1550 M, counted exactly (catalog params source)
    ("whisper-large-v3-turbo", 808_878_080),  # the card's 809 M
])
def test_the_catalog_architectures_add_up_to_the_published_sizes(model: str, published: int) -> None:
    assert shapes(_catalog_arch(model)).total_params == published


def test_whisper_small_is_within_a_percent_of_its_published_size() -> None:
    assert shapes(_catalog_arch("whisper-small")).total_params == pytest.approx(242e6, rel=0.01)


def test_the_config_json_reads_the_decoder_fields_not_the_encoder_depth() -> None:
    """Whisper's num_hidden_layers is its encoder's depth: turbo has 32 of them but a 4-layer decoder."""
    turbo = Architecture.from_hf_config({**LARGE_V3_CONFIG, "decoder_layers": 4})
    assert (turbo.num_hidden_layers, turbo.encoder_layers, turbo.tie_word_embeddings) == (4, 32, True)
    assert turbo == _catalog_arch("whisper-large-v3-turbo")


def test_lora_on_q_and_v_reaches_encoder_self_and_cross_attention_as_unsloth_counted() -> None:
    """Unsloth's notebook printed 'Trainable parameters = 31,457,280' for r 64 on q_proj and v_proj."""
    result = estimate(_catalog_arch("whisper-large-v3"), RunConfig(method="lora", lora_rank=64,
                                                                    target_modules=("q_proj", "v_proj")))
    assert result.trainable_params_m == pytest.approx(31.457_280, abs=0.000_5)  # the answer rounds to 1000s


@pytest.mark.parametrize(("stack", "checkpointing"), [("unsloth", True), ("transformers", False)])
def test_the_encoder_runs_over_its_frames_whatever_seq_len(stack: str, checkpointing: bool) -> None:
    """Activations of a short transcript are already most of a long one's (the encoder's 1500 frames), stop
    growing at the decoder's 448-token limit, and follow the frames (max_source_positions) and the batch."""
    arch = _catalog_arch("whisper-large-v3")

    def act(a: Architecture = arch, seq_len: int = 8, batch: int = 1) -> float:
        run = RunConfig(method="lora", seq_len=seq_len, batch_size=batch, stack=stack,
                        gradient_checkpointing=checkpointing)
        return estimate(a, run).breakdown.activations

    assert act(seq_len=8) > 0.3 * act(seq_len=448)
    assert act(seq_len=2048) == act(seq_len=448)
    assert act(arch.model_copy(update={"max_source_positions": 3000})) > 1.8 * act()
    assert act(batch=2) > 1.8 * act()


def test_seq_len_beyond_the_decoder_limit_is_said_not_refused() -> None:
    result = estimate(_catalog_arch("whisper-small"), RunConfig(method="lora", seq_len=2048))
    assert any("seq_len 2048 is counted as 448" in note for note in result.assumptions)


def test_the_estimate_at_the_notebooks_settings_against_its_published_peak() -> None:
    """Unsloth's Whisper notebook (T4, 16-bit LoRA r 64 on q/v, batch 1) reserved 3.012 GB after load and
    10.348 GB at its peak. Tolerances: the weights and adapters must match the start figure within 2 % (they
    are all it holds then: 1.54B fp16 weights and 31.5M fp32 adapters); the peak is NOT matched, because it
    includes the notebook's evaluation every 5 steps at batch 8 with predictions kept on the GPU, which the
    training-step estimate leaves out, so the estimate must stay between the start figure and the peak, and
    say so. The answer's note states the gap with these numbers ('under 4 GiB'), held here."""
    result = estimate_vram(model=NOTEBOOK["catalog_id"], gpu_memory_gib=NOTEBOOK["gpu_total_gib"], method="lora",
                           seq_len=NOTEBOOK["seq_len"], batch_size=NOTEBOOK["batch_size"], lora_rank=NOTEBOOK["lora_rank"],
                           target_modules=NOTEBOOK["target_modules"], bf16=False, stack="unsloth")
    loaded = result.breakdown.weights + result.breakdown.adapters
    assert loaded == pytest.approx(NOTEBOOK["start_reserved_gib"], rel=0.02)
    reserved = result.total_gib - k.UNSLOTH_CONTEXT_GIB  # the notebook prints reserved memory, without the context
    assert NOTEBOOK["start_reserved_gib"] < reserved < 4.0 < NOTEBOOK["peak_reserved_gib"]
    assert any("Evaluating during training" in note and "10.35 GB" in note for note in result.assumptions)


def test_whispers_training_step_on_unsloth_is_what_running_the_notebooks_settings_measured() -> None:
    """Round 13 ran Unsloth's Whisper large-v3 notebook settings through Unsloth 2026.10.9 on an H200 (random weights,
    evaluation off; bench/vram_accuracy/whisper_notebook_probe.py): 4.38 GiB NVML peak, against 4.64 predicted before
    the run. The estimate must stay on the upper side of that measurement, by at most 10 %."""
    probe = pathlib.Path(__file__).parents[2] / "bench/vram_accuracy/data/whisper_probe.jsonl"
    measured = next(r for r in map(json.loads, probe.read_text().splitlines())
                    if r.get("stack") == "unsloth" and r["eval"] == "off" and r.get("nvml_process_peak_gib"))
    result = estimate_vram(model="whisper-large-v3", gpu="H200", method="lora", seq_len=measured["labels_max"],
                           lora_rank=64, target_modules=["q_proj", "v_proj"], stack="unsloth")
    assert 0.0 <= result.total_gib / measured["nvml_process_peak_gib"] - 1 <= 0.10


def _refused(config: dict) -> str:
    with pytest.raises(InvalidInputError) as caught:
        Architecture.from_hf_config(config)
    return str(caught.value)


@pytest.mark.parametrize(("field", "value"), [
    ("encoder_layers", 0), ("encoder_ffn_dim", -5120), ("max_source_positions", "1500"), ("num_mel_bins", True),
    ("encoder_attention_heads", 10**9), ("max_target_positions", 0.5),
])
def test_bad_encoder_fields_are_refused_by_name(field: str, value: object) -> None:
    message = _refused({**LARGE_V3_CONFIG, field: value})
    assert field in message


@pytest.mark.parametrize("field", ["encoder_layers", "num_mel_bins", "max_source_positions"])
def test_a_whisper_config_without_its_encoder_fields_is_refused_by_name(field: str) -> None:
    config = {name: value for name, value in LARGE_V3_CONFIG.items() if name != field}
    assert f"missing {field}" in _refused(config)


def test_encoder_fields_on_a_decoder_only_model_are_refused_in_the_catalog_form() -> None:
    with pytest.raises(ValueError, match="encoder_layers"):
        Architecture(model_type="llama", num_hidden_layers=2, hidden_size=64, num_attention_heads=4, vocab_size=100,
                     encoder_layers=2)


def test_an_inline_whisper_config_reaches_the_tool_and_a_bad_one_names_the_field() -> None:
    good = estimate_vram(architecture=LARGE_V3_CONFIG, method="lora", gpu_memory_gib=16)
    assert good.params_b == pytest.approx(1.543, abs=0.001)
    with pytest.raises(InvalidInputError, match="encoder_ffn_dim"):
        estimate_vram(architecture={**LARGE_V3_CONFIG, "encoder_ffn_dim": 0}, method="lora", gpu_memory_gib=16)
