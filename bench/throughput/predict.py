"""Commit step-time predictions for a calibration plan's cells before they are measured.

    python bench/throughput/predict.py bench/vram_calibration/plans/round4.txt > bench/throughput/holdout/predictions-round4.jsonl

Each cell of the plan (NAME METHOD BxS,... [--rank R] [--env ...] [--emulate t4]) gets the step time the
current model predicts on the H200 for the Unsloth stack, with the fit's range. Cells with a non-default
environment (UNSLOTH_BLOCK_COMPILE=0) are predicted but flagged: the fit leaves such cells out.
Run the plan with one lane (unsloth_batch.py --lanes 1), or its step times are not clean. A plan of transformers
cell ids (bench/vram_calibration/grid.py, one a line, as run_cells.py --cells @FILE takes them) is predicted for the
transformers stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from finetune_advisor.gpus.table import find  # noqa: E402
from finetune_advisor.plan import constants as k  # noqa: E402
from finetune_advisor.plan.throughput import micro_step  # noqa: E402
from finetune_advisor.vram.architecture import Architecture  # noqa: E402
from finetune_advisor.vram.estimator import RunConfig  # noqa: E402

CONFIGS = os.path.join(ROOT, "bench", "vram_calibration", "configs")


def transformers_cells(ids: list[str]) -> list[dict]:
    sys.path.insert(0, os.path.join(ROOT, "bench", "vram_calibration"))
    import grid

    known = {c["cell"]: c for c in grid.all_cells()}
    return [{"cell": i, "arch": known[i]["arch"], "method": known[i]["method"], "batch_size": known[i]["batch_size"],
             "seq_len": known[i]["seq_len"], "lora_rank": known[i]["lora_rank"] or 16, "stack": "transformers",
             "gradient_checkpointing": known[i]["gradient_checkpointing"], "autocast": known[i]["autocast"],
             "env": False, "emulate": False} for i in ids]


def cells(plan: str) -> list[dict]:
    out = []
    lines = [line.split("#")[0].split() for line in open(plan)]
    ids = [w[0] for w in lines if len(w) == 1 and "/" in w[0]]
    if ids:
        return transformers_cells(ids)
    for words in lines:
        if len(words) < 3:
            continue
        name, method, shapes, flags = words[0], words[1], words[2], words[3:]
        rank = int(flags[flags.index("--rank") + 1]) if "--rank" in flags else 16
        for shape in shapes.split(","):
            batch, seq = (int(x) for x in shape.split("x"))
            out.append({"arch": name, "method": method, "batch_size": batch, "seq_len": seq, "lora_rank": rank,
                        "env": "--env" in flags, "emulate": "--emulate" in flags})
    return out


def config(c: dict) -> dict:
    """The cell's config.json fields: the transformers harness's architectures (archs.py), else configs/NAME.json."""
    if c.get("stack") == "transformers":
        from archs import ARCHS  # on the path since transformers_cells

        return ARCHS[c["arch"]]
    with open(os.path.join(CONFIGS, f"{c['arch']}.json")) as fh:
        return json.load(fh)["config"]


def main(plan: str) -> None:
    h200 = find("H200")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    for c in cells(plan):
        arch = Architecture.from_hf_config(config(c))
        run = RunConfig(method=c["method"], seq_len=c["seq_len"], batch_size=c["batch_size"], lora_rank=c["lora_rank"],
                        stack=c.get("stack", "unsloth"), bf16=not c["emulate"], autocast=c.get("autocast", False),
                        gradient_checkpointing=c.get("gradient_checkpointing", True))
        step = micro_step(arch, run, c["seq_len"], h200.tensor_tflops(True), h200.bandwidth_gbs or 1.0)
        print(json.dumps({**c, "predicted_step_s": round(step.seconds, 4), "range_s": [round(step.low, 4), round(step.high, 4)],
                          "model_commit": commit, "fit": k.THROUGHPUT_SOURCE}))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/throughput/predict.py PLAN > bench/throughput/holdout/predictions-roundN.jsonl")
    main(sys.argv[1])
