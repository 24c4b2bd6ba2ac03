"""Fit the estimator's empirical constants to the measured cells and write them into
finetune_advisor/vram/constants.py (between its FITTED markers).

    python bench/vram_accuracy/fit.py            # fit on every cell, print
    python bench/vram_accuracy/fit.py --write    # ... and rewrite the constants

How: the CUDA context is the median of the measured `cuda_context_bytes`. The other constants
(activation scale per method, loss bytes per vocabulary entry, fixed allocations, fragmentation,
cross-phase reuse) minimise the mean absolute relative error of `total_gib` against the measured
total over the ok cells, by coordinate descent with a golden-section search per constant inside
physically sensible bounds (activation scales within 5 % of the byte counts, which were checked on
CPU). The NCCL buffers, CUDA context and idle driver share are medians of direct measurements, and
the unsloth stack's one constant comes from Unsloth's published figures. Pure Python, no numpy.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cells import ROOT, Cell, load, machine, median  # noqa: E402

from finetune_advisor.vram import constants as k  # noqa: E402
from finetune_advisor.vram.estimator import estimate  # noqa: E402
from finetune_advisor.vram.shapes import shapes  # noqa: E402
from finetune_advisor.vram.terms import trainer_embedding_states  # noqa: E402

CONSTANTS = os.path.join(ROOT, "finetune_advisor", "vram", "constants.py")
METHODS = ("qlora", "lora", "full")


@dataclass
class Theta:
    context: float
    nccl: float
    driver: float
    fixed: float
    fragmentation: float
    fragmentation_sharded: float
    logits: float
    logits_reserved: float
    cross_gc: float
    cross_nogc: float
    cross_recompute: float
    score_work: float
    scale: dict[str, float]

    def apply(self) -> None:
        """Make the estimator use these constants (module attributes it reads at call time)."""
        k.CUDA_CONTEXT_GIB = self.context  # type: ignore[misc]
        k.NCCL_GIB = self.nccl  # type: ignore[misc]
        k.DRIVER_RESERVED_GIB = self.driver  # type: ignore[misc]
        k.FIXED_ALLOCATED_GIB = self.fixed  # type: ignore[misc]
        k.FRAGMENTATION = self.fragmentation  # type: ignore[misc]
        k.FRAGMENTATION_SHARDED = self.fragmentation_sharded  # type: ignore[misc]
        k.LOGITS_BYTES = {**k.LOGITS_BYTES, "transformers": self.logits}  # type: ignore[misc]
        k.LOGITS_RESERVED_EXTRA = {**k.LOGITS_RESERVED_EXTRA, "transformers": self.logits_reserved}  # type: ignore[misc]
        k.CROSS_PHASE = {True: self.cross_gc, False: self.cross_nogc}  # type: ignore[misc]
        k.CROSS_RECOMPUTE = self.cross_recompute  # type: ignore[misc]
        k.SCORE_WORK = self.score_work  # type: ignore[misc]
        k.ACTIVATION_SCALE = {**k.ACTIVATION_SCALE, **{("transformers", m): v for m, v in self.scale.items()}}  # type: ignore[misc]


def current() -> Theta:
    return Theta(k.CUDA_CONTEXT_GIB, k.NCCL_GIB, k.DRIVER_RESERVED_GIB, k.FIXED_ALLOCATED_GIB, k.FRAGMENTATION, k.FRAGMENTATION_SHARDED,
                 k.LOGITS_BYTES["transformers"], k.LOGITS_RESERVED_EXTRA["transformers"], k.CROSS_PHASE[True],
                 k.CROSS_PHASE[False], k.CROSS_RECOMPUTE, k.SCORE_WORK,
                 {m: k.ACTIVATION_SCALE[("transformers", m)] for m in METHODS})


def predict(c: Cell) -> float:
    """The estimate for a grid cell. The grid ran its own training loop (train.py), not transformers' Trainer, so
    its 8-bit optimizer kept the embedding's states in 8 bits: the Trainer's 32-bit embedding states, which a
    user's run has and the estimate counts, are taken out here."""
    return estimate(c.arch, c.run).total_gib - trainer_embedding_states(shapes(c.arch), c.run) / k.GIB


