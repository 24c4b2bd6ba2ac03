"""Score step-time predictions committed before a round was measured (no refit in between).

    python bench/throughput/score_holdout.py bench/throughput/holdout/predictions-round4.jsonl \
        bench/vram_calibration/holdout/measured-unsloth-round4.jsonl

The measured figure is the record's `step_s` (median of steps 2-4, the first step's compilation left
out), on cells that had the GPU to themselves during their steps (`fit.concurrency`); a prediction listed once per
repeat is scored against the repeats in the order they ran; for a transformers-stack record (run_cells.py), the median
of its timed steps after the first. Cells the fit leaves out (`fit.outside_fit`: not
representative, a non-default environment, a stand-in kernel, text rows of a model that skips layers without
an image) are listed apart, and so are cells measured on another GPU than the H200 the predictions are made for. Prints a Markdown table, the median and 90th percentile of |error| and the share within ±20 %.

    python bench/throughput/score_holdout.py --all

pools every round whose Unsloth cells have a measured file (`predictions-roundN.jsonl` against
`holdout/measured-unsloth-roundN.jsonl` of bench/vram_calibration): issue 15's ±20 % target is on held-out cells.
Each prediction is the model of its day, before the refit its round led to. The pool is split at 8,192 tokens a
step: below it the step is mostly the host's kernel launches, whose time moves between processes of one cell
(`noise.py`), above it the GPU's work.

    python bench/throughput/score_holdout.py --by-regime

pools the same rounds, cells measured on another GPU included, and splits them by what sets the step by today's model
(host-set: the host's fixed cost above the GPU's work, plan.timing's host note), counting the cells inside the range
committed before each ran and inside today's range (which the model may since have fitted: not a held-out score).
"""

from __future__ import annotations

import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fit import (  # noqa: E402
    NO_STEADY_STEP, ROOT, _transformers_seconds, concurrency, on_fitted_gpu, outside_fit, quantile)


def key(r: dict) -> tuple:
    env = r.get("env") if isinstance(r.get("env"), bool) else bool(r.get("env"))
    emulate = r.get("emulate", r.get("emulation"))
    return (r["arch"], r["method"], r["batch_size"], r["seq_len"], r.get("lora_rank") or 16, env, bool(emulate))


def scored(pred_path: str, measured_path: str) -> list[tuple[dict, dict, float, str]]:
    """(prediction, measured record, error, why outside the fit or "") for each predicted cell that was measured."""
    measured = {}
    for line in open(measured_path):
        r = json.loads(line)
        if r.get("status") == "ok" and not r.get("step_s") and any("seconds" in s for s in r.get("per_step") or []):
            r["step_s"] = _transformers_seconds(r)
        if r.get("status") == "ok" and r.get("step_s") and concurrency(r) == 1:
            measured.setdefault(key(r), []).append(r)
    out = []
    for line in open(pred_path):
        p = json.loads(line)
        repeats = measured.get(key(p))
        if not repeats:
            continue
        r = repeats.pop(0)  # repeats of one cell (tags rep1, rep2 ...) are scored in the order they ran
        other_gpu = "" if on_fitted_gpu(r) else f"measured on {r.get('gpu')}, predicted for the H200"
        out.append((p, r, (p["predicted_step_s"] - r["step_s"]) / r["step_s"], outside_fit(r) or other_gpu))
    return out


def main(pred_path: str, measured_path: str) -> None:
    errors = []
    print("| cell | predicted s | range | measured s | error |\n|---|---|---|---|---|")
    for p, r, err, why in scored(pred_path, measured_path):
        aside = f" ({why})" if why else ""
        lo, hi = p["range_s"]
        if why == NO_STEADY_STEP:  # its step_s is a step still compiling: nothing to score
            print(f"| {r['cell']}{aside} | {p['predicted_step_s']:.3f} | {lo:.2f}-{hi:.2f} | unmeasured | |")
            continue
        inside = "in" if lo <= r["step_s"] <= hi else "out"
        print(f"| {r['cell']}{aside} | {p['predicted_step_s']:.3f} | {lo:.2f}-{hi:.2f} ({inside}) | {r['step_s']:.3f} | {100 * err:+.0f}% |")
        if not aside:
            errors.append(err)
    a = sorted(abs(e) for e in errors)
    if a:
        print(f"\n{len(a)} cells: median |error| {100 * quantile(a, 0.5):.0f} %, p90 {100 * quantile(a, 0.9):.0f} %, "
              f"within ±20 %: {sum(x <= 0.2 for x in a)} of {len(a)}")


