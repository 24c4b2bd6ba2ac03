"""transformers + peft QLoRA under bf16 autocast (Trainer or TRL's SFTConfig with bf16=True) against the 16 cells
measured so on an H200 in round 18 (bench/vram_calibration/data/transformers_1gpu_autocast.jsonl), and what the
answers say about it. Without autocast the residual stream and attention run in fp32; under it, projections and
attention run in bf16 while autocast holds a bf16 copy of the fp32 lm_head."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from finetune_advisor.tools.estimate_vram import estimate_vram
from finetune_advisor.vram.estimator import RunConfig, estimate
from finetune_advisor.vram.run import AUTOCAST_NO_EFFECT
from finetune_advisor.vram.shapes import shapes

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "vram_accuracy"
DATA = ROOT / "bench" / "vram_calibration" / "data" / "transformers_1gpu_autocast.jsonl"


def _load():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("vram_bench_cells_autocast", BENCH / "cells.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.path.remove(str(BENCH))
    return module, module.load([str(DATA)])


CELLS_MODULE, CELLS = _load()


def test_the_cells_are_the_autocast_runs_and_the_fitted_data_leaves_them_out() -> None:
    assert len(CELLS) == 16 and all(c.run.autocast and c.status == "ok" for c in CELLS)
    assert not any(c.run.autocast for c in CELLS_MODULE.load())  # the transformers fit predates them


def test_autocast_estimates_are_within_target_and_never_far_under() -> None:
    errors = [(estimate(c.arch, c.run).total_gib - c.measured_gib) / c.measured_gib for c in CELLS]
    assert CELLS_MODULE.median([abs(e) for e in errors]) <= 0.03
    assert min(errors) > -0.05  # an under-estimate is a crashed run
    assert max(errors) < 0.10


def test_without_autocast_the_same_runs_are_misjudged_both_ways() -> None:
    """Why the switch exists: the fp32 path's figure for these runs is low at 2,048 tokens and far high at 8,192."""
    plain = {c.cell: (estimate(c.arch, c.run.model_copy(update={"autocast": False})).total_gib - c.measured_gib)
             / c.measured_gib for c in CELLS if c.run.method == "qlora"}
    assert min(e for cell, e in plain.items() if "b1x2048" in cell) < -0.05
    assert max(e for cell, e in plain.items() if "b1x8192" in cell) > 0.30


def test_autocast_holds_the_lm_heads_bf16_copy_and_keeps_attention_linear_in_length() -> None:
    c = next(c for c in CELLS if c.cell.startswith("Qwen3-4B/qlora") and "b1x2048" in c.cell)
    amp, plain = (estimate(c.arch, c.run.model_copy(update={"autocast": a})) for a in (True, False))
    s = shapes(c.arch)
    assert amp.breakdown.weights - plain.breakdown.weights == pytest.approx(s.vocab * s.hidden * 2 / 2**30, abs=0.01)
    one, two = (estimate(c.arch, c.run.model_copy(update={"batch_size": b, "seq_len": 8192 // b})).total_gib for b in (1, 2))
    assert one == pytest.approx(two, rel=0.01)  # flash attention: the same tokens hold the same (measured alike)
    lora = RunConfig(method="lora", stack="transformers", seq_len=4096)
    assert estimate(c.arch, lora).total_gib == estimate(c.arch, lora.model_copy(update={"autocast": True})).total_gib


def test_the_tools_take_autocast_only_for_the_transformers_stack() -> None:
    plain = estimate_vram(model="qwen3-4b", seq_len=8192, stack="transformers", gpu_memory_gib=40)
    amp = estimate_vram(model="qwen3-4b", seq_len=8192, stack="transformers", gpu_memory_gib=40, autocast=True)
    assert not plain.fits and amp.fits  # measured: 27.05 GiB under autocast at 8,192 tokens, 31.75 at 2 x 4,096 without
    unsloth = estimate_vram(model="qwen3-4b", seq_len=8192, autocast=True)
    assert AUTOCAST_NO_EFFECT in unsloth.assumptions
    assert unsloth.total_gib == estimate_vram(model="qwen3-4b", seq_len=8192).total_gib
