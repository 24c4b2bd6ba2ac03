"""How much the measured step times move by themselves: the floor under any step-time model's error.

    python bench/throughput/noise.py

From the Unsloth cells run one job at a time with default settings (bench/vram_calibration/data/unsloth_sft_1gpu.jsonl):
- within a process: how far apart steps 2-4 of one cell are (max / min - 1), the first step's compilation left out;
- between processes: cells of one model, method and token count run in separate processes, whose step time
  should be within a few percent of each other (the rank and the 4-bit form change little at these sizes).
Pure Python.
"""

from __future__ import annotations

import collections
import json
import os

from fit import concurrency, quantile

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vram_calibration", "data",
                    "unsloth_sft_1gpu.jsonl")


def solo_cells() -> list[dict]:
    rows = (json.loads(line) for line in open(DATA))
    return [r for r in rows if r.get("status") == "ok" and r.get("step_s") and concurrency(r) == 1
            and not r.get("env") and not r.get("emulation") and not r.get("kernels", {}).get("resolved")]


def main() -> None:
    cells = solo_cells()
    within = [max(r["step_times_s"][1:]) / min(r["step_times_s"][1:]) - 1 for r in cells if len(r["step_times_s"]) >= 4]
    print(f"within a process, steps 2-4 of {len(within)} cells: max/min - 1 median {quantile(within, 0.5):.0%}, "
          f"p90 {quantile(within, 0.9):.0%}")
    groups = collections.defaultdict(list)
    for r in cells:
        groups[(r["arch"], r["method"], r["batch_size"] * r["seq_len"])].append(r)
    print("between processes (same model, method and tokens a step):")
    for (arch, method, tokens), rs in sorted(groups.items()):
        if len(rs) > 1:
            steps = [r["step_s"] for r in rs]
            runs = ", ".join(f"{r['step_s']:.3f} s (r{r.get('lora_rank')}, {r['batch_size']}x{r['seq_len']})" for r in rs)
            print(f"  {arch} {method} {tokens} tokens: {runs}; max/min - 1 {max(steps) / min(steps) - 1:.0%}")


if __name__ == "__main__":
    main()
