"""FSDP (full shard) cells: one process per GPU, launched by torchrun.

    torchrun --nproc-per-node 2 fsdp_cells.py --group Llama-3.1-8B:full --out fsdp.jsonl

Each rank builds the random bf16 model on its GPU (peft-wrapped for lora), then torch's FSDP2
`fully_shard` shards every decoder layer and the root (what accelerate's FSDP2 plugin applies
with `fsdp_reshard_after_forward: true`, i.e. FULL_SHARD). Pure bf16 parameters, no mixed
precision policy; `batch_size` is per GPU. Every rank appends its own record (`rank` field);
merge.py folds them into one record per cell whose peaks are the largest rank's.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

import grid  # noqa: E402
from run_cells import STEPS, Runner  # noqa: E402


class FsdpRunner(Runner):
    def build_model(self, first: dict):
        from torch.distributed.fsdp import fully_shard

        model, base, facts = super().build_model(first)
        for layer in base.model.layers:
            fully_shard(layer)
        fully_shard(model)
        facts["fsdp"] = "torch FSDP2 fully_shard per decoder layer + root, reshard_after_forward=True"
        return model, base, facts

    def record(self, c, status, error, traceback=None, build_s=None, fresh=None, **m):
        rec = super().record(c, status, error, traceback, build_s, fresh, **m)
        rec.update(rank=dist.get_rank(), world_size=dist.get_world_size())
        return rec


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--group", required=True, help="ARCH:METHOD, e.g. Llama-3.1-8B:lora")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--deadline-s", type=float)
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--skip-done", nargs="*", default=[])
    args = ap.parse_args()
    args.deadline = None if args.deadline_s is None else time.time() + args.deadline_s
    arch, method = args.group.split(":")
    cells = [c for c in grid.fsdp_cells() if c["arch"] == arch and c["method"] == method]
    done = set()
    for path in args.skip_done:
        if os.path.exists(path):
            with open(path) as fh:
                done |= {json.loads(line)["cell"] for line in fh if line.strip()}
    cells = [c for c in cells if c["cell"] not in done]
    if not cells:
        return 0
    cells.sort(key=lambda c: (not c["gradient_checkpointing"], c["batch_size"] * c["seq_len"]))
    runner = Runner.__new__(FsdpRunner)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = args.device == "cuda"
    Runner.__init__(runner, args)  # NVML baseline, then CUDA context on this rank's GPU
    dist.init_process_group(
        "nccl" if cuda else "gloo", timeout=datetime.timedelta(seconds=120),
        device_id=torch.device("cuda", local_rank) if cuda else None,
    )
    torch.manual_seed(1234 + dist.get_rank())
    runner.run_group(cells)
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
