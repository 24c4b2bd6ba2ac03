"""Fold raw harness output into the committed data files.

    python merge.py RAW.jsonl... --out data/h100_transformers.jsonl

Per-rank FSDP lines become one record per cell: the peak fields are the largest rank's (the
per-GPU peak), `per_rank` keeps each rank's own figures. A cell measured again replaces the older
record; records already in --out are kept unless a newer one arrives.
"""

from __future__ import annotations

import argparse
import json
import os

PER_RANK = ("rank", "status", "error", "peak_allocated_bytes", "peak_reserved_bytes", "cuda_context_bytes",
            "nvml_peak_used_bytes", "nvml_after_steps_used_bytes", "cuda_context_end_bytes",
            "weights_bytes", "optimizer_state_bytes", "per_step", "losses", "time_s")
MAXED = ("peak_allocated_bytes", "peak_reserved_bytes", "cuda_context_bytes", "nvml_peak_used_bytes",
         "nvml_after_steps_used_bytes", "cuda_context_end_bytes", "weights_bytes", "optimizer_state_bytes",
         "reserved_after_steps_bytes", "time_s")


def fold_ranks(recs: list[dict]) -> dict:
    recs = sorted(recs, key=lambda r: r["rank"])
    out = {k: v for k, v in recs[0].items() if k not in ("rank",)}
    for k in MAXED:
        vals = [r.get(k) for r in recs if r.get(k) is not None]
        out[k] = max(vals) if vals else None
    bad = [r for r in recs if r["status"] != "ok"]
    if bad:
        out["status"] = "oom" if any(r["status"] == "oom" for r in bad) else bad[0]["status"]
        out["error"] = bad[0]["error"]
    out["per_rank"] = [{k: r.get(k) for k in PER_RANK} for r in recs]
    out["ranks_reported"] = len(recs)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("raw", nargs="+")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    cells: dict[str, dict] = {}
    if os.path.exists(args.out):
        with open(args.out) as fh:
            for line in fh:
                if line.strip():
                    r = json.loads(line)
                    cells[r["cell"]] = r
    ranked: dict[str, list[dict]] = {}
    for path in args.raw:
        with open(path) as fh:
            for line in fh:
                if not line.strip():
                    continue
                r = json.loads(line)
                if "rank" in r:
                    ranked.setdefault(r["cell"], []).append(r)
                else:
                    cells[r["cell"]] = r
    for cid, recs in ranked.items():
        cells[cid] = fold_ranks(recs)
    with open(args.out, "w") as fh:
        for cid in sorted(cells):
            fh.write(json.dumps(cells[cid], sort_keys=False) + "\n")
    print(f"{len(cells)} cells in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
