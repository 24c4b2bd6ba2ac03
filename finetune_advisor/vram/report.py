"""The answer to "will it fit?": an estimate for a resolved model and GPU, the verdict, and fixes (pure)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from finetune_advisor.vocabulary import ModelSource, check_range
from finetune_advisor.vram import fit
from finetune_advisor.vram.estimator import Breakdown, RunConfig, estimate
from finetune_advisor.vram.resolve import ResolvedArch
from finetune_advisor.vram.suggest import Suggestion, suggest


class VramEstimate(BaseModel):
    """Expected peak GPU memory of a fine-tuning run, per GPU."""

    model: str
    resolved_from: ModelSource
    repo_id: str | None
    params_b: float
    trainable_params_m: float
    total_gib: float = Field(description="Peak per GPU as nvidia-smi shows the process.")
    breakdown: Breakdown
    gpu_memory_gib: float | None
    gpu: str
    fits: bool | None
    headroom_gib: float | None
    coarse: bool
    assumptions: list[str]
    background: list[str] = Field(description="How it is built; only with detail: true.")
    suggestions: list[Suggestion]


def report(resolved: ResolvedArch, run: RunConfig, memory: float | None, gpu_text: str) -> VramEstimate:
    """The estimate for an already resolved model on a GPU of `memory` GiB (None: unknown)."""
    if memory is not None:
        check_range("gpu_memory_gib", memory)
    kwargs = resolved.estimate_kwargs()
    core = estimate(resolved.arch, run, **kwargs)
    fits = left = None
    if memory is not None:
        left = fit.headroom(core.total_gib, memory)
        fits = left >= 0
        if not fits and run.stack == "unsloth" and not resolved.arch.tie_word_embeddings and run.method != "full":
            # On a tight GPU Unsloth moves the input embedding to host RAM by itself (measured on a T4-sized card).
            offloaded = run.model_copy(update={"offload_embedding": True})
            lighter = estimate(resolved.arch, offloaded, **kwargs)
            if fit.headroom(lighter.total_gib, memory) >= 0:
                run, core = offloaded, lighter
                left, fits = fit.headroom(core.total_gib, memory), True
    assumptions = [*resolved.notes, *core.assumptions]
    if left is not None and fit.is_tight(core.total_gib, left):
        assumptions.insert(0, fit.tight_note(left))
    if not run.bf16:
        assumptions.insert(0, "Training in fp16: the GPU has no bf16.")
    return VramEstimate(
        model=resolved.label, resolved_from=resolved.source, repo_id=resolved.repo_id,
        params_b=core.params_b, trainable_params_m=core.trainable_params_m,
        total_gib=round(core.total_gib, 2), breakdown=core.breakdown, gpu_memory_gib=memory, gpu=gpu_text,
        fits=fits, headroom_gib=left, coarse=resolved.coarse, assumptions=assumptions, background=core.background,
        suggestions=suggest(resolved.arch, run, memory, kwargs) if fits is False else [],
    )
