"""The answer to "will it fit?": an estimate for a resolved model and GPU, the verdict, and fixes (pure)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from finetune_advisor.vocabulary import ModelSource, check_range
from finetune_advisor.vram import fit
from finetune_advisor.vram.estimator import Breakdown, CoreEstimate, RunConfig, estimate, estimate_on_card
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
    needs_gib: float = Field(description="total_gib less cache the allocator frees when short; the verdict's figure.")
    breakdown: Breakdown
    gpu_memory_gib: float | None
    gpu: str
    fits: bool | None = Field(description="The peak fits the GPU; null: GPU unknown.")
    headroom_gib: float | None = Field(description="GiB left after the driver's share and the peak; negative: short.")
    tight: bool | None = Field(description="Fits, with less room than the estimator's error (10 % of it).")
    coarse: bool
    assumptions: list[str]
    background: list[str] = Field(description="How it is built; only with detail: true.")
    suggestions: list[Suggestion]


def fitted(resolved: ResolvedArch, run: RunConfig, memory: float | None,
           reserved: float = fit.DRIVER_RESERVED_GIB) -> tuple[RunConfig, CoreEstimate, fit.Fit | None]:
    """The estimate for a run on a GPU of `memory` GiB (None: unknown), and the verdict.

    When Unsloth would move an untied input embedding to host RAM by itself on this GPU (`estimate_on_card`),
    the run estimated is that lighter one. Unsloth also moves Gemma 3n / 4 per-layer tables then; that is not
    modelled. Where the weights themselves do not fit, Unsloth 2026.10.9 loads anyway with part of them on the
    CPU, and training then fails (measured: Gemma 4 E2B LoRA on an emulated 8 GiB card, round 12), so
    "does not fit" stands; the answer says so (`CPU_PLACEMENT_NOTE`).
    """
    kwargs = resolved.estimate_kwargs(run.storage)
    if memory is None:
        return run, _widened(estimate(resolved.arch, run, **kwargs), resolved), None
    run, core = estimate_on_card(resolved.arch, run, memory - reserved, **kwargs)
    core = _widened(core, resolved)
    return run, core, fit.judge(core.need_gib, memory, reserved, core.margin, core.over_margin)


CPU_PLACEMENT_NOTE = (
    "If Unsloth loads the model anyway, warning that some parameters were offloaded to the CPU, expect the run to "
    "fail: with Unsloth 2026.10.9, Gemma 4 E2B LoRA loaded that way on an 8 GiB card and its first backward pass "
    "stopped with an error (measured on an H200 capped to 8 GiB).")


COARSE_GROUND = ("No measured family stands behind a size-only figure: the stand-in layout is counted with the terms "
                 "fitted to our Llama runs, and a fit counts as comfortable only with "
                 f"{fit.FAR_TIGHT_FRACTION:.0%} of the estimate to spare.")


def _widened(core: CoreEstimate, resolved: ResolvedArch) -> CoreEstimate:
    """A size-only stand-in is as far from measured ground as an estimate gets: its margin is the widest, and what
    the stand-in layout's family (llama) was measured in is not said of the model (COARSE_GROUND instead)."""
    if not resolved.coarse:
        return core
    said = [a for a in core.assumptions if a not in core.ground] + ([COARSE_GROUND] if core.ground else [])
    margin = max(core.margin, fit.FAR_TIGHT_FRACTION)
    return core.model_copy(update={"margin": margin, "over_margin": max(core.over_margin, margin),
                                   "assumptions": said, "ground": [COARSE_GROUND] if core.ground else []})


def report(resolved: ResolvedArch, run: RunConfig, memory: float | None, gpu_text: str, detail: bool = False,
           reserved: float = fit.DRIVER_RESERVED_GIB) -> VramEstimate:
    """The estimate for an already resolved model on a GPU of `memory` GiB (None: unknown); with
    `detail`, also the background (how every estimate of this kind is built)."""
    if memory is not None:
        check_range("gpu_memory_gib", memory)
    run, core, verdict = fitted(resolved, run, memory, reserved)
    assumptions = [*resolved.notes, *core.assumptions]
    if verdict is not None and verdict.tight:
        assumptions.insert(0, fit.tight_note(verdict.headroom_gib, verdict.margin, run.optimizer, resolved.coarse))
    if verdict is not None and verdict.near:
        assumptions.insert(0, fit.near_note(-verdict.headroom_gib, verdict.over))
    if verdict is not None and not verdict.fits and run.stack == "unsloth":
        assumptions.append(CPU_PLACEMENT_NOTE)
    suggestions = (suggest(resolved.arch, run, memory, resolved.estimate_kwargs(run.storage), reserved,
                           resolved.advised_against, resolved.plain_4bit)
                   if memory is not None and verdict and not verdict.fits else [])
    suggested = {s.arguments.get("method") for s in suggestions}
    for method in (m for m in resolved.advised_against if m == run.method or m in suggested):
        assumptions.insert(0, resolved.advice(method))
    return VramEstimate(
        model=resolved.label, resolved_from=resolved.source, repo_id=resolved.repo_id,
        params_b=core.params_b, trainable_params_m=core.trainable_params_m,
        total_gib=round(core.total_gib, 2), needs_gib=round(core.need_gib, 2), breakdown=core.breakdown,
        gpu_memory_gib=memory, gpu=gpu_text,
        fits=verdict.fits if verdict else None, headroom_gib=verdict.headroom_gib if verdict else None,
        tight=verdict.tight if verdict else None, coarse=resolved.coarse, assumptions=assumptions,
        background=core.background if detail else [],
        suggestions=suggestions,
    )
