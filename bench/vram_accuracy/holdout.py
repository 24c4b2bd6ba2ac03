"""Out-of-sample check: predict cells the constants were never fitted on, commit the predictions,
then measure and score them. Three sets: `holdout` (unseen architectures, transformers stack),
`unsloth` (the first three Unsloth cells, measured with the first harness, since replaced by
bench/vram_calibration/unsloth_sft.py; the Unsloth stack is now scored by fit_unsloth.py), and `autocast`
(transformers cells whose forward runs under bf16 autocast, as Trainer(bf16=True) trains; the estimator is
fitted on cells without it), and `autocast-holdout` (more such cells, held out from the autocast path's choices).

    python bench/vram_accuracy/holdout.py predict [unsloth]   # writes bench/vram_calibration/holdout/predictions*.jsonl
    (on the GPU machine) python bench/vram_calibration/run_cells.py --cells @bench/vram_calibration/holdout/cells.txt \
        --out bench/vram_calibration/holdout/measured.jsonl
    python bench/vram_accuracy/holdout.py score [unsloth]     # compares, prints a Markdown table

The measured file lives apart from data/, so fit.py and the calibration test never see it.
"""

from __future__ import annotations

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [HERE, os.path.join(ROOT, "bench", "vram_calibration")]

from cells import GIB, _cell, median, quantile, target_bytes  # noqa: E402
from grid import autocast_cells, autocast_holdout_cells, holdout_cells, unsloth_cells  # noqa: E402

from finetune_advisor.vram.estimator import estimate  # noqa: E402
from finetune_advisor.vram.fit import judge  # noqa: E402
from archs import ARCHS  # noqa: E402

OUT = os.path.join(ROOT, "bench", "vram_calibration", "holdout")
SETS = {"holdout": (holdout_cells, ""), "unsloth": (unsloth_cells, "-unsloth"), "autocast": (autocast_cells, "-autocast"),
        "autocast-holdout": (autocast_holdout_cells, "-autocast-holdout")}
H100_GIB = 79.65  # memory_total_gib NVML reports for the H100 80GB the check runs on


def predict(which: str) -> None:
    cells, suffix = SETS[which]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, f"cells{suffix}.txt"), "w") as ids, open(os.path.join(OUT, f"predictions{suffix}.jsonl"), "w") as out:
        for c in cells():
            rec = {**c, "config": ARCHS[c["arch"]], "status": "oom"}  # status only skips the measured fields
            cell = _cell(c["cell"], rec)
            est = estimate(cell.arch, cell.run)
            fits = judge(est.total_gib, H100_GIB).fits
            ids.write(c["cell"] + "\n")
            out.write(json.dumps({"cell": c["cell"], "predicted_gib": round(est.total_gib, 3), "fits_h100": fits}) + "\n")
            print(f"{c['cell']:55s} {est.total_gib:7.2f} GiB  fits H100: {fits}")


def score(which: str) -> None:
    suffix = SETS[which][1]
    predicted = {r["cell"]: r for r in map(json.loads, open(os.path.join(OUT, f"predictions{suffix}.jsonl")))}
    rows, errors, wrong_fit = [], [], []
    for rec in map(json.loads, open(os.path.join(OUT, f"measured{suffix}.jsonl"))):
        p = predicted[rec["cell"]]
        if rec["status"] == "ok":
            measured = target_bytes(rec) / GIB
            err = (p["predicted_gib"] - measured) / measured
            errors.append(abs(err))
            rows.append(f"| {rec['cell']} | {p['predicted_gib']:.2f} | {measured:.2f} | {err:+.1%} |")
        else:
            rows.append(f"| {rec['cell']} | {p['predicted_gib']:.2f} | {rec['status']} | predicted fits: {p['fits_h100']} |")
            if rec["status"] == "oom" and p["fits_h100"]:
                wrong_fit.append(rec["cell"])
    print("| cell | predicted GiB | measured GiB | error |\n|---|---|---|---|")
    print("\n".join(rows))
    if errors:
        print(f"\n{len(errors)} cells: median |error| {median(errors):.1%}, p90 {quantile(errors, 0.9):.1%}, "
              f"max {max(errors):.1%}; OOM cells predicted to fit: {len(wrong_fit)}")


if __name__ == "__main__":
    {"predict": predict, "score": score}[sys.argv[1]](sys.argv[2] if len(sys.argv) > 2 else "holdout")
