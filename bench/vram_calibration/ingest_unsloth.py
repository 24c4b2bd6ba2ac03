"""File one GPU call's Unsloth cells into the committed data.

    python bench/vram_calibration/ingest_unsloth.py FILES_AT ROUND CALL [--not-held-out] [--cells REGEX]

FILES_AT is the folder a device call's $OUT came back to (its unsloth-*.jsonl records and log-*.txt lane logs, at
any depth). Each lane's log becomes data/logs/round<ROUND>-call<CALL>-lane<L>.txt; the records replace any record of
the same cell in data/unsloth_sft_1gpu.jsonl (a cell measured again) and, unless --not-held-out (cells run without
predictions committed first), are appended to holdout/measured-unsloth-round<ROUND>.jsonl for score_holdout_round.py.
--cells files only the records whose cell id the regular expression matches (re.search), so that one call that ran
held-out cells and diagnostic ones is filed in two runs, the second with --not-held-out; the logs are copied either way.
Prints one line a record: cell, status, NVML peak of the process (GiB), step time, GPU.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "unsloth_sft_1gpu.jsonl")
LOGS = os.path.join(HERE, "data", "logs")
HOLDOUT = os.path.join(HERE, "holdout")
ROUND = re.compile(r"^[0-9]+[a-z]*$")  # 51, 46b, 51x: it names files


def records(files_at: str) -> list[dict]:
    out = []
    for path in sorted(glob.glob(os.path.join(files_at, "**", "unsloth-*.jsonl"), recursive=True)):
        with open(path) as fh:
            out += [json.loads(line) for line in fh if line.strip()]
    return out


def copy_logs(files_at: str, round_: str, call: int, logs: str) -> list[str]:
    copied = []
    for path in sorted(glob.glob(os.path.join(files_at, "**", "log-*.txt"), recursive=True)):
        lane = os.path.basename(path)[len("log-"):-len(".txt")]
        target = os.path.join(logs, f"round{round_}-call{call}-lane{lane}.txt")
        shutil.copy(path, target)
        copied.append(target)
    return copied


def merge(new: list[dict], data: str) -> int:
    """Replace each new record's cell in `data` (keeping the order of the rest); the number replaced."""
    with open(data) as fh:
        old = [json.loads(line) for line in fh if line.strip()]
    cells = {r["cell"] for r in new}
    kept = [r for r in old if r["cell"] not in cells]
    with open(data, "w") as fh:
        for rec in kept + new:
            fh.write(json.dumps(rec) + "\n")
    return len(old) - len(kept)


def _pattern(text: str) -> re.Pattern:
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a regular expression: {exc}") from None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files_at")
    ap.add_argument("round", help="the plan's round, e.g. 52 or 52b (files are named by it)")
    ap.add_argument("call", type=int, help="which call of the round this was (1, 2, ...)")
    ap.add_argument("--not-held-out", action="store_true", help="cells run without predictions committed first")
    ap.add_argument("--cells", type=_pattern, help="file only the records whose cell id this regular expression matches")
    args = ap.parse_args(argv)
    if not ROUND.match(args.round):
        ap.error(f"round {args.round!r}: digits and a letter suffix only, e.g. 52 or 52b")
    new = [r for r in records(args.files_at) if args.cells is None or args.cells.search(r["cell"])]
    if not new:
        ap.error(f"no unsloth-*.jsonl records under {args.files_at}"
                 + (f" whose cell matches {args.cells.pattern!r}" if args.cells else ""))
    copy_logs(args.files_at, args.round, args.call, LOGS)
    replaced = merge(new, DATA)
    if not args.not_held_out:
        with open(os.path.join(HOLDOUT, f"measured-unsloth-round{args.round}.jsonl"), "a") as fh:
            for rec in new:
                fh.write(json.dumps(rec) + "\n")
    for rec in new:
        peak = (rec.get("nvml_process_peak_bytes") or 0) / 2**30
        print(f"{rec['cell']}  {rec['status']}  {peak:.2f} GiB  step {rec.get('step_s')}  {rec.get('gpu')}")
    print(f"{len(new)} records; {replaced} replaced")


if __name__ == "__main__":
    main()
