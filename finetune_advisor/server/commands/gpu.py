"""`finetune-advisor gpu`: the GPUs detect_gpus reports."""

from __future__ import annotations

import argparse

from finetune_advisor.server.output import emit, emit_json, say, table
from finetune_advisor.tools.detect_gpus import detect_gpus


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gpu", help="list the local NVIDIA GPUs (NVML)", description="List the NVIDIA GPUs CUDA would see.")
    p.add_argument("--json", action="store_true", help="print the detect_gpus result as JSON")
    p.set_defaults(handler=run, parser=p)


def run(args: argparse.Namespace) -> int:
    inventory = detect_gpus()
    if args.json:
        emit_json(inventory)
        return 0
    if inventory.gpus:
        rows = [
            (g.index, g.name, g.memory_total_gib, g.memory_free_gib, g.compute_capability, g.bf16_supported)
            for g in inventory.gpus
        ]
        emit(table(("index", "name", "total GiB", "free GiB", "compute", "bf16"), rows))
        emit(f"driver {inventory.driver_version or '?'}, CUDA {inventory.cuda_driver_version or '?'} (source: nvml)")
    else:
        emit("No NVIDIA GPU visible (source: none).")
    if inventory.note:
        say(inventory.note)
    return 0
