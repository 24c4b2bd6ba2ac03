"""Score step-time predictions committed before a round was measured (no refit in between).

    python bench/throughput/score_holdout.py bench/throughput/holdout/predictions-round4.jsonl \
        bench/vram_calibration/holdout/measured-unsloth-round4.jsonl

The measured figure is the record's `step_s` (median of steps 2-4, the first step's compilation left
out), on cells run one at a time (`concurrent_jobs` 1); a prediction listed once per repeat is scored against the
repeats in the order they ran; for a transformers-stack record (run_cells.py), the median
of its timed steps after the first. Cells the fit leaves out (`fit.outside_fit`: not
representative, a non-default environment, a stand-in kernel, text rows of a model that skips layers without
an image) are listed apart. Prints a Markdown table, the median and 90th percentile of |error| and the share within ±20 %.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fit import _transformers_seconds, outside_fit, quantile  # noqa: E402


def key(r: dict) -> tuple:
    env = r.get("env") if isinstance(r.get("env"), bool) else bool(r.get("env"))
    emulate = r.get("emulate", r.get("emulation"))
    return (r["arch"], r["method"], r["batch_size"], r["seq_len"], r.get("lora_rank") or 16, env, bool(emulate))


def main(pred_path: str, measured_path: str) -> None:
    measured = {}
    for line in open(measured_path):
        r = json.loads(line)
        if r.get("status") == "ok" and not r.get("step_s") and any("seconds" in s for s in r.get("per_step") or []):
            r["step_s"] = _transformers_seconds(r)
        if r.get("status") == "ok" and r.get("step_s") and (r.get("concurrent_jobs") or 1) == 1:
            measured.setdefault(key(r), []).append(r)
    errors = []
    print("| cell | predicted s | range | measured s | error |\n|---|---|---|---|---|")
    for line in open(pred_path):
        p = json.loads(line)
        repeats = measured.get(key(p))
        if not repeats:
            continue
        r = repeats.pop(0)  # repeats of one cell (tags rep1, rep2 ...) are scored in the order they ran
        err = (p["predicted_step_s"] - r["step_s"]) / r["step_s"]
        why = outside_fit(r)
        aside = f" ({why})" if why else ""
        lo, hi = p["range_s"]
        inside = "in" if lo <= r["step_s"] <= hi else "out"
        print(f"| {r['cell']}{aside} | {p['predicted_step_s']:.3f} | {lo:.2f}-{hi:.2f} ({inside}) | {r['step_s']:.3f} | {100 * err:+.0f}% |")
        if not aside:
            errors.append(err)
    a = sorted(abs(e) for e in errors)
    if a:
        print(f"\n{len(a)} cells: median |error| {100 * quantile(a, 0.5):.0f} %, p90 {100 * quantile(a, 0.9):.0f} %, "
              f"within ±20 %: {sum(x <= 0.2 for x in a)} of {len(a)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
