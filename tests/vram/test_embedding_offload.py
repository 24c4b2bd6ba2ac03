"""Unsloth moves an untied input embedding to host RAM by itself, but only when the card is short of memory
by its own rule (2026.10.9: the memory left after loading below its reserve for a step). The estimate counts
the move only when Unsloth would make it: counting it otherwise calls a run that crashes a fit."""

from __future__ import annotations

from finetune_advisor.tools.estimate_vram import estimate_vram
from finetune_advisor.vram import constants as k
from finetune_advisor.vram.architecture import Architecture
from finetune_advisor.vram.estimator import RunConfig, estimate
from finetune_advisor.vram.unsloth_stack import unsloth_offloads, unsloth_reserve_gib

LLAMA_31_8B = {  # meta-llama/Llama-3.1-8B config.json fields (untied embedding)
    "model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096, "intermediate_size": 14336,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128256,
    "tie_word_embeddings": False, "max_position_embeddings": 131072,
}
LLAMA_32_1B = {**LLAMA_31_8B, "num_hidden_layers": 16, "hidden_size": 2048, "intermediate_size": 8192,
               "head_dim": 64, "tie_word_embeddings": True}


def _moved(answer) -> bool:
    return any("host RAM" in a for a in answer.assumptions)


def test_a_small_card_fits_once_unsloth_moves_the_embedding() -> None:
    """8 GiB, 2,048 tokens: the card has ~1.5 GiB left after loading, below Unsloth's ~2.3 GiB reserve."""
    big = estimate_vram(architecture=LLAMA_31_8B, seq_len=2048, gpu_memory_gib=80)
    small = estimate_vram(architecture=LLAMA_31_8B, seq_len=2048, gpu_memory_gib=8)
    assert not _moved(big) and _moved(small)
    assert small.fits and small.total_gib < big.total_gib - 0.9  # the 0.98 GiB table left the card


def test_no_move_when_unsloth_would_keep_the_embedding_on_the_card() -> None:
    """24 GiB at 70,000 tokens: what is left after loading (the driver's share and the CUDA context gone too) covers
    Unsloth's reserve, so it keeps the table on the GPU, and the estimate counts it there; a move that never happens
    would take its 0.98 GiB off a run that holds it. At 76,000 the reserve no longer fits and the table moves."""
    arch = Architecture.from_hf_config(LLAMA_31_8B)
    kept = estimate_vram(architecture=LLAMA_31_8B, seq_len=70000, lora_rank=32, gpu_memory_gib=24)
    left = 24 - k.DRIVER_RESERVED_GIB - k.CUDA_CONTEXT_GIB - kept.breakdown.weights - kept.breakdown.adapters
    assert left >= unsloth_reserve_gib(arch, 70000, kept.trainable_params_m * 1e6)
    assert not _moved(kept)
    moved = estimate_vram(architecture=LLAMA_31_8B, seq_len=76000, lora_rank=32, gpu_memory_gib=24)
    assert _moved(moved) and moved.breakdown.weights < kept.breakdown.weights - 0.9


def test_what_unsloth_reads_as_left_has_lost_the_cuda_context() -> None:
    """Unsloth reads the memory left from the card's free memory (usable_cuda_bytes), which the CUDA context has
    already taken: with less than the context to spare over its reserve by our count, the table moves."""
    arch = Architecture.from_hf_config(LLAMA_31_8B)
    run = RunConfig(method="qlora", seq_len=2048, stack="unsloth")
    core = estimate(arch, run)
    after_load = core.breakdown.weights + core.breakdown.adapters
    reserve = unsloth_reserve_gib(arch, 2048, core.trainable_params_m * 1e6)
    assert unsloth_offloads(arch, run, core, after_load + reserve + k.CUDA_CONTEXT_GIB * 0.5)
    assert not unsloth_offloads(arch, run, core, after_load + reserve + k.CUDA_CONTEXT_GIB + 0.01)


def test_a_tied_embedding_never_moves() -> None:
    answer = estimate_vram(architecture=LLAMA_32_1B, seq_len=32768, gpu_memory_gib=4)
    assert not _moved(answer)


def test_unsloth_reserve_follows_its_formula() -> None:
    """unsloth_zoo 2026.10.9 estimate_training_reserve_bytes: 48 B per token per hidden unit, fp32 logits of
    up to 2,048 rows, trainable parameters at 16 B, 1/16 fragmentation, 256 MiB."""
    arch = Architecture.from_hf_config(LLAMA_31_8B)
    want = ((1024 * 4096 * 48 + 1024 * 128256 * 4 + 1e6 * 16) * 17 / 16 + 256 * 2**20) / 2**30
    assert abs(unsloth_reserve_gib(arch, 1024, 1e6) - want) < 1e-9
    longer = unsloth_reserve_gib(arch, 8192, 1e6) - unsloth_reserve_gib(arch, 4096, 1e6)
    assert abs(longer - 4096 * 4096 * 48 * 17 / 16 / 2**30) < 1e-9  # logits stop growing at 2,048 rows


def test_the_move_is_counted_whenever_unsloth_makes_it_fit_or_not() -> None:
    """gpt-oss-20b at rank 8 on a T4: Unsloth moves its 1.08 GiB input table (what is left after loading is under
    its reserve) whether or not the rest then fits; the estimate is of that run, so the shortfall it reports is
    the real one."""
    t4 = estimate_vram(model="gpt-oss-20b", seq_len=1024, lora_rank=8, gpu="T4")
    big = estimate_vram(model="gpt-oss-20b", seq_len=1024, lora_rank=8, gpu_memory_gib=80, bf16=False)
    assert _moved(t4) and not _moved(big)
    assert big.total_gib - t4.total_gib > 1.0


def test_a_run_that_does_not_fit_warns_that_unsloths_cpu_placement_does_not_rescue_it() -> None:
    """Unsloth 2026.10.9 loads a model too big for the card with part of its weights on the CPU, and training then
    fails (Gemma 4 E2B on an 8 GiB card, round 12): a user who sees that load succeed must not read it as a fit."""
    def warned(answer) -> bool:
        return any("offloaded to the CPU" in a for a in answer.assumptions)

    short = estimate_vram(architecture=LLAMA_31_8B, method="lora", seq_len=2048, gpu_memory_gib=8)
    assert not short.fits and warned(short)
    plain = estimate_vram(architecture=LLAMA_31_8B, method="lora", seq_len=2048, gpu_memory_gib=8, stack="transformers")
    assert not plain.fits and not warned(plain)
    roomy = estimate_vram(architecture=LLAMA_31_8B, method="lora", seq_len=2048, gpu_memory_gib=80)
    assert roomy.fits and not warned(roomy)
