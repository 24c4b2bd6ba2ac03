"""Print the figures the README quotes, straight from the committed data.

    python summary.py
"""

from __future__ import annotations

import json
import os
import statistics as st
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
G, M = 2**30, 2**20


def load(name: str) -> list[dict]:
    with open(os.path.join(HERE, "data", name)) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    rows = load("transformers_1gpu.jsonl")
    fsdp = load("transformers_fsdp_2gpu.jsonl")
    c = Counter((r["arch"], r["method"], r["status"]) for r in rows)
    archs = sorted({r["arch"] for r in rows}, key=lambda a: max(r["total_params"] or 0 for r in rows if r["arch"] == a))
    print("| architecture | qlora ok/oom | lora ok/oom | full ok/oom |\n|---|---|---|---|")
    for a in archs:
        print(f"| {a} | " + " | ".join(f"{c[(a, m, 'ok')]}/{c[(a, m, 'oom')]}" for m in ("qlora", "lora", "full")) + " |")
    print("gpus:", dict(Counter(r["gpu"] for r in rows)), "status:", dict(Counter(r["status"] for r in rows)))
    ok = [r for r in rows if r["status"] == "ok"]
    plain = [r for r in ok if "paged" not in r["optimizer"]]
    ctx = [r["cuda_context_bytes"] / M for r in rows]
    end = [r["cuda_context_end_bytes"] / M for r in plain]
    print(f"cuda_context MiB: {min(ctx):.0f}..{max(ctx):.0f}; after steps (no paged optimizer): "
          f"{min(end):.0f}..{max(end):.0f}, median {st.median(end):.0f}")
    d = [(r["nvml_peak_used_bytes"] - r["peak_reserved_bytes"] - r["cuda_context_end_bytes"]) / M for r in plain]
    print(f"nvml_peak - (peak_reserved + context_end) MiB: {min(d):.0f}..{max(d):.0f}")
    ratio = [r["peak_reserved_bytes"] / r["peak_allocated_bytes"] for r in ok]
    gap = [(r["peak_reserved_bytes"] - r["peak_allocated_bytes"]) / G for r in ok]
    print(f"reserved/allocated: median {st.median(ratio):.3f} p90 {pct(ratio, .9):.3f} max {max(ratio):.3f}; "
          f"reserved-allocated GiB: median {st.median(gap):.2f} p90 {pct(gap, .9):.2f} max {max(gap):.2f}")
    later = sum(1 for r in ok if len(r["per_step"]) == 3
                and r["per_step"][2]["peak_allocated_bytes"] > r["per_step"][1]["peak_allocated_bytes"] + 16 * M)
    print(f"cells whose 3rd step peaks >16 MiB above the 2nd: {later} of {len(ok)}")
    by = {r["cell"]: r for r in rows}
    print("fresh process vs in-process (peak reserved, MiB):")
    for r in rows:
        if r["cell"].endswith("/fresh"):
            b = by[r["cell"].removesuffix("/fresh")]
            print(f"  {b['cell']}: {r['status']}/{b['status']} fresh {r['peak_reserved_bytes'] / G:.3f} GiB, "
                  f"in-process {(b['peak_reserved_bytes'] - r['peak_reserved_bytes']) / M:+.0f} MiB, "
                  f"allocated {(b['peak_allocated_bytes'] - r['peak_allocated_bytes']) / M:+.0f} MiB")
    print("H100 repeats vs the H200 cell (peak reserved / allocated, MiB):")
    for r in load("transformers_1gpu_h100_repeats.jsonl"):
        b = by[r["cell"]]
        print(f"  {r['cell']}: H200 {b['status']} {b['peak_reserved_bytes'] / G:.2f} GiB, H100 {r['status']} "
              f"{(r['peak_reserved_bytes'] - b['peak_reserved_bytes']) / M:+.0f} / "
              f"{(r['peak_allocated_bytes'] - b['peak_allocated_bytes']) / M:+.0f}")
    print("FSDP (2 GPUs, per-GPU peak = largest rank):")
    for r in fsdp:
        print(f"  {r['cell']}: {r['status']} reserved {r['peak_reserved_bytes'] / G:.2f} allocated "
              f"{r['peak_allocated_bytes'] / G:.2f} nvml {r['nvml_peak_used_bytes'] / G:.2f} GiB, "
              f"context after steps {r['cuda_context_end_bytes'] / M:.0f} MiB, ranks {r['ranks_reported']}")


if __name__ == "__main__":
    main()
