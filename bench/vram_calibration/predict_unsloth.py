"""Write the estimator's predictions for every cell of a plan, before the cells are measured.

    python bench/vram_calibration/predict_unsloth.py PLAN OUT.jsonl

Each model is given to estimate_vram as its config.json (configs/NAME.json), the way a user
outside the catalog would; the emulated T4 is a 15 GiB card without bf16.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from unsloth_batch import job_cells, read_plan  # noqa: E402
from unsloth_sft import load_config, parse_shapes  # noqa: E402


def main() -> None:
    from finetune_advisor.tools.estimate_vram import estimate_vram

    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    with open(sys.argv[2], "w") as fh:
        for name, args in read_plan(sys.argv[1]):
            args = [a for a in args if a != "--big"]
            flag = lambda f, d: args[args.index(f) + 1] if f in args else d  # noqa: E731
            t4 = flag("--emulate", None) == "t4"
            for cell, (batch, seq) in zip(job_cells(name, args), parse_shapes(args[1])):
                row = {"cell": cell, "estimator_commit": commit}
                try:
                    est = estimate_vram(architecture=load_config(name)["config"], method=args[0], seq_len=seq,
                                        batch_size=batch, lora_rank=int(flag("--rank", "16")), stack="unsloth",
                                        gpu_memory_gib=15.0 if t4 else 139.8, bf16=not t4)
                    row.update(predicted_gib=est.total_gib, breakdown=est.breakdown.model_dump(), fits=est.fits)
                except Exception as exc:  # noqa: BLE001 - a prediction that fails is recorded as such
                    row.update(predicted_gib=None, error=str(exc)[:300])
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
