"""The Unsloth harness (bench/vram_calibration/unsloth_sft.py) keeps a long cell's record by ending its training
before the lane's deadline, once a first and a steady step have run: round 42's 98,304-token cell ran three of its
four steps (110-137 s each) and was killed in the fourth with nothing written."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "vram_calibration"))
import unsloth_sft  # noqa: E402

sys.path.pop(0)


def test_round_42s_cell_would_have_stopped_with_its_record() -> None:
    """Its log: steps ending 137, 244 and 352 s into training, a deadline 455 s after the process began; about
    60 s of load before the first step (assumed: the log does not time it)."""
    load, deadline, ends = 60.0, 455.0, [137.5, 244.0, 352.0]
    times = [b - a for a, b in zip([0.0, *ends], ends)]
    assert not unsloth_sft.stop_before_deadline(times[:2], load + ends[1], deadline)  # a third step fits
    assert unsloth_sft.stop_before_deadline(times, load + ends[2], deadline)  # a fourth would be killed


def test_a_cell_with_time_for_another_step_goes_on() -> None:
    assert not unsloth_sft.stop_before_deadline([40.0, 10.0], 50.0, 400.0)
    assert not unsloth_sft.stop_before_deadline([40.0, 10.0], 50.0, None)


def test_never_before_a_steady_step_has_run() -> None:
    """One step is the fresh process's first (compile, autotune, the optimizer's states): not yet a cell."""
    assert not unsloth_sft.stop_before_deadline([300.0], 300.0, 310.0)
    assert unsloth_sft.MIN_STEPS == 2
