"""The committed estimator against the committed GPU measurements (bench/vram_calibration/data).

These fail when a change to the estimator or its constants moves it away from what a real GPU
measured, or when the data is refreshed without refitting (bench/vram_accuracy/fit.py --write).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from finetune_advisor.vram import constants as k
from finetune_advisor.vram.estimator import estimate

BENCH = Path(__file__).resolve().parents[2] / "bench" / "vram_accuracy"


def _cells():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("vram_bench_cells", BENCH / "cells.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.path.remove(str(BENCH))
    return module, [c for c in module.load() if c.run.stack == "transformers"]


CELLS_MODULE, CELLS = _cells()
OK = [c for c in CELLS if c.status == "ok" and c.measured_gib]
OOM = [c for c in CELLS if c.status == "oom"]


def test_total_is_within_the_target_on_the_measured_cells() -> None:
    errors = [abs(estimate(c.arch, c.run).total_gib - c.measured_gib) / c.measured_gib for c in OK]
    assert CELLS_MODULE.median(errors) <= 0.05
    assert CELLS_MODULE.quantile(errors, 0.9) <= 0.10


def test_no_out_of_memory_cell_is_predicted_to_fit() -> None:
    wrong = [c.cell for c in OOM if estimate(c.arch, c.run).total_gib + k.DRIVER_RESERVED_GIB <= c.gpu_total_gib]
    assert wrong == []


def test_constants_were_fitted_on_this_data() -> None:
    plain = [c for c in OK if c.run.num_gpus == 1 and not c.run.optimizer.startswith("paged_")]
    contexts = [c.measured_gib - c.record["peak_reserved_bytes"] / 1024**3 for c in plain]
    assert k.CUDA_CONTEXT_GIB == pytest.approx(CELLS_MODULE.median(contexts), abs=0.001)
    assert f"on {sum(c.status == 'ok' for c in CELLS)} measured cells" in k.FIT_SOURCE


@pytest.mark.parametrize("method", ["qlora", "lora", "full"])
def test_weights_match_what_the_harness_allocated(method: str) -> None:
    """The weight term alone, against the allocator's bytes right after the model was built."""
    for c in (c for c in OK if c.run.method == method and c.run.num_gpus == 1 and c.record.get("weights_bytes")):
        counted = estimate(c.arch, c.run).breakdown
        held = counted.weights + counted.adapters
        measured = c.record["weights_bytes"] / 1024**3
        assert held == pytest.approx(measured, rel=0.03, abs=0.05), c.cell
