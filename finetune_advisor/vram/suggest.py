"""What to change when a run does not fit: each change re-estimated on its own, and the GPU memory it needs (pure)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from finetune_advisor.errors import AdvisorError
from finetune_advisor.gpus import table
from finetune_advisor.gpus.target import reserved_for
from finetune_advisor.vocabulary import ATTENTION_ONLY, GPU_32BIT_STATE_OPTIMIZERS
from finetune_advisor.vram import estimator as vram
from finetune_advisor.vram.bisection import longest_length
from finetune_advisor.vram.constants import DRIVER_RESERVED_GIB
from finetune_advisor.vram.fit import judge, too_short
from finetune_advisor.vram.architecture import Architecture

_32BIT_OPTIMIZERS = (*GPU_32BIT_STATE_OPTIMIZERS, "paged_adamw_32bit")
_GPU_COUNTS = (2, 4, 8, 16, 32, 64)
# The most GPUs of one server (8 in the common HGX/DGX-class machines). More than that is offered only where the
# model's state (weights, adapters, gradients, optimizer states: what FSDP shards) cannot fit one GPU: otherwise the
# step's activations, which sharding leaves whole on every GPU, are what does not fit, and tens of GPUs that each save
# a sliver of the state are no answer (OLMo 3 7B QLoRA at 20,480 tokens on 12 GiB "fitted" on 32).
_ONE_SERVER_GPUS = 8
# LoRA on attention alone is offered where the other targets hold at least this share of what the run needs: on a MoE
# on Unsloth, whose MLP names reach every expert (gpt-oss-20b QLoRA: 17.3 GiB, 15.6 so; Gemma 4 26B-A4B 22.1 and
# 17.5), not on a dense model (2-3 %: Llama 3.1 8B QLoRA 7.9 and 7.6), where it would cost quality for little room.
_ATTENTION_ONLY_SAVES = 0.05
_ATTENTION_ONLY_TEXT = (f"LoRA on attention only ({', '.join(ATTENTION_ONLY)}): no adapters on the MLP or its experts, "
                        "though Unsloth advises all linear layers for quality")


class Suggestion(BaseModel):
    """One change to the run, with its own estimate."""

    change: str
    arguments: dict[str, Any]
    total_gib: float
    needs_gib: float  # what `fits` is judged on (VramEstimate.needs_gib)
    fits: bool


def suggest(arch: Architecture, run: vram.RunConfig, memory: float, kwargs: dict[str, Any],
            reserved: float = DRIVER_RESERVED_GIB, advised_against: Mapping[str, str] | None = None,
            plain_4bit: str | None = None) -> list[Suggestion]:
    """Single changes (and their combination) that reduce the peak; the ones that fit come first, and among them
    the ones that do not switch to a method Unsloth advises against for this family (`advised_against`: method
    -> its reason; the change says so, the report gives the reason). `plain_4bit`: the -bnb-4bit upload's id, where
    the run loads a dynamic one."""
    against = advised_against or {}

    def attempt(text: str, given: dict[str, Any] = kwargs, **changes: Any) -> Suggestion | None:
        try:  # the change can move Unsloth's own choice of where the input embedding lives
            core = vram.estimate_on_card(arch, run.model_copy(update=changes), memory - reserved, **given)[1]
        except AdvisorError:
            return None
        if changes.get("method") in against:
            text += " (Unsloth advises against it for this family: see the assumptions)"
        return Suggestion(change=text, arguments=changes, total_gib=round(core.total_gib, 2),
                          needs_gib=round(core.need_gib, 2), fits=judge(core.need_gib, memory, reserved).fits)

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
    if plain_4bit and run.storage == "unsloth-bnb-4bit":
        why = ("naming it keeps Unsloth's loader from taking the dynamic one, whose 16-bit layers are there for accuracy"
               if run.stack == "unsloth" else "without the dynamic one's 16-bit layers, which are there for accuracy")
        plain = attempt(f"model {plain_4bit}, the plain 4-bit upload: {why}",
                        {**kwargs, "kept_16bit": None}, storage="bnb-4bit")
        out.append(plain and plain.model_copy(update={"arguments": {"model": plain_4bit}}))
    out.append(_longest_seq_len(arch, run, memory, kwargs, reserved))
    out += _attention_only(arch, run, memory, kwargs, reserved, attempt)
    for method in dict.fromkeys((run.method, "qlora")):  # the fewest GPUs, as asked and with QLoRA
        for n in _gpu_counts(arch, run.model_copy(update={"method": method}), memory - reserved, kwargs):
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
        together = attempt("all of: " + ", ".join(f"{key}={v}" for key, v in combined.items()), **combined)  # type: ignore[arg-type]
        kept.append(together)
        if together is not None and not together.fits:  # and, where even that does not fit, a shorter step with it
            shorter = _longest_seq_len(arch, run.model_copy(update=combined), memory, kwargs, reserved)
            if shorter is not None:
                kept.append(shorter.model_copy(update={"change": together.change + ", " + shorter.change,
                                                       "arguments": {**combined, **shorter.arguments}}))
    kept.append(_larger_gpu(arch, run, kwargs, reserved))
    kept = [s for s in kept if s is not None]
    return sorted(kept, key=lambda s: (not s.fits, s.arguments.get("method") in against))


def _attention_only(arch: Architecture, run: vram.RunConfig, memory: float, kwargs: dict[str, Any], reserved: float,
                    attempt: Callable[..., Suggestion | None]) -> list[Suggestion | None]:
    """LoRA on the attention projections alone, where that saves a share worth naming (_ATTENTION_ONLY_SAVES); where it
    does not fit at the asked length, also with the longest seq_len that then fits (what Unsloth's gpt-oss T4
    notebook trained: attention only, 1,024 tokens)."""
    if run.method == "full" or set(run.target_modules) <= set(ATTENTION_ONLY):
        return []
    found = attempt(_ATTENTION_ONLY_TEXT, target_modules=ATTENTION_ONLY)
    now = vram.estimate_on_card(arch, run, memory - reserved, **kwargs)[1].need_gib
    if found is None or found.needs_gib > now * (1 - _ATTENTION_ONLY_SAVES):
        return []
    if found.fits:
        return [found]
    narrow = run.model_copy(update={"target_modules": ATTENTION_ONLY})
    shorter = _longest_seq_len(arch, narrow, memory, kwargs, reserved)
    return [found, shorter and shorter.model_copy(update={
        "change": f"{_ATTENTION_ONLY_TEXT}, and {shorter.change}",
        "arguments": {"target_modules": ATTENTION_ONLY, **shorter.arguments}})]


def _gpu_counts(arch: Architecture, run: vram.RunConfig, usable: float, kwargs: dict[str, Any]) -> list[int]:
    """The GPU counts worth trying for `run` sharded with FSDP: more than it has, and more than one server's only
    where its state on one GPU exceeds the `usable` GiB."""
    try:
        b = vram.estimate(arch, run.model_copy(update={"num_gpus": 1}), **kwargs).breakdown
    except AdvisorError:  # a method this model cannot take: no count to try
        return []
    state = b.weights + b.adapters + b.gradients + b.optimizer
    return [n for n in _GPU_COUNTS if n > run.num_gpus and (n <= _ONE_SERVER_GPUS or state > usable)]


def _larger_gpu(arch: Architecture, run: vram.RunConfig, kwargs: dict[str, Any], reserved: float) -> Suggestion | None:
    """The run unchanged on a GPU with more memory: the least that fits (the estimate plus the driver's share), and
    the smallest GPU of the packaged table where it fits with the room the estimate may miss by; None when no GPU
    there has that room. Counted with the input embedding on the GPU, where Unsloth keeps it when there is room
    (it moves it to host RAM only on a tight GPU): on a GPU of that size it fits either way."""
    core = vram.estimate(arch, run.model_copy(update={"offload_embedding": False}), **kwargs)
    needed = round(core.need_gib, 2)  # a GPU whose memory runs short gets back the allocator's cache (need_gib)
    roomy = [g for g in table.load_table().gpus if judge(needed, g.memory_gib, reserved_for(g), core.margin).comfortable]
    smallest = min(roomy, key=lambda g: g.memory_mib, default=None)
    if smallest is None:
        return None
    memory = round(needed + reserved, 2)
    embedding = ", the input embedding on the GPU" if run.offload_embedding else ""
    return Suggestion(change=f"{'GPUs' if run.num_gpus > 1 else 'a GPU'} of {memory:g} GiB or more as the driver reports "
                      f"it ({needed:g} GiB estimated{embedding}, plus the driver's {reserved:.2f} GiB); the smallest in "
                      f"the packaged GPU table with room to spare: the {smallest.name}, {smallest.memory_gib:g} GiB",
                      arguments={"gpu_memory_gib": memory}, total_gib=round(core.total_gib, 2), needs_gib=needed,
                      fits=judge(needed, memory, reserved).fits)


def _longest_seq_len(arch: Architecture, run: vram.RunConfig, memory: float, kwargs: dict[str, Any],
                     reserved: float) -> Suggestion | None:
    """The longest seq_len below the requested one that fits (a multiple of 64 when above 64); None when even that is
    too short to train on (fit.too_short)."""

    @functools.cache  # the search asks both where the embedding goes and whether it fits, at the same lengths
    def at(seq: int) -> tuple[vram.RunConfig, vram.CoreEstimate]:
        return vram.estimate_on_card(arch, run.model_copy(update={"seq_len": seq}), memory - reserved, **kwargs)

    def good(seq: int) -> bool:
        return judge(at(seq)[1].need_gib, memory, reserved).fits

    seq = longest_length(run.seq_len - 1, good, lambda n: at(n)[0].offload_embedding)
    if seq is None or too_short(seq, run.seq_len):
        return None
    core = at(seq)[1]
    return Suggestion(change=f"seq_len {seq} (the longest that fits)", arguments={"seq_len": seq},
                      total_gib=round(core.total_gib, 2), needs_gib=round(core.need_gib, 2), fits=True)
