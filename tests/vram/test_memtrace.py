"""The peak breakdown of a traced step (bench/vram_calibration/memtrace.py): which allocations a step held at its
allocation peak, by where they were made, replayed from the allocator's event list."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "vram_calibration"))
import memtrace  # noqa: E402

sys.path.pop(0)

TORCH = {"filename": os.path.join("site-packages", "torch", "nn", "functional.py"), "line": 10, "name": "linear"}
MLP = [TORCH, {"filename": "/x/modeling_gemma4.py", "line": 120, "name": "forward"}]
LOSS = [{"filename": "/x/unsloth_zoo/loss_utils.py", "line": 55, "name": "chunked_loss"}]


def _ev(action: str, addr: int, size: int, frames: list) -> dict:
    return {"action": action, "addr": addr, "size": size, "frames": frames}


def test_the_breakdown_is_what_was_live_at_the_peak_grouped_outside_torch() -> None:
    events = [
        _ev("alloc", 1, 100, MLP),
        _ev("alloc", 2, 300, LOSS),
        _ev("free_requested", 2, 300, LOSS),  # not yet free: the stream may still use it
        _ev("free_completed", 2, 300, LOSS),
        _ev("free_completed", 99, 40, MLP),  # made before the recording: lowers the total, in no group
        _ev("alloc", 3, 250, MLP),
        _ev("alloc", 4, 60, []),
        _ev("free_completed", 3, 250, MLP),
    ]
    out = memtrace.peak_breakdown(events)
    # totals after each event: 100, 400, 400, 100, 60, 310, 370, 120: the peak is 400, before the loss is freed
    assert out["peak_added_bytes"] == 400
    assert out["groups"] == [["loss_utils.py:55 chunked_loss", 300, 1], ["modeling_gemma4.py:120 forward", 100, 1]]
    assert out["freed_from_before_bytes"] == 0 and out["events"] == len(events)


def test_a_later_higher_peak_is_the_one_kept_with_earlier_frees_of_older_tensors_counted_apart() -> None:
    events = [_ev("alloc", 1, 100, LOSS), _ev("free_completed", 99, 40, MLP), _ev("alloc", 2, 500, MLP),
              _ev("alloc", 3, 7, [])]
    out = memtrace.peak_breakdown(events, top=1)
    assert out["peak_added_bytes"] == 567
    assert out["freed_from_before_bytes"] == 40
    assert out["groups"] == [["modeling_gemma4.py:120 forward", 500, 1]]
    assert out["other_bytes"] == 107  # the loss's 100 and the 7 bytes of no known frame, beyond the top group


def test_a_stack_of_torch_frames_only_is_unknown() -> None:
    assert memtrace.where([TORCH]) == "?"
    assert memtrace.where([{"filename": "<eval_with_key>.3", "line": 1, "name": "forward"}, MLP[1]]).startswith(
        "modeling_gemma4.py:120")


def test_a_traced_cell_reads_as_its_start_peak_and_groups_in_gib() -> None:
    gib = 1024**3
    trace = memtrace.peak_breakdown([_ev("alloc", 1, 2 * gib, LOSS), _ev("alloc", 2, gib // 2, MLP)], top=1)
    rec = {"cell": "m/qlora/r16/b1x8192", "memtrace": {**trace, "allocated_at_start_bytes": 10 * gib,
                                                        "step_peak_allocated_bytes": 12 * gib + gib // 2}}
    lines = memtrace.report(rec)
    assert lines[0] == "m/qlora/r16/b1x8192: allocated 10.00 GiB at the step's start, 12.50 at its peak (+2.50)"
    assert lines[1].split() == ["2.000", "GiB", "1x", "loss_utils.py:55", "chunked_loss"]
    assert lines[2].split()[:2] == ["0.500", "GiB"] and lines[2].endswith("in other groups")


def test_the_setting_names_the_step_it_traces_and_a_misspelt_one_is_refused() -> None:
    assert memtrace.traced_step(None) is None
    assert memtrace.traced_step("1") == memtrace.MEMTRACE_STEP
    assert memtrace.traced_step("first") == 0  # a fresh process's first step: the router trials show only there
    with pytest.raises(ValueError, match="CALIB_MEMTRACE='frist': one of 1, first"):
        memtrace.traced_step("frist")
