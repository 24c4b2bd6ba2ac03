"""The driver's stack that fla's gated-delta-rule kernels leave behind, by GPU (issue 11: Qwen3.5's extra)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_advisor.tools.estimate_vram import estimate_vram
from finetune_advisor.vram.local_memory import (
    DEFAULT_STACK_BYTES,
    deltanet_stack_gib,
    fla_tile,
)

DATA = Path(__file__).resolve().parents[2] / "bench" / "vram_calibration" / "data" / "unsloth_sft_1gpu.jsonl"
GIB = 1024**3


def _qwen35_readings() -> list[dict]:
    records = [json.loads(line) for line in DATA.read_text().splitlines()]
    return [r for r in records if r.get("status") == "ok" and r["arch"].startswith("Qwen3.5") and r.get("local_memory")]


def test_the_counted_stack_is_what_the_h200_held_beside_the_allocator() -> None:
    # Round 8: NVML less the allocator's reserve less the CUDA context, against the stack the driver reported.
    readings = _qwen35_readings()
    assert len(readings) >= 3
    counted, _ = deltanet_stack_gib("9.0", 132)
    for r in readings:
        memory = r["local_memory"]
        held = (memory["stack_bytes_per_thread"] - DEFAULT_STACK_BYTES) * memory["sm_count"] * memory["threads_per_sm"] / GIB
        beside = (r["nvml_process_peak_bytes"] - r["peak_reserved_bytes"] - r["cuda_context_bytes"]) / GIB
        assert held == pytest.approx(beside, abs=0.2), r["cell"]  # the mechanism: stack x threads the GPU holds
        assert counted >= held - 0.01  # the count covers every reading


@pytest.mark.parametrize(("capability", "tile"), [("9.0", 128), ("10.0", 128), ("8.0", 128), ("8.7", 128), ("8.6", 64),
                                                  ("8.9", 64), ("12.0", 64), ("7.5", 32), ("7.0", 32), ("6.1", None)])
def test_fla_picks_its_tile_by_the_gpus_shared_memory(capability: str, tile: int | None) -> None:
    assert fla_tile(capability) == tile


def test_a_smaller_gpu_holds_a_fraction_and_an_unknown_one_the_measured_figure() -> None:
    h200, _ = deltanet_stack_gib("9.0", 132)
    t4, t4_note = deltanet_stack_gib("7.5", 40)
    rtx4090, _ = deltanet_stack_gib("8.9", 128)
    unknown, unknown_note = deltanet_stack_gib(None, None)
    assert t4 < 0.3 and rtx4090 < 1.5 and h200 > 6
    assert unknown == h200 and "name the GPU" in unknown_note
    assert "40 SMs" in t4_note and "upper bound" in t4_note


def test_qwen35_on_a_t4_fits_as_unsloths_free_notebook_trains_it() -> None:
    # Unsloth's Qwen3.5-4B T4 notebook (LoRA, 2048 tokens) trains on a 15 GiB T4: counting the H200's 6.5 GiB of
    # stack there said "does not fit", a false answer that cost users the model.
    on_t4 = estimate_vram(model="qwen3.5-4b", method="lora", seq_len=2048, gpu="T4")
    by_memory = estimate_vram(model="qwen3.5-4b", method="lora", seq_len=2048, gpu_memory_gib=15, bf16=False)
    assert on_t4.fits
    assert by_memory.total_gib == on_t4.total_gib  # 15 GiB: the table's only GPU of that size is the T4
    assert any("40 SMs" in a for a in on_t4.assumptions)


def test_a_gpu_given_by_memory_is_counted_as_the_one_of_that_size_that_holds_most() -> None:
    # 24 GiB: RTX 3090 / 3090 Ti / 4090 / A10G / A5000 / L4 in the table; the 4090's 128 SMs hold the most. Where one
    # card of the size has no sourced SM count (32 GiB: the RTX 5000 Ada), the figure measured on the H200 applies.
    from finetune_advisor.gpus.target import by_memory

    assert by_memory(24).silicon["gpu_sms"] == 128 and "RTX 4090" in str(by_memory(24).silicon["gpu_name"])
    on_24 = estimate_vram(model="qwen3.5-9b", method="lora", seq_len=2048, gpu_memory_gib=24)
    on_4090 = estimate_vram(model="qwen3.5-9b", method="lora", seq_len=2048, gpu="RTX 4090")
    assert on_24.total_gib == on_4090.total_gib
    unknown = estimate_vram(model="qwen3.5-9b", method="lora", seq_len=2048, gpu_memory_gib=32)
    assert unknown.total_gib - on_4090.total_gib == pytest.approx(
        deltanet_stack_gib(None, None)[0] - deltanet_stack_gib("8.9", 128)[0], abs=0.02)


def test_qwen35_27b_on_the_h200_covers_what_was_measured_and_dense_models_carry_no_stack() -> None:
    # Round 7 / 8: Qwen3.5-27B LoRA 1x2048 peaked at 60.91 GiB under NVML, 4x2048 at 63.09.
    one = estimate_vram(model="qwen3.5-27b", method="lora", seq_len=2048, gpu="H200")
    four = estimate_vram(model="qwen3.5-27b", method="lora", seq_len=2048, batch_size=4, gpu="H200")
    assert one.total_gib >= 60.91 * 0.98 and four.total_gib >= 63.09 * 0.98
    assert any("132 SMs" in a for a in one.assumptions)
    assert not any("Gated-delta-rule" in a for a in estimate_vram(model="llama-3.1-8b", gpu="H200").assumptions)