def loss(cells: list[Cell]) -> float:
    errors = [(predict(c) - c.measured_gib) / c.measured_gib for c in cells]
    return sum(abs(e) for e in errors) / len(errors)


def _golden(f: Callable[[float], float], lo: float, hi: float, steps: int = 22) -> float:
    g = (5**0.5 - 1) / 2
    a, b = lo, hi
    x1, x2 = b - g * (b - a), a + g * (b - a)
    f1, f2 = f(x1), f(x2)
    for _ in range(steps):
        if f1 < f2:
            b, x2, f2 = x2, x1, f1
            x1 = b - g * (b - a)
            f1 = f(x1)
        else:
            a, x1, f1 = x1, x2, f2
            x2 = a + g * (b - a)
            f2 = f(x2)
    return (a + b) / 2


def fit(cells: list[Cell], sweeps: int = 3) -> Theta:
    """Constants that best fit `cells` (transformers-stack ok cells)."""
    ok = [c for c in cells if c.status == "ok" and c.measured_gib and c.run.stack == "transformers"]
    single = [c for c in ok if c.run.num_gpus == 1]
    multi = [c for c in ok if c.run.num_gpus > 1]
    theta = current()
    plain = [c for c in single if not c.run.optimizer.startswith("paged_")]
    theta.context = round(median([c.measured_gib - c.record["peak_reserved_bytes"] / 1024**3 for c in plain]), 4)
    nccl = [c.measured_gib - c.record["peak_reserved_bytes"] / 1024**3 - theta.context for c in multi]
    theta.nccl = round(median(nccl), 4) if nccl else theta.nccl
    idle = [c.record["nvml_baseline_bytes"] / 1024**3 for c in ok if c.record.get("nvml_baseline_bytes")]
    theta.driver = round(median(idle), 4) if idle else theta.driver
    full_gc = lambda c: c.run.method == "full" and c.run.gradient_checkpointing  # noqa: E731
    full_nogc = lambda c: c.run.method == "full" and not c.run.gradient_checkpointing  # noqa: E731
    # (attribute, scale key, lower bound, upper bound, which cells inform it)
    bounds: list[tuple[str, str | None, float, float, Callable[[Cell], bool]]] = [
        *(("scale", m, 0.95, 1.05, lambda c, m=m: c.run.method == m) for m in METHODS),
        ("logits", None, 8.0, 20.0, lambda c: True),
        ("logits_reserved", None, 0.0, 8.0, lambda c: True),
        ("fixed", None, 0.0, 1.5, lambda c: True),
        ("fragmentation", None, 0.0, 0.3, lambda c: True),
        ("cross_gc", None, 0.0, 1.5, full_gc),
        ("cross_nogc", None, 0.0, 1.5, full_nogc),
        ("cross_recompute", None, 0.0, 1.5, lambda c: c.run.gradient_checkpointing),
        ("score_work", None, 1.0, 6.0, lambda c: c.run.method == "qlora"),
    ]
    for _ in range(sweeps):
        for name, key, lo, hi, which in bounds:
            subset = [c for c in single if which(c)]
            if not subset:
                continue

            def f(x: float, name: str = name, key: str | None = key, subset: list[Cell] = subset) -> float:
                if key is None:
                    setattr(theta, name, x)
                else:
                    theta.scale[key] = x
                theta.apply()
                return loss(subset)

            f(_golden(f, lo, hi))
    if multi:
        def g(x: float) -> float:
            theta.fragmentation_sharded = x
            theta.apply()
            return loss(multi)

        g(_golden(g, 0.0, 0.8))
    theta.apply()
    return theta


