"""Score predictions committed before a round of Unsloth cells was measured (no refit in between).

    python bench/vram_accuracy/score_holdout_round.py \
        bench/vram_calibration/holdout/predictions-unsloth-round4.jsonl bench/vram_calibration/holdout/measured-unsloth-round4.jsonl

MEASURED holds only the round's own records (the batch output), so that a cell measured in an earlier,
fitted round is not scored as held out. The measured figure is NVML's peak for the process, as fit_unsloth.py fits it. A cell measured more
than once (an earlier round and this one) is scored on the latest record. Records carrying
`not_representative` are listed apart: what they show is not what a user's install does. A cell whose run
failed (`status` oom or error) is listed with what stopped it: an out-of-memory is the outcome a "does not fit"
predicts, and not a figure to score.
Prints a Markdown table and the summary: median and 90th percentile of |error|, and every
under-estimate (the errors that crash a user's run). Predictions that record their margin (round 54 on) are also
checked against it: a peak above the estimate by more than the margin is one where a fit we called comfortable
would have run out of memory.

    python bench/vram_accuracy/score_holdout_round.py --all [--since N] [--by-family]

pools every round (from round N on, with --since: the estimator as the later rounds left it) instead (issue 11's accuracy target is on held-out cells): each cell of any
`predictions-unsloth-round*.jsonl` against its latest ok record in any `measured-unsloth-round*.jsonl`, a cell
predicted in several rounds scored once, on the last prediction committed for it. Each figure is the estimator of
its day, before the refit its round led to, so the pooled misses are the ones a user of that day would have met. A
round that also committed a reading of a count proposed but never landed (`predictions-unsloth-round73-proposed.jsonl`)
is pooled without it; `-landed` (the count landed after the first predictions and before the run) comes after the
round's plain file, so it is the one pooled.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cells import ROOT, process_peak_bytes, quantile  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "bench", "vram_calibration"))
from unsloth_sft import load_config  # noqa: E402

GIB = 2**30
HOLDOUT = os.path.join(ROOT, "bench", "vram_calibration", "holdout")


def latest(measured_path: str) -> tuple[dict[str, dict], dict[str, str]]:
    """The latest ok record of each cell, and what stopped each cell that has no ok record."""
    out: dict[str, dict] = {}
    failed: dict[str, str] = {}
    for line in open(measured_path):
        rec = json.loads(line)
        if rec.get("status") == "ok" and rec.get("nvml_process_peak_bytes"):
            out[rec["cell"]] = rec
        elif rec.get("status") in ("oom", "error"):
            failed[rec["cell"]] = f"{rec['status']}: {(rec.get('error') or '')[:160]}"
    return out, {cell: why for cell, why in failed.items() if cell not in out}


def main(pred_path: str, measured_path: str) -> None:
    measured, failed = latest(measured_path)
    errors, aside, missing, margins = [], [], [], []
    print("| cell | predicted GiB | measured GiB | error |\n|---|---|---|---|")
    for line in open(pred_path):
        p = json.loads(line)
        # a fresh-process prediction for a cell an earlier round measured later in a process is run again under
        # `--tag fresh` (unsloth_sft.cell_id), so that the batch does not skip it as done
        rec = measured.get(p["cell"]) or (measured.get(p["cell"] + "/fresh") if p.get("fresh") else None)
        if rec is None or p.get("predicted_gib") is None:
            missing.append(p["cell"])
            continue
        got = process_peak_bytes(rec) / GIB
        err = (p["predicted_gib"] - got) / got
        note = f" (not representative: {rec['not_representative']})" if rec.get("not_representative") else ""
        print(f"| {p['cell']}{note} | {p['predicted_gib']:.2f} | {got:.2f} | {100 * err:+.1f}% |")
        (aside if note else errors).append((p["cell"], err))
        if not note and p.get("margin") is not None:
            margins.append((p["cell"], err, p["margin"]))
    abs_err = [abs(e) for _, e in errors]
    if abs_err:
        print(f"\n{len(errors)} cells scored: median |error| {100 * quantile(abs_err, 0.5):.1f} %, "
              f"p90 {100 * quantile(abs_err, 0.9):.1f} %, max {100 * max(abs_err):.1f} %")
    else:
        print("\nno cell scored")
    for cell, e in errors:
        if e < 0:
            print(f"under-estimate: {cell} {100 * e:+.1f} %")
    for cell in missing:
        print(f"failed ({failed[cell]}): {cell}" if cell in failed else f"not measured: {cell}")
    _beyond_margin(margins)


def beyond(err: float, margin: float) -> bool:
    """Whether a measured peak lies above the estimate by more than its margin: where a card left that share of the
    estimate free and we called the fit comfortable, not tight, the run would still have run out of memory."""
    return 1 / (1 + err) > 1 + margin


def _beyond_margin(margins: list[tuple[str, float, float]]) -> None:
    """The cells whose predictions recorded their margin (round 54 on), and those whose peak lay beyond it."""
    if not margins:
        return
    over = [(cell, e, m) for cell, e, m in margins if beyond(e, m)]
    print(f"margin recorded for {len(margins)} cells: {len(over)} with the peak beyond it")
    for cell, e, m in over:
        print(f"beyond its margin ({m:.0%}): {cell}, peak {100 * (1 / (1 + e) - 1):.1f} % above the estimate")


def _round_files(kind: str, since: int = 0) -> list[tuple[str, str]]:
    """(round name, path) of the holdout files of one kind from round `since` on, in round order (round 9 before
    round 10)."""
    found = []
    for path in glob.glob(os.path.join(HOLDOUT, f"{kind}-unsloth-round*.jsonl")):
        name = os.path.basename(path)[len(kind) + len("-unsloth-"):-len(".jsonl")]
        number = int(re.match(r"round(\d+)", name).group(1))
        if number >= since:
            found.append((number, name, path))
    return [(name, path) for _, name, path in sorted(found)]


def pooled(since: int = 0, by_family: bool = False) -> None:
    """Every committed prediction of every round (from round `since` on), each cell once, against what was measured
    after it; by family (`by_family`: the model_type each cell's config has) instead of by round."""
    by_round, margins = _pooled_errors(since)
    if by_family:
        _family_table(by_round)
        return
    print("| round | cells | median abs. error | p90 | more than 5 % under |\n|---|---|---|---|---|")
    everything = []
    for name, errors in by_round.items():
        everything += errors
        print(_summary_row(name, errors))
    print(_summary_row("**all**", everything))
    for cell, e in everything:
        if e < -0.05:
            print(f"more than 5 % under: {cell} {100 * e:+.1f} %")
    _beyond_margin(margins)


def _pooled_errors(since: int) -> tuple[dict[str, list[tuple[str, float]]], list[tuple[str, float, float]]]:
    """(round name -> its scored cells' (cell, error), in round order; (cell, error, margin) where a margin was
    recorded)."""
    measured: dict[str, dict] = {}
    for _, path in _round_files("measured"):
        measured.update(latest(path)[0])
    rounds = [(name, path) for name, path in _round_files("predictions", since) if not name.endswith("-proposed")]
    last_prediction: dict[str, tuple[str, dict]] = {}
    for name, path in rounds:
        for line in open(path):
            p = json.loads(line)
            if p.get("predicted_gib") is not None:
                last_prediction[p["cell"]] = (name, p)
    by_round: dict[str, list[tuple[str, float]]] = {}
    margins: list[tuple[str, float, float]] = []
    for cell, (name, p) in last_prediction.items():
        rec = measured.get(cell) or (measured.get(cell + "/fresh") if p.get("fresh") else None)
        if rec is not None and not rec.get("not_representative"):
            got = process_peak_bytes(rec) / GIB
            by_round.setdefault(name, []).append((cell, (p["predicted_gib"] - got) / got))
            if p.get("margin") is not None:
                margins.append((cell, by_round[name][-1][1], p["margin"]))
    return {name: by_round[name] for name, _ in rounds if by_round.get(name)}, margins


def _family_table(by_round: dict[str, list[tuple[str, float]]]) -> None:
    """One row per family (the model_type of the config each cell was built from), the most cells first, with the
    models its cells ran."""
    by_family: dict[str, list[tuple[str, float]]] = {}
    models: dict[str, set[str]] = {}
    for errors in by_round.values():
        for cell, e in errors:
            model = cell.split("/")[0]
            family = _model_type(model)
            by_family.setdefault(family, []).append((cell, e))
            models.setdefault(family, set()).add(model)
    print("| family | models | cells | median abs. error | p90 | worst under-estimate | more than 5 % under |\n"
          "|---|---|---|---|---|---|---|")
    for family, errors in sorted(by_family.items(), key=lambda item: (-len(item[1]), item[0])):
        abs_err = [abs(e) for _, e in errors]
        worst = min(min(e for _, e in errors), 0.0)
        print(f"| {family} | {', '.join(sorted(models[family]))} | {len(errors)} | {100 * quantile(abs_err, 0.5):.1f} % "
              f"| {100 * quantile(abs_err, 0.9):.1f} % | {100 * worst:+.1f} % | {sum(e < -0.05 for _, e in errors)} |")


@functools.cache
def _model_type(model: str) -> str:
    """The model_type of the calibration config a cell's model was built from (its name where there is none)."""
    try:
        return load_config(model)["config"].get("model_type", model)
    except FileNotFoundError:
        return model


def _summary_row(name: str, errors: list[tuple[str, float]]) -> str:
    abs_err = [abs(e) for _, e in errors]
    under = sum(e < -0.05 for _, e in errors)
    return (f"| {name} | {len(errors)} | {100 * quantile(abs_err, 0.5):.1f} % | {100 * quantile(abs_err, 0.9):.1f} % "
            f"| {under} |")


def _cli(argv: list[str]) -> None:
    import argparse

    if argv[:1] != ["--all"]:
        if len(argv) != 2:
            sys.exit("usage: python bench/vram_accuracy/score_holdout_round.py "
                     "(PREDICTIONS MEASURED | --all [--since N] [--by-family])")
        main(*argv)
        return
    ap = argparse.ArgumentParser(prog="score_holdout_round.py --all")
    ap.add_argument("--since", type=int, default=0, help="pool the rounds from this one on")
    ap.add_argument("--by-family", action="store_true", help="one row per family (model_type), not per round")
    args = ap.parse_args(argv[1:])
    pooled(args.since, args.by_family)


if __name__ == "__main__":
    _cli(sys.argv[1:])
