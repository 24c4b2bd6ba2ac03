"""What one training step holds at its peak, by where it was allocated.

With `CALIB_MEMTRACE=1` in a cell's `--env` (a cell of its own, left out of every fit), unsloth_sft.py has the
caching allocator record one steady step's allocations with their Python stacks
(`torch.cuda.memory._record_memory_history`) and keeps, in the cell's `memtrace`, what that step had allocated
beyond its start at the moment its allocation peaked, grouped by the first frame outside torch. `CALIB_MEMTRACE=first`
records the first step instead: what a fresh process's first step holds beyond the later ones (a MoE's router
trials) shows only there. Two lengths of one model tell which of the step's tensors grow with the tokens, the part of
the estimate a peak trace can check (rounds 30-31: Gemma 4 26B-A4B's allocated peak grew about half as fast as the
estimate counts).

`peak_breakdown` is pure: it replays the allocator's event list (`_snapshot()["device_traces"][device]`).

    python bench/vram_calibration/memtrace.py RECORDS.jsonl   # each traced cell's peak, by where, in GiB
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping

MEMTRACE_STEP = 2  # the third step: the first compiles and autotunes, the second can still differ
TRACED_STEPS = {"1": MEMTRACE_STEP, "first": 0}  # CALIB_MEMTRACE's values: the step each records
MAX_ENTRIES = 1_000_000  # allocator events kept; a step of a 30-layer model makes some tens of thousands
TOP = 25  # the groups a cell keeps


def traced_step(setting: str | None) -> int | None:
    """The step (0 the first) that CALIB_MEMTRACE=`setting` records; None when it is unset. Any other value is refused,
    so that a misspelt setting does not run a cell untraced."""
    if setting is None:
        return None
    if setting not in TRACED_STEPS:
        raise ValueError(f"CALIB_MEMTRACE={setting!r}: one of {', '.join(TRACED_STEPS)}")
    return TRACED_STEPS[setting]


def where(frames: Iterable[Mapping]) -> str:
    """The innermost frame outside torch's own files (a model's, Unsloth's, peft's or a compiled module's), as
    `file:line function`; '?' when the stack has no such frame."""
    for f in frames:
        name = str(f.get("filename", ""))
        if f"{os.sep}torch{os.sep}" not in name and not name.startswith("<"):
            return f"{os.path.basename(name)}:{f.get('line', '?')} {f.get('name', '?')}"
    return "?"


def peak_breakdown(events: list[Mapping], top: int = TOP) -> dict:
    """The allocated bytes a step added at its peak, beyond what was allocated when recording began, and which
    allocations made them (by `where`, largest first). An allocation freed during the step that was made before
    it counts against the total (`freed_from_before`) and in no group."""
    total, peak, peak_at = 0, 0, -1
    for i, e in enumerate(events):
        total += _delta(e)
        if total > peak:
            peak, peak_at = total, i
    live: dict[int, Mapping] = {}
    freed_from_before = 0
    for e in events[:peak_at + 1]:
        if e.get("action") == "alloc":
            live[e["addr"]] = e
        elif e.get("action") == "free_completed":
            freed_from_before += 0 if live.pop(e["addr"], None) else int(e["size"])
    groups: dict[str, list[int]] = {}
    for e in live.values():
        g = groups.setdefault(where(e.get("frames") or ()), [0, 0])
        g[0] += int(e["size"])
        g[1] += 1
    ranked = sorted(groups.items(), key=lambda kv: kv[1][0], reverse=True)
    return {"peak_added_bytes": peak, "freed_from_before_bytes": freed_from_before, "events": len(events),
            "groups": [[name, size, count] for name, (size, count) in ranked[:top]],
            "other_bytes": sum(size for _, (size, _) in ranked[top:])}


def _delta(e: Mapping) -> int:
    action = e.get("action")
    return int(e["size"]) if action == "alloc" else -int(e["size"]) if action == "free_completed" else 0


def start() -> None:
    import torch

    torch.cuda.memory._record_memory_history(max_entries=MAX_ENTRIES, stacks="python")


def stop() -> dict:
    import torch

    traces = torch.cuda.memory._snapshot()["device_traces"]
    torch.cuda.memory._record_memory_history(enabled=None)
    return peak_breakdown(traces[torch.cuda.current_device()])


def report(rec: Mapping, top: int = TOP) -> list[str]:
    """A traced cell's record as lines: what was allocated when the step began and at its peak, then the groups."""
    m, gib = rec["memtrace"], 1024**3
    lines = [f"{rec['cell']}: allocated {m['allocated_at_start_bytes'] / gib:.2f} GiB at the step's start, "
             f"{m['step_peak_allocated_bytes'] / gib:.2f} at its peak (+{m['peak_added_bytes'] / gib:.2f})"]
    lines += [f"  {size / gib:7.3f} GiB {count:5d}x  {name}" for name, size, count in m["groups"][:top]]
    lines.append(f"  {m['other_bytes'] / gib:7.3f} GiB in other groups")
    return lines


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/vram_calibration/memtrace.py RECORDS.jsonl")
    with open(sys.argv[1]) as fh:
        for rec in map(json.loads, fh):
            if rec.get("memtrace"):
                print("\n".join(report(rec)))