PREDICTED = os.path.join(ROOT, "bench", "throughput", "holdout")
MEASURED = os.path.join(ROOT, "bench", "vram_calibration", "holdout")
GPU_BOUND_TOKENS = 8192
SPLITS = (("all", lambda t: True),
          (f"under {GPU_BOUND_TOKENS:,} tokens a step", lambda t: t < GPU_BOUND_TOKENS),
          (f"{GPU_BOUND_TOKENS:,} tokens a step or more", lambda t: t >= GPU_BOUND_TOKENS))


def by_regime() -> None:
    """Held-out cells inside their committed range (for the H200) and today's (for the GPU each ran on), and today's
    median error, by what sets the step and where it was measured."""
    from predict import config

    from finetune_advisor.gpus.table import find, from_nvml
    from finetune_advisor.plan.throughput import micro_step
    from finetune_advisor.vram.architecture import Architecture
    from finetune_advisor.vram.estimator import RunConfig

    h200 = find("H200")
    counts: dict[tuple[str, str], list] = {}
    for p, r, _ in _pooled_rows(other_gpus=True):
        gpu = from_nvml(r.get("gpu") or "", (r.get("gpu_total_bytes") or 0) / 2**30) or h200
        run = RunConfig(method=p["method"], seq_len=p["seq_len"], batch_size=p["batch_size"], stack="unsloth",
                        lora_rank=p.get("lora_rank") or 16, bf16=not p["emulate"])
        now = micro_step(Architecture.from_hf_config(config(p)), run, p["seq_len"], gpu.tensor_tflops(True),
                         gpu.bandwidth_gbs or 1.0)
        regime = "host-set" if now.host_set else "GPU-set"
        row = counts.setdefault((regime, "the H200" if on_fitted_gpu(r) else "another GPU"), [0, 0, 0, []])
        row[0] += 1
        row[1] += p["range_s"][0] <= r["step_s"] <= p["range_s"][1]
        row[2] += now.low <= r["step_s"] <= now.high
        row[3].append(r["step_s"] / now.seconds - 1)
    print("| step set by | measured on | cells | inside the committed range | inside today's range | today's median error |")
    print("|---|---|---|---|---|---|")
    for (regime, where), (n, then, now_, errors) in sorted(counts.items()):
        print(f"| {regime} | {where} | {n} | {then} | {now_} | {100 * quantile(errors, 0.5):+.0f} % |")


def _pooled_rows(other_gpus: bool = False) -> list[tuple[dict, dict, float]]:
    """Every round's default-path cells: (prediction, measured record, error); with other_gpus, also those measured on
    another GPU than the one the predictions are for."""
    rows = []
    for pred in sorted(glob.glob(os.path.join(PREDICTED, "predictions-round*.jsonl"))):
        measured = os.path.join(MEASURED, "measured-unsloth-" + os.path.basename(pred)[len("predictions-"):])
        if os.path.exists(measured):
            rows += [(p, r, err) for p, r, err, why in scored(pred, measured)
                     if not why or (other_gpus and not outside_fit(r))]
    return rows


def pooled() -> None:
    """Every round's default-path cells (the fit's kind), split by tokens a step."""
    rows = _pooled_rows()
    print("| held-out cells | cells | median abs. error | p90 | within ±20 % | inside the range |")
    print("|---|---|---|---|---|---|")
    for label, pick in SPLITS:
        some = [(p, r, e) for p, r, e in rows if pick(p["batch_size"] * p["seq_len"])]
        a = sorted(abs(e) for _, _, e in some)
        inside = sum(p["range_s"][0] <= r["step_s"] <= p["range_s"][1] for p, r, _ in some)
        if a:
            print(f"| {label} | {len(a)} | {100 * quantile(a, 0.5):.0f} % | {100 * quantile(a, 0.9):.0f} % "
                  f"| {sum(x <= 0.2 for x in a)} | {inside} |")


if __name__ == "__main__":
    if sys.argv[1:] == ["--all"]:
        pooled()
    elif sys.argv[1:] == ["--by-regime"]:
        by_regime()
    elif len(sys.argv) == 3:
        main(sys.argv[1], sys.argv[2])
    else:
        sys.exit("usage: python bench/throughput/score_holdout.py (PREDICTIONS MEASURED | --all | --by-regime)")
