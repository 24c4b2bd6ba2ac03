"""Whether an estimate fits a GPU, and how much room it leaves (pure).

The driver keeps part of every GPU's memory for itself (measured: `constants.DRIVER_RESERVED_GIB`),
so the room left is the GPU's memory minus that share minus the estimated peak. A fit with less
room than `TIGHT_FRACTION` of the estimate is flagged: the measured errors reach about that much.
"""

from __future__ import annotations

from finetune_advisor.vram.constants import DRIVER_RESERVED_GIB

# About the p90 of |error| measured against real GPUs (bench/vram_accuracy/README.md: 8.5 % leaving
# one architecture out, 8.0 % on unseen architectures): a fit with less headroom than this is a gamble.
TIGHT_FRACTION = 0.10


def headroom(total_gib: float, memory_gib: float) -> float:
    """GiB left on a GPU of `memory_gib` after the driver's share and the run's peak."""
    return round(memory_gib - DRIVER_RESERVED_GIB - total_gib, 2)


def is_tight(total_gib: float, left_gib: float) -> bool:
    """A fit whose room is within the estimator's measured error."""
    return 0 <= left_gib < TIGHT_FRACTION * total_gib


def tight_note(left_gib: float) -> str:
    return (f"Tight fit: {left_gib:.2f} GiB to spare is less than {TIGHT_FRACTION:.0%} of the estimate, and "
            "measured errors reach about that much: leave more room (a shorter seq_len or an 8-bit optimizer) "
            "before a long run.")
