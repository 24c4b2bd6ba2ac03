"""Score estimate_vram's total_gib against the measured cells, leave-one-architecture-out, and
score the peers' formulas on the same cells.

    python bench/vram_accuracy/score.py            # print the table
    python bench/vram_accuracy/score.py --readme   # ... and write it into README.md

For each architecture, the constants are refitted (fit.py) on the cells of all the other
architectures and the held-out architecture's cells are predicted with them. Reported per
estimator: cells it answers, median and 90th percentile of |predicted - measured| / measured,
and how many out-of-memory cells it predicts to fit (predicted + the driver's share <= the card).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cells import Cell, load, machine, median, quantile  # noqa: E402
from fit import current, fit, predict  # noqa: E402
from peers import PEERS  # noqa: E402

from finetune_advisor.vram.constants import DRIVER_RESERVED_GIB  # noqa: E402

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md")


def leave_one_architecture_out(cells: list[Cell]) -> dict[str, float]:
    """Prediction per cell id, each from constants fitted without its architecture."""
    saved = current()
    out: dict[str, float] = {}
    try:
        for arch in sorted({c.arch_name for c in cells}):
            fit([c for c in cells if c.arch_name != arch])
            out.update({c.cell: predict(c) for c in cells if c.arch_name == arch})
    finally:
        saved.apply()
    return out


def summarise(cells: list[Cell], predicted: Callable[[Cell], float | None]) -> dict[str, float | int | str]:
    errors, oom_fit, answered_oom = [], 0, 0
    for c in cells:
        p = predicted(c)
        if p is None:
            continue
        if c.status == "oom":
            answered_oom += 1
            oom_fit += p + DRIVER_RESERVED_GIB <= c.gpu_total_gib
        elif c.measured_gib:
            errors.append(abs(p - c.measured_gib) / c.measured_gib)
    if not errors:
        return {"cells": 0, "median": "n/a", "p90": "n/a", "oom_fit": f"{oom_fit}/{answered_oom}"}
    return {"cells": len(errors), "median": f"{100 * median(errors):.1f}%", "p90": f"{100 * quantile(errors, 0.9):.1f}%",
            "oom_fit": f"{oom_fit}/{answered_oom}"}


def table(rows: list[tuple[str, dict]]) -> str:
    head = "| estimator | cells scored | median abs. error | p90 abs. error | OOM cells predicted to fit |\n|---|---|---|---|---|"
    body = [f"| {name} | {s['cells']} | {s['median']} | {s['p90']} | {s['oom_fit']} |" for name, s in rows]
    return "\n".join([head, *body])


def report(cells: list[Cell]) -> str:
    loao = leave_one_architecture_out(cells)
    ours = lambda c: loao.get(c.cell)  # noqa: E731
    rows = [("finetune-advisor, leave-one-architecture-out", summarise(cells, ours))]
    for method in ("qlora", "lora", "full"):
        subset = [c for c in cells if c.run.method == method]
        rows.append((f"  of which {method}", summarise(subset, ours)))
    multi = [c for c in cells if c.run.num_gpus > 1]
    if multi:
        rows.append(("  of which multi-GPU (FSDP)", summarise(multi, ours)))
    rows.append(("finetune-advisor, committed constants (in-sample)", summarise(cells, predict)))
    rows += [(name, summarise(cells, fn)) for name, fn in PEERS.items()]
    ok = sum(c.status == "ok" for c in cells)
    header = (f"{len(cells)} cells ({ok} ok, {len(cells) - ok} out of memory), "
              f"{len({c.arch_name for c in cells})} architectures; measured on {machine(cells)}.")
    return header + "\n\n" + table(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readme", action="store_true", help="write the table into README.md between its RESULTS markers")
    args = ap.parse_args()
    cells = [c for c in load() if c.run.stack == "transformers"]
    if not cells:
        print("no calibration data in bench/vram_calibration/data/*.jsonl")
        return 1
    text = report(cells)
    print(text)
    if args.readme:
        readme = open(README).read()
        block = re.compile(r"<!-- RESULTS: begin -->.*?<!-- RESULTS: end -->", re.DOTALL)
        open(README, "w").write(block.sub(lambda _: f"<!-- RESULTS: begin -->\n{text}\n<!-- RESULTS: end -->", readme))
    return 0


if __name__ == "__main__":
    sys.exit(main())
