"""A recommendation from the catalog: every entry serving the task checked against the hard rules,
the qualifying ones ranked, and, when too few qualify, what one change would let another in (pure).

The caller (the `recommend_model` tool) reads the GPU and the use case and builds the `Request`
and the `FactFinder`; here everything comes in as values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date

from pydantic import BaseModel, Field

from finetune_advisor.catalog.schema import Catalog, CatalogEntry
from finetune_advisor.recommend import ranking
from finetune_advisor.recommend.facts import FactFinder, evaluate
from finetune_advisor.recommend.ranking import BaseVsInstruct, Candidate, Failure, Request
from finetune_advisor.recommend.relax import single_changes
from finetune_advisor.gpus.target import GpuTarget
from finetune_advisor.vocabulary import MemorySource, Method, Task, Variant, Verdict
from finetune_advisor.vram import fit
from finetune_advisor.vram.families import UNSLOTH_16BIT_STEP_WITHOUT_BF16


class Recommendation(BaseModel):
    model_id: str
    name: str
    unsloth_model_id: str | None = Field(description="Repo to load for this variant and method; null: none listed.")
    repo_id: str
    family: str
    params_b: float | None
    variant: Variant
    method: Method
    estimated_vram_gib: float | None  # estimate_vram's needs_gib
    fits: bool | None = Field(description="estimate_vram's verdict for this pick; null: GPU unknown.")
    headroom_gib: float | None = Field(description="GiB left after the driver's share and the estimate; null: GPU unknown.")
    tight: bool | None = Field(description="Fits with less room than the estimate's error; ranked lower.")
    license_id: str | None
    license_verdict: Verdict
    chat_template: str | None = Field(description="Unsloth's chat template name for this variant (get_chat_template).")
    min_transformers: str | None = Field(description="The oldest transformers Unsloth's loader accepts for this family.")
    router_aux_loss: bool = Field(
        description="false: sized with SFTConfig(router_aux_loss_coef=0.0) or UNSLOTH_BLOCK_COMPILE=0; set one. true: trl's "
                    "default (also for models without a router); pass it on to estimate_vram or plan_training as it is.")
    reasons: list[str]
    caveats: list[str]


class RecommendResult(BaseModel):
    task: Task
    recommendations: list[Recommendation]
    base_vs_instruct: BaseVsInstruct
    gpu_memory_gib: float | None
    gpu_source: MemorySource
    gpu: str
    notes: list[str]
    what_would_qualify: list[str]
    excluded: dict[str, int] = Field(description="Per rule, models of the task left out.")


def recommend(catalog: Catalog, req: Request, finder: FactFinder, gpu: GpuTarget, split: BaseVsInstruct,
              unknown_languages: Sequence[str], top_k: int) -> RecommendResult:
    """Rank the entries serving `req.task`; explain the rules applied and what would qualify others."""
    serving = [e for e in catalog.models if req.task in e.tasks]
    newest = ranking.newest_release(catalog.models)
    candidates: list[Candidate] = []
    excluded: Counter[str] = Counter()
    for entry in serving:
        outcome = evaluate(entry, req, finder, newest)
        if isinstance(outcome, Failure):
            excluded[outcome.rule] += 1
        else:
            candidates.append(outcome)
    chosen = ranking.order(candidates, top_k)
    notes = _notes(req, gpu.source, gpu.bf16, unknown_languages, len(candidates), top_k)
    if gpu.count and gpu.count > 1:
        notes.append(f"Fits are checked on one GPU of the {gpu.count}: recommend_model does not split a model "
                     "across GPUs, so a model that needs several is left out; estimate_vram with gpus and sharding "
                     "'fsdp' sizes such a run.")
    if excluded["license"]:
        notes.append(_licence_note(req.task, excluded["license"], finder))
    qualify = _what_would_qualify(serving, req, finder, newest, excluded) if len(chosen) < top_k else []
    return RecommendResult(
        task=req.task, recommendations=[_shape(c, gpu.memory_gib, gpu.reserved_gib) for c in chosen], base_vs_instruct=split,
        gpu_memory_gib=gpu.memory_gib, gpu_source=gpu.source, gpu=gpu.description, notes=notes,
        what_would_qualify=qualify, excluded=dict(excluded),
    )


def _shape(c: Candidate, memory_gib: float | None, reserved_gib: float) -> Recommendation:
    e = c.entry
    est = c.choice.estimate_gib
    found = ranking.verdict(est, memory_gib, reserved_gib, c.choice.margin)
    return Recommendation(
        model_id=e.id,
        name=e.name,
        unsloth_model_id=c.unsloth_id,
        repo_id=c.repo_id,
        family=e.family,
        params_b=e.params_total_b,
        variant=c.variant,
        method=c.choice.method,
        estimated_vram_gib=round(est, 1) if est is not None else None,
        fits=c.choice.fits,
        headroom_gib=found.headroom_gib if found else None,
        tight=found.tight if found else None,
        license_id=e.license_id,
        license_verdict=c.verdict,
        chat_template=c.chat_template,
        min_transformers=c.min_transformers,
        router_aux_loss=c.choice.router_aux_loss,
        reasons=c.reasons,
        caveats=c.caveats,
    )


def _notes(
    req: Request, gpu_source: str, bf16: bool, unknown_languages: Sequence[str], qualified: int, top_k: int
) -> list[str]:
    hints = req.hints
    images = ", one image a row, as in Unsloth's vision notebooks" if req.task == "vision" else ""
    notes = [
        fit.RULE,
        ranking.METHOD_RULE,
        f"Memory figures are estimate_vram's for the named checkpoint at seq_len {req.seq_len} with its defaults "
        f"(batch size 1, LoRA rank 16 on all linear layers, gradient checkpointing, adamw_8bit, {'bf16' if bf16 else 'fp16'}"
        f"{images}; trl's router aux loss off only where a pick says so); run estimate_vram on a pick for other settings.",
    ]
    if not bf16:
        notes.append("This GPU has no bf16 (compute capability below 8.0): training runs in fp16, and the "
                     "families Unsloth loads in float32 on such GPUs (its FORCE_FLOAT32 list) train without fp16 "
                     "autocast, with fp32 activations and loss (but the families measured holding their bf16 step: "
                     f"{', '.join(sorted(UNSLOTH_16BIT_STEP_WITHOUT_BF16))}); the estimates include that.")
    if gpu_source == "unknown":
        notes.append("GPU memory unknown: recommendations are not checked for fit (fits is null); pass 'gpu' (a name) or 'gpu_memory_gib'.")
    understood = []
    if hints.languages:
        understood.append("languages " + ", ".join(hints.languages))
    if hints.function_calling:
        understood.append("function calling")
    if hints.long_context:
        understood.append("long context")
    if understood:
        notes.append("From use_case: " + "; ".join(understood) + ".")
    if unknown_languages:
        notes.append(f"Language(s) not recognised and ignored: {', '.join(unknown_languages)}.")
    if qualified == 0:
        notes.append("No model in the catalog meets every hard rule; see what_would_qualify below.")
    elif qualified < top_k:
        notes.append(f"Only {qualified} model(s) meet every hard rule.")
    return notes


def _licence_note(task: str, count: int, finder: FactFinder) -> str:
    """The plans the licences were judged for, so that a user who never stated them sees what left models out."""
    plans = ["commercial use (the default)" if finder.commercial_use else "research use only"]
    if finder.monthly_active_users:
        plans.append(f"{finder.monthly_active_users:,} monthly active users")
    if finder.eu_entity:
        plans.append("a user or company in the EU")
    return (f"{count} {task} model(s) left out because their licence does not allow these plans: {'; '.join(plans)}. "
            f"check_license on a model names the clause.")


def _what_would_qualify(
    serving: Sequence[CatalogEntry], req: Request, finder: FactFinder, newest: date | None, excluded: Counter[str]
) -> list[str]:
    """Changes of one constraint that would let an excluded model qualify."""
    if not serving:
        return [f"The catalog has no model for the task {req.task}."]
    changes = single_changes(serving, req, finder, newest)
    if changes:
        return changes
    if not excluded:
        return [f"The catalog lists only {len(serving)} {req.task} model(s), all shown."]
    return [f"No single change lets another {req.task} model qualify: each fails two or more rules at once."]
