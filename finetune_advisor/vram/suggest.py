"""What to change when a run does not fit: each change re-estimated on its own (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from finetune_advisor.errors import AdvisorError
from finetune_advisor.vocabulary import GPU_32BIT_STATE_OPTIMIZERS
from finetune_advisor.vram import estimator as vram
from finetune_advisor.vram.constants import DRIVER_RESERVED_GIB
from finetune_advisor.vram.fit import judge
from finetune_advisor.vram.architecture import Architecture

_32BIT_OPTIMIZERS = (*GPU_32BIT_STATE_OPTIMIZERS, "paged_adamw_32bit")
_GPU_COUNTS = (2, 4, 8, 16, 32, 64)


class Suggestion(BaseModel):
    """One change to the run, with its own estimate."""

    change: str
    arguments: dict[str, Any]
    total_gib: float
    fits: bool


def suggest(arch: Architecture, run: vram.RunConfig, memory: float, kwargs: dict[str, Any],
            reserved: float = DRIVER_RESERVED_GIB, advised_against: Mapping[str, str] | None = None) -> list[Suggestion]:
    """Single changes (and their combination) that reduce the peak; the ones that fit come first, and among them
    the ones that do not switch to a method Unsloth advises against for this family (`advised_against`: method
    -> its reason; the change says so, the report gives the reason)."""
    against = advised_against or {}

    def attempt(text: str, **changes: Any) -> Suggestion | None:
        try:
            total = vram.estimate(arch, run.model_copy(update=changes), **kwargs).total_gib
        except AdvisorError:
            return None
        if changes.get("method") in against:
            text += " (Unsloth advises against it for this family: see the assumptions)"
        return Suggestion(change=text, arguments=changes, total_gib=round(total, 2), fits=judge(total, memory, reserved).fits)

    out: list[Suggestion | None] = []
    if run.method != "qlora":
        out.append(attempt("QLoRA (4-bit base weights) instead of " + run.method, method="qlora"))
    if run.method == "full":
        out.append(attempt("LoRA on the 16-bit model instead of full fine-tuning", method="lora"))
    if run.batch_size > 1:
        out.append(attempt(f"batch_size 1 with gradient_accumulation_steps {run.batch_size} (same effective batch)", batch_size=1))
    if not run.gradient_checkpointing:
        out.append(attempt("gradient checkpointing on", gradient_checkpointing=True))
    if run.optimizer in _32BIT_OPTIMIZERS:
        out.append(attempt("8-bit AdamW (bitsandbytes) instead of " + run.optimizer, optimizer="adamw_8bit"))
    if vram.trial_kept(arch, run):
        out.append(attempt(vram.AUX_LOSS_OFF, router_aux_loss=False))
    out.append(_longest_seq_len(arch, run, memory, kwargs, reserved))
    for method in dict.fromkeys((run.method, "qlora")):  # the fewest GPUs, as asked and with QLoRA
        for n in (g for g in _GPU_COUNTS if g > run.num_gpus):
            changes: dict[str, Any] = {"num_gpus": n, "sharding": "fsdp"}
            if method != run.method:
                changes["method"] = method
            found = attempt(f"{n} GPUs with FSDP (full shard)" + (" and QLoRA" if method != run.method else ""), **changes)
            if found and found.fits:
                out.append(found)
                break
    kept = [s for s in out if s is not None]
    combined = {"method": "qlora", "gradient_checkpointing": True, "batch_size": 1, "optimizer": "adamw_8bit"}
    combined = {key: v for key, v in combined.items() if getattr(run, key) != v}
    if len(combined) > 1 and not any(s.fits for s in kept):
        kept.append(attempt("all of: " + ", ".join(f"{key}={v}" for key, v in combined.items()), **combined))  # type: ignore[arg-type]
    kept = [s for s in kept if s is not None]
    return sorted(kept, key=lambda s: (not s.fits, s.arguments.get("method") in against))


def _longest_seq_len(arch: Architecture, run: vram.RunConfig, memory: float, kwargs: dict[str, Any],
                     reserved: float) -> Suggestion | None:
    """The longest seq_len below the requested one that fits (a multiple of 64 when above 64)."""

    def total(seq: int) -> float:
        return vram.estimate(arch, run.model_copy(update={"seq_len": seq}), **kwargs).total_gib

    if run.seq_len <= 1 or not judge(total(1), memory, reserved).fits:
        return None
    low, high = 1, run.seq_len - 1  # total() grows with seq_len: find the largest that fits
    while low < high:
        mid = (low + high + 1) // 2
        if judge(total(mid), memory, reserved).fits:
            low = mid
        else:
            high = mid - 1
    seq = low - low % 64 if low >= 64 else low
    return Suggestion(change=f"seq_len {seq} (the longest that fits)", arguments={"seq_len": seq},
                      total_gib=round(total(seq), 2), fits=True)