def render(theta: Theta, cells: list[Cell]) -> str:
    """The FITTED block of finetune_advisor/vram/constants.py for `theta`."""
    ok = [c for c in cells if c.status == "ok"]
    # Quoted in answers: no repository paths (the installed package has no bench/ files).
    src = f"fitted on {len(ok)} measured cells ({machine(cells)})"
    scale = ",\n".join(f'    ("transformers", "{m}"): {theta.scale[m]:.4f}' for m in METHODS)
    unsloth = ",\n".join(f'    ("unsloth", "{m}"): {k.ACTIVATION_SCALE[("unsloth", m)]:.4f}' for m in METHODS)
    return f'''# --- FITTED: begin (written by bench/vram_accuracy/fit.py; do not edit by hand) ---
FIT_SOURCE: Final = "{src}"
# Every value below except the unsloth entries comes from that data. Measured directly: the CUDA
# context (as it grows during training) is the median, over the one-GPU cells, of NVML's peak
# device-used minus the allocator's peak reserved; NCCL is the same median over the multi-GPU
# cells minus that context.
CUDA_CONTEXT_GIB: Final = {theta.context:.4f}
NCCL_GIB: Final = {theta.nccl:.4f}
# What the driver holds on the idle GPU (NVML device-used before the process touched CUDA, median
# of nvml_baseline_bytes); no process can allocate it, so a run fits when total + this <= the card.
DRIVER_RESERVED_GIB: Final = {theta.driver:.4f}
# Fitted (coordinate descent on the mean absolute relative error of total_gib, one-GPU cells):
# allocations counting cannot see (cuBLAS workspaces, RNG state, small buffers), GiB;
FIXED_ALLOCATED_GIB: Final = {theta.fixed:.4f}
# allocator peak reserved / what the reserved model below gives, minus 1, one GPU; and under
# FSDP / ZeRO-3, fitted on the multi-GPU cells (gather and reduce buffers on their own streams);
FRAGMENTATION: Final = {theta.fragmentation:.4f}
FRAGMENTATION_SHARDED: Final = {theta.fragmentation_sharded:.4f}
# bytes per token per vocabulary entry the loss holds at its peak (first-principles count 12: the
# fp32 log-softmax output, its gradient and the input gradient) and the extra the allocator
# reserves for it (count 2: the bf16 logits block is not reused); unsloth assumed, not measured;
LOGITS_BYTES: Final = {{"transformers": {theta.logits:.4f}, "unsloth": {k.LOGITS_BYTES["unsloth"]:.4f}}}
LOGITS_RESERVED_EXTRA: Final = {{"transformers": {theta.logits_reserved:.4f}, "unsloth": {k.LOGITS_RESERVED_EXTRA["unsloth"]:.4f}}}
# full fine-tuning: share of min(memory freed before the first optimizer step, optimizer states +
# gradients + temporaries) reserved twice, by gradient checkpointing on / off (fitted on full cells);
CROSS_PHASE: Final = {{True: {theta.cross_gc:.4f}, False: {theta.cross_nogc:.4f}}}
# share of min(loss blocks, one recomputed layer's buffers) reserved twice under checkpointing;
CROSS_RECOMPUTE: Final = {theta.cross_recompute:.4f}
# score-sized buffers one layer's backward adds with the math or eager kernel (count: 3);
SCORE_WORK: Final = {theta.score_work:.4f}
# multiplier on the counted saved activations, per method (the unsloth stack is not measured:
# its scales stay at 1, the counts of vram_activations).
ACTIVATION_SCALE: Final = {{
{scale},
{unsloth},
}}
# --- FITTED: end ---'''


def write(theta: Theta, cells: list[Cell]) -> None:
    text = open(CONSTANTS).read()
    block = re.compile(r"# --- FITTED: begin.*?# --- FITTED: end ---", re.DOTALL)
    assert block.search(text), "FITTED markers missing in finetune_advisor/vram/constants.py"
    open(CONSTANTS, "w").write(block.sub(lambda _: render(theta, cells), text))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="rewrite the FITTED block of finetune_advisor/vram/constants.py")
    args = ap.parse_args()
    cells = load()
    if not cells:
        print("no calibration data in bench/vram_calibration/data/*.jsonl")
        return 1
    theta = fit(cells)
    print(render(theta, cells))
    if args.write:
        write(theta, cells)
        print(f"wrote {CONSTANTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
