"""Fit the estimator's empirical constants to the measured cells and write them into
tools/vram_constants.py (between its FITTED markers).

    /work/venv/bin/python bench/vram_accuracy/fit.py            # fit on every cell, print
    /work/venv/bin/python bench/vram_accuracy/fit.py --write    # ... and rewrite the constants

How: the CUDA context is the median of the measured `cuda_context_bytes`. The other constants
(activation scale per method, loss bytes per vocabulary entry, fixed allocations, fragmentation,
NCCL buffers) minimise the mean squared relative error of `total_gib` against
`peak_reserved_bytes + cuda_context_bytes` over the ok cells, by coordinate descent with a
golden-section search per constant inside physically sensible bounds. Pure Python, no numpy.
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

from finetune_advisor.tools import vram_constants as k  # noqa: E402
from finetune_advisor.tools.vram import estimate  # noqa: E402

CONSTANTS = os.path.join(ROOT, "tools", "vram_constants.py")
METHODS = ("qlora", "lora", "full")


@dataclass
class Theta:
    context: float
    fragmentation: float
    fixed: float
    logits: float
    nccl: float
    scale: dict[str, float]

    def apply(self) -> None:
        """Make the estimator use these constants (module attributes it reads at call time)."""
        k.CUDA_CONTEXT_GIB = self.context  # type: ignore[misc]
        k.FRAGMENTATION = self.fragmentation  # type: ignore[misc]
        k.FIXED_ALLOCATED_GIB = self.fixed  # type: ignore[misc]
        k.NCCL_GIB = self.nccl  # type: ignore[misc]
        k.LOGITS_BYTES = {**k.LOGITS_BYTES, "transformers": self.logits}  # type: ignore[misc]
        k.ACTIVATION_SCALE = {**k.ACTIVATION_SCALE, **{("transformers", m): v for m, v in self.scale.items()}}  # type: ignore[misc]


def current() -> Theta:
    return Theta(k.CUDA_CONTEXT_GIB, k.FRAGMENTATION, k.FIXED_ALLOCATED_GIB, k.LOGITS_BYTES["transformers"], k.NCCL_GIB,
                 {m: k.ACTIVATION_SCALE[("transformers", m)] for m in METHODS})


def predict(c: Cell) -> float:
    return estimate(c.arch, c.run).total_gib


def loss(cells: list[Cell]) -> float:
    errors = [(predict(c) - c.measured_gib) / c.measured_gib for c in cells]
    return sum(e * e for e in errors) / len(errors)


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
    contexts = [c.context_gib for c in ok if c.context_gib]
    theta.context = round(median(contexts), 4) if contexts else theta.context
    bounds: list[tuple[str, str | None, float, float]] = [
        *(("scale", m, 0.3, 3.0) for m in METHODS),
        ("logits", None, 4.0, 24.0),
        ("fixed", None, 0.0, 2.0),
        ("fragmentation", None, 0.0, 0.3),
    ]
    for _ in range(sweeps):
        for name, key, lo, hi in bounds:
            subset = [c for c in single if key is None or c.run.method == key]
            if not subset:
                continue

            def f(x: float, name: str = name, key: str | None = key, subset: list[Cell] = subset) -> float:
                if key is None:
                    setattr(theta, name, x)
                else:
                    theta.scale[key] = x
                theta.apply()
                return loss(subset)

            best = _golden(f, lo, hi)
            f(best)
    if multi:
        def g(x: float) -> float:
            theta.nccl = x
            theta.apply()
            return loss(multi)

        theta.nccl = _golden(g, 0.0, 3.0)
    theta.apply()
    return theta


def render(theta: Theta, cells: list[Cell]) -> str:
    """The FITTED block of tools/vram_constants.py for `theta`."""
    ok = [c for c in cells if c.status == "ok"]
    src = (f"fitted by bench/vram_accuracy/fit.py on {len(ok)} measured cells "
           f"(bench/vram_calibration/data/*.jsonl; {machine(cells)})")
    scale = ",\n".join(f'    ("transformers", "{m}"): {theta.scale[m]:.4f}' for m in METHODS)
    unsloth = ",\n".join(f'    ("unsloth", "{m}"): {k.ACTIVATION_SCALE[("unsloth", m)]:.4f}' for m in METHODS)
    return f'''# --- FITTED: begin (written by bench/vram_accuracy/fit.py; do not edit by hand) ---
FIT_SOURCE: Final = "{src}"
# CUDA context + cuBLAS handles outside the caching allocator: median of the cells' measured
# cuda_context_bytes (NVML device-used after CUDA init minus torch's reserved memory).
CUDA_CONTEXT_GIB: Final = {theta.context:.4f}
# Allocator peak reserved / peak allocated - 1: least squares on the relative error of total_gib.
FRAGMENTATION: Final = {theta.fragmentation:.4f}
# Allocations counting cannot see (cuBLAS workspaces, RNG state, small buffers), GiB: same fit.
FIXED_ALLOCATED_GIB: Final = {theta.fixed:.4f}
# Multiplier on the counted saved activations, per stack and method: same fit, per method. The
# unsloth stack is not measured: its scales stay at 1 (the counts of vram_activations).
ACTIVATION_SCALE: Final = {{
{scale},
{unsloth},
}}
# Bytes per token per vocabulary entry at the loss peak: transformers fitted (first-principles
# count 12: fp32 log-softmax output, its gradient and the input gradient); unsloth assumed.
LOGITS_BYTES: Final = {{"transformers": {theta.logits:.4f}, "unsloth": {k.LOGITS_BYTES["unsloth"]:.4f}}}
# NCCL communicator buffers per GPU with several GPUs, GiB: fitted on the multi-GPU cells.
NCCL_GIB: Final = {theta.nccl:.4f}
# --- FITTED: end ---'''


def write(theta: Theta, cells: list[Cell]) -> None:
    text = open(CONSTANTS).read()
    block = re.compile(r"# --- FITTED: begin.*?# --- FITTED: end ---", re.DOTALL)
    assert block.search(text), "FITTED markers missing in tools/vram_constants.py"
    open(CONSTANTS, "w").write(block.sub(lambda _: render(theta, cells), text))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="rewrite the FITTED block of tools/vram_constants.py")
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
