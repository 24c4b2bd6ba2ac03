"""Measured calibration cells (bench/vram_calibration/data/*.jsonl) as estimator inputs.

A cell's target is what nvidia-smi lists for the training process at its peak (`target_bytes`;
see bench/vram_calibration/README.md). Multi-GPU cells keep the largest rank's figures.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from typing import Any

from finetune_advisor.vram.architecture import Architecture
from finetune_advisor.vram.estimator import RunConfig
from finetune_advisor.vram.shapes import ALL_LINEAR

GIB = 1024**3
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "bench", "vram_calibration", "data")


@dataclass(frozen=True)
class Cell:
    cell: str
    arch_name: str
    arch: Architecture
    run: RunConfig
    status: str  # "ok" or "oom"
    measured_gib: float | None  # target_bytes in GiB; None for OOM cells
    allocated_gib: float | None
    context_gib: float | None
    gpu_total_gib: float
    record: dict[str, Any]

    @property
    def params_b(self) -> float:
        from finetune_advisor.vram.shapes import shapes

        return shapes(self.arch).total_params / 1e9


def load(paths: list[str] | None = None) -> list[Cell]:
    """Every ok or oom transformers-stack cell in the data files (errors and tiny CPU runs are skipped; the cells
    trained under autocast only when their file is named)."""
    records: dict[str, dict[str, Any]] = {}
    for path in sorted(paths or glob.glob(os.path.join(DATA, "*.jsonl"))):
        with open(path) as fh:
            for line in fh:
                if not line.strip():
                    continue
                rec = json.loads(line)
                if rec.get("tiny") or rec.get("device", "cuda") != "cuda" or rec.get("status") not in ("ok", "oom"):
                    continue
                if rec.get("stack", "transformers") != "transformers":
                    continue  # the unsloth stack's cells (unsloth_sft_1gpu.jsonl) have their own scoring
                if rec.get("autocast") and not paths:
                    continue  # scored apart (holdout.py autocast): the fitted constants predate them
                key = f'{rec["cell"]} @ {rec.get("gpu")}'  # a cell repeated on another card is another cell
                old = records.get(key)
                if old is None or _worse(rec, old):
                    records[key] = rec
    return [_cell(key, r) for key, r in records.items()]


def target_bytes(rec: dict[str, Any]) -> float:
    """What nvidia-smi lists for the process at its peak, without evictable paged optimizer states.

    That is NVML's peak device-used minus what was used before the process (the allocator's peak
    reserved plus the CUDA context as it grew during training, plus NCCL's buffers with several
    GPUs); where NVML was not read, peak reserved plus the start-up context (about 90 MiB short).
    """
    if rec.get("nvml_peak_used_bytes"):
        return rec["nvml_peak_used_bytes"] - (rec.get("optimizer_paged_state_bytes") or 0)
    return rec["peak_reserved_bytes"] + (rec.get("cuda_context_bytes") or 0)


def _worse(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Prefer an OOM over an ok on another rank, then the larger peak."""
    if new["status"] != old["status"]:
        return new["status"] == "oom"
    return (new.get("peak_reserved_bytes") or 0) > (old.get("peak_reserved_bytes") or 0)


# What transformers 5.17 fills in for a config field the harness left out (it builds models with
# AutoConfig.for_model, so these defaults are what was measured).
_CONFIG_DEFAULTS = {"mistral": {"sliding_window": 4096}}


def _cell(key: str, rec: dict[str, Any]) -> Cell:
    targets = tuple(t for t in (rec.get("target_modules") or ()) if t in ALL_LINEAR) or ALL_LINEAR
    run = RunConfig(
        method=rec["method"], seq_len=rec["seq_len"], batch_size=rec["batch_size"],
        lora_rank=rec.get("lora_rank") or 16, target_modules=targets, lora_dropout=rec.get("lora_dropout") or 0.0,
        gradient_checkpointing=bool(rec["gradient_checkpointing"]), optimizer=rec["optimizer"],
        stack=rec.get("stack", "transformers"), num_gpus=rec.get("num_gpus") or 1, sharding=rec.get("sharding") or "ddp",
        autocast=bool(rec.get("autocast")),
    )
    ok = rec["status"] == "ok"
    context = rec.get("cuda_context_bytes")
    measured = target_bytes(rec) / GIB if ok else None
    return Cell(
        cell=key, arch_name=rec["arch"], run=run,
        arch=Architecture.from_hf_config({**_CONFIG_DEFAULTS.get(rec["config"]["model_type"], {}), **rec["config"]}),
        status=rec["status"], measured_gib=measured,
        allocated_gib=rec["peak_allocated_bytes"] / GIB if ok else None,
        context_gib=context / GIB if context is not None else None,
        gpu_total_gib=(rec.get("gpu_total_bytes") or 80 * GIB) / GIB, record=rec,
    )


def process_peak_bytes(rec: dict[str, Any]) -> int:
    """An Unsloth cell's target: what a user's fresh process peaks at, NVML's peak over its steps or over its load,
    whichever is larger (records without the load's peak: the steps'). The load stays below the steps in every cell but
    DeepSeek-V3's cut copy (round 59), whose load fuses a 21 GiB layer of experts."""
    return max(rec["nvml_process_peak_bytes"], rec.get("load_nvml_process_peak_bytes") or 0)


def machine(cells: list[Cell]) -> str:
    """One line naming the GPU, driver and library versions the cells were measured with."""
    keys = ("gpu", "driver", "cuda", "torch", "transformers", "peft", "bitsandbytes", "accelerate")
    seen = {k: sorted({str(c.record.get(k)) for c in cells if c.record.get(k)}) for k in keys}
    return ", ".join(f"{k} {'/'.join(v)}" for k, v in seen.items() if v)


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return (s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2) if n else float("nan")


def quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default)."""
    s = sorted(values)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)
