"""The harness's varied-row cells (bench/vram_calibration/unsloth_sft.py, CALIB_VARY): rows of changing length in a
fixed order, whose longest micro-batch is exactly the cell's shape, so that its peak can be held against the
fixed-length prediction of that shape."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "vram_calibration"))
import unsloth_sft  # noqa: E402

sys.path.pop(0)


def test_the_middle_step_is_the_cells_shape_and_every_other_row_is_shorter_or_equal() -> None:
    batch, steps, seq = 2, 60, 2048
    lengths = unsloth_sft.varied_lengths(batch, steps, seq)
    assert len(lengths) == batch * steps
    by_step = [lengths[i * batch:(i + 1) * batch] for i in range(steps)]
    assert by_step[steps // 2] == [seq, seq]
    assert all(seq // 8 <= n <= seq for n in lengths)
    assert max(sum(rows) for rows in by_step) == batch * seq  # no micro-batch holds more tokens than the shape
    assert len({sum(rows) for rows in by_step}) > steps // 2  # the shapes really change from step to step
    assert unsloth_sft.varied_lengths(batch, steps, seq) == lengths  # the same rows in every run of the plan


def test_only_a_cell_with_calib_vary_varies() -> None:
    assert unsloth_sft.vary_steps({}) is None
    assert unsloth_sft.vary_steps({"CALIB_VARY": "60"}) == 60
