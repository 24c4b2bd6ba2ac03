"""Unsloth's loss route (families.chunked_loss_on_unsloth): the families FastModel loads and unsloth_zoo rewrites
run their loss in compiled chunks of up to 4 GiB of counted logits, which the estimate holds; the families on
Unsloth's own forward, or whose forward the rewrite leaves alone, do not. The figures are the records': SmolLM3 and
ERNIE 4.5 came in up to 19 % above the estimate without the chunk (round 53)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_advisor.vram import constants as k
from finetune_advisor.vram.architecture import Architecture
from finetune_advisor.vram.estimator import RunConfig, estimate
from finetune_advisor.vram.families import (
    UNSLOTH_FULL_LOGITS_BYTES, chunked_loss_on_unsloth, family_of, loss_chunk_rows, padded_head_copies_bytes,
)

DATA = Path(__file__).resolve().parents[2] / "bench" / "vram_calibration" / "data" / "unsloth_sft_1gpu.jsonl"
GIB = 2**30
SMALL = dict(num_hidden_layers=4, hidden_size=2048, intermediate_size=8192, num_attention_heads=16,
             num_key_value_heads=4, vocab_size=128256, tie_word_embeddings=True)


@pytest.mark.parametrize(("model_type", "padded", "chunked"), [
    ("smollm3", False, True), ("ernie4_5", False, True), ("olmo3", False, True), ("phi3", False, True),
    ("llama", False, False), ("qwen3", False, False),  # Unsloth's own forward
    ("cohere2", False, False), ("granite", False, False), ("gemma3_text", False, False),  # forward not rewritten
    ("qwen2_5_vl_text", False, False), ("mllama_text_model", False, False),  # loaded as ForConditionalGeneration
    ("lfm2", True, False),  # padded batches: no packed sequence lengths reach the loss
])
def test_which_families_run_the_chunked_fallback_loss(model_type: str, padded: bool, chunked: bool) -> None:
    assert chunked_loss_on_unsloth(model_type, padded) is chunked


def test_a_multimodal_checkpoint_of_a_rewritten_family_takes_the_fused_linear_loss() -> None:
    """Qwen3.5's checkpoints read images, so Unsloth loads them as Qwen3_5ForConditionalGeneration, which the import
    hook skips and unsloth_zoo's compiler rewrites with named settings only; its text-only ForCausalLM is rewritten.
    The same text layout: the chunk in 'logits and loss' only without images."""
    from finetune_advisor.tools.estimate_vram import estimate_vram

    assert chunked_loss_on_unsloth("qwen3_5_text", False) and not chunked_loss_on_unsloth("qwen3_5_text", False, True)
    catalog = estimate_vram(model="qwen3.5-4b", method="lora", seq_len=2048, stack="unsloth")
    assert catalog.breakdown.logits_and_loss == 0
    assert not any("compiled chunks" in a for a in catalog.assumptions)
    arch = Architecture.from_hf_config(json.loads(next(line for line in DATA.open()
                                                       if '"arch": "Qwen3.5-4B-text"' in line))["config"])
    run = RunConfig(method="lora", seq_len=2048, stack="unsloth")
    text, vision = estimate(arch, run), estimate(arch, run, takes_images=True)
    chunk = k.UNSLOTH_CHUNK_LOSS_BYTES * 512 * 248320 / GIB  # four chunks of 512 rows (the test above)
    assert text.breakdown.logits_and_loss == pytest.approx(chunk, abs=0.001) and vision.breakdown.logits_and_loss == 0


def test_a_chunk_holds_every_token_until_the_budget_then_a_multiple_of_four_chunks() -> None:
    assert loss_chunk_rows(2048, 128256) == 2048  # 3.9 GiB at 16 bytes a logit: one chunk
    assert loss_chunk_rows(8192, 128256) == 2048  # 15.7 GiB: four chunks
    assert loss_chunk_rows(4096, 100352) == 1024  # OLMo 2 at 4,096: 6.1 GiB, rounded up to four chunks
    assert loss_chunk_rows(2048, 248320) == 512  # Qwen3.5's vocabulary: 7.6 GiB, four chunks
    assert loss_chunk_rows(3, 10**9) == 1  # never more chunks than tokens


def test_only_an_unaligned_vocabulary_gets_the_padded_head_copies() -> None:
    assert padded_head_copies_bytes(100278, 4096) == 2 * 2 * 100280 * 4096  # OLMo 3's trace
    assert padded_head_copies_bytes(100352, 4096) == 0.0  # OLMo 2


def test_whisper_and_llama_hold_no_chunk_or_padded_copies_for_an_unaligned_vocabulary() -> None:
    """Whisper (51,865 entries, an encoder-decoder loaded as ForConditionalGeneration) and a llama-type model with
    OLMo 3's vocabulary (Unsloth's own fused-linear loss splits the vocabulary rather than padding it)."""
    from finetune_advisor.tools.estimate_vram import estimate_vram

    whisper = estimate_vram(model="whisper-large-v3", method="lora", seq_len=448)
    assert not any("not a multiple of 8" in a or "compiled chunks" in a for a in whisper.assumptions)
    base = {**SMALL, "vocab_size": 100278, "tie_word_embeddings": False}
    llama = estimate(Architecture(model_type="llama", **base), RunConfig(method="qlora", seq_len=2048, stack="unsloth"))
    assert llama.breakdown.logits_and_loss == 0 and not any("not a multiple of 8" in a for a in llama.assumptions)


def test_the_chunk_is_in_the_breakdown_and_said_only_where_the_family_takes_it() -> None:
    run = RunConfig(method="qlora", seq_len=2048, stack="unsloth")
    smol = estimate(Architecture(model_type="smollm3", **SMALL), run)
    llama = estimate(Architecture(model_type="llama", **SMALL), run)
    chunk = k.UNSLOTH_CHUNK_LOSS_BYTES * 2048 * 128256 / GIB
    assert smol.breakdown.logits_and_loss == pytest.approx(chunk, abs=0.001) and llama.breakdown.logits_and_loss == 0
    assert smol.total_gib - llama.total_gib == pytest.approx(chunk * (1 + k.UNSLOTH_RESERVED_SHARE), abs=0.01)
    said = [a for a in smol.assumptions if a.startswith("Unsloth's loss for this family runs in compiled chunks")]
    assert len(said) == 1 and "2,048 tokens' logits" in said[0]
    assert not any("compiled chunks" in a for a in llama.assumptions)


def _records(families: tuple[str, ...]) -> list[dict]:
    out = []
    for line in DATA.open():
        rec = json.loads(line)
        plain = not rec.get("emulation") and not rec.get("env") and not rec.get("not_representative")
        if rec.get("status") == "ok" and plain and family_of(rec["config"]["model_type"]) in families:
            out.append(rec)
    return out


def test_the_small_families_that_came_in_under_are_met_by_the_chunk() -> None:
    """SmolLM3 3B QLoRA and ERNIE 4.5 0.3B LoRA (round 53, -13 to -19 % before): every peak met within 3 % (ERNIE at
    8,192 tokens -2.0 % in 16 bits, -2.1 % in 4 bits), with no extra of their own; from 2,048 tokens none more than 6 %
    or 0.2 GiB over (ERNIE 0.3B QLoRA at 2,048, round 58: 7.6 %, 0.17 GiB). ERNIE 0.3B at 512 tokens (round 54) reads
    18 % over, 0.34 GiB on a 1.86 GiB peak: bounded here in GiB."""
    records = _records(("smollm3", "ernie4_5"))
    assert len(records) >= 7
    for rec in records:
        arch = Architecture.from_hf_config(rec["config"])
        run = RunConfig(method=rec["method"], seq_len=rec["seq_len"], batch_size=rec["batch_size"],
                        lora_rank=rec.get("lora_rank") or 16, stack="unsloth")
        measured = rec["nvml_process_peak_bytes"] / GIB
        predicted = estimate(arch, run).total_gib
        assert predicted / measured - 1 >= -0.03, (rec["cell"], predicted, measured)
        assert predicted / measured - 1 <= 0.06 or predicted - measured <= (0.4 if rec["seq_len"] < 2048 else 0.2), rec["cell"]


def test_the_traced_step_holds_the_chunk_the_estimate_counts_and_the_hook_off_takes_it_away() -> None:
    """Round 54b, the route from a trace rather than the code: SmolLM3 QLoRA at 2,048 tokens held, at its step's
    peak, two compiled buffers of one chunk's 16-bit logits (rows x vocabulary x 2 bytes) under unsloth_zoo's
    cross_entropy_loss.py, the rows `loss_chunk_rows` counts; with Unsloth's import hook off
    (UNSLOTH_FUSED_FORWARD=0, the fused-linear loss) SmolLM3 and ERNIE 0.3B peaked 0.75 and 0.64 GiB lower, more
    than the chunk counted for them (0.54, 0.44 GiB: the allocator's reserve on it comes off too)."""
    cells = {json.loads(line)["cell"]: json.loads(line) for line in DATA.open()}
    traced = cells["smollm3-3b/qlora-on-load/r16/b1x2048/CALIB_MEMTRACE=1"]
    vocab = traced["config"]["vocab_size"]
    assert chunked_loss_on_unsloth(traced["config"]["model_type"], padded=False)
    chunk = loss_chunk_rows(2048, vocab) * vocab * 2
    groups = traced["memtrace"]["groups"]
    assert sum(1 for _, size, count in groups if size == chunk * count) == 2
    assert any(where.startswith("cross_entropy_loss.py:") for where, _, _ in groups)
    assert not any("fused_linear" in where for where, _, _ in groups)
    for name in ("smollm3-3b/qlora-on-load/r16/b1x2048", "ernie-4.5-0.3b/lora/r16/b1x2048"):
        default = cells[name]["nvml_process_peak_bytes"] / GIB
        hook_off = cells[f"{name}/UNSLOTH_FUSED_FORWARD=0"]["nvml_process_peak_bytes"] / GIB
        arch = Architecture.from_hf_config(cells[name]["config"])
        counted = estimate(arch, RunConfig(method=cells[name]["method"], seq_len=2048, stack="unsloth")).breakdown
        assert 0.5 <= default - hook_off <= 0.8
        assert counted.logits_and_loss <= default - hook_off


def test_llama_4_holds_its_whole_logits_in_16_bits_and_a_float32_copy_at_the_loss() -> None:
    """Llama4ForConditionalGeneration calls its language model without labels and computes the loss over the whole
    logits, which accelerate's mixed-precision wrapper copies to float32: the traced 8,192-token step of Llama 4 Scout
    cut to 8 layers (round 61c) held both at its peak, 6 bytes a logit, which the estimate counts for the multimodal
    checkpoint. Loaded text-only (Llama4ForCausalLM, the hook's rewrite) it does not."""
    cells = {json.loads(line)["cell"]: json.loads(line) for line in DATA.open()}
    traced = cells["Llama-4-Scout-17B-16E-Instruct-8L/qlora-on-load/r16/b1x8192/CALIB_MEMTRACE=1/traced"]
    groups = {where.split(" ")[-1]: size for where, size, _ in traced["memtrace"]["groups"]}
    logits = 8192 * traced["config"]["text_config"]["vocab_size"]
    assert groups["_patched_recursively_apply"] == 4 * logits  # accelerate's float32 copy of the outputs
    assert 2 * logits < groups["_fused_forward"] < 2.1 * logits  # the language model's 16-bit logits
    assert k.GIB * 9.5 < traced["memtrace"]["peak_added_bytes"] < 6.3 * logits
    held = groups["_patched_recursively_apply"] + groups["_fused_forward"]
    assert held / logits == pytest.approx(UNSLOTH_FULL_LOGITS_BYTES, rel=0.03)
    arch = Architecture.from_hf_config(traced["config"])
    run = RunConfig(method="qlora", seq_len=8192, stack="unsloth")
    said = lambda e: any("runs over the whole logits" in a for a in e.assumptions)  # noqa: E731
    with_images = estimate(arch, run, takes_images=True)
    assert said(with_images) and not said(estimate(arch, run))
    assert with_images.breakdown.logits_and_loss > 0
