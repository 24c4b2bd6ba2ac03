"""The `recommend_model` tool: catalog + licence verdicts + memory estimates + the local GPU,
ranked by `finetune_advisor.recommend.ranking`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from finetune_advisor.catalog.schema import CatalogEntry, load_catalog
from finetune_advisor.errors import InvalidInputError
from finetune_advisor.licensing.terms import load_licenses
from finetune_advisor.recommend import ranking
from finetune_advisor.recommend.facts import FactFinder, evaluate
from finetune_advisor.recommend.ranking import (
    BaseVsInstruct,
    Candidate,
    Failure,
    Method,
    Request,
    Verdict,
)
from finetune_advisor.recommend.relax import single_changes
from finetune_advisor.recommend.use_case import (
    UseCaseHints,
    normalise_languages,
    parse_use_case,
)
from finetune_advisor.tools.detect_gpus import local_gpu
from finetune_advisor.vocabulary import TASKS, Task, Variant

METHODS: tuple[str, ...] = ("auto", "qlora", "lora", "full")


class Recommendation(BaseModel):
    model_id: str
    name: str
    unsloth_model_id: str | None = Field(description="Repo to load for this variant and method; null: none listed.")
    repo_id: str
    family: str
    params_b: float | None
    variant: Variant
    method: Method
    estimated_vram_gib: float | None
    fits: bool | None = Field(description="With the safety margin; null: GPU unknown.")
    license_id: str | None
    license_verdict: Verdict
    chat_template: str | None
    reasons: list[str]
    caveats: list[str]


class RecommendResult(BaseModel):
    task: Task
    recommendations: list[Recommendation]
    base_vs_instruct: BaseVsInstruct
    gpu_memory_gib: float | None
    gpu_source: Literal["argument", "detected", "unknown"]
    gpu: str
    notes: list[str]
    what_would_qualify: list[str]
    excluded: dict[str, int] = Field(description="Per rule, models of the task left out.")


def recommend_model(
    task: Annotated[
        Task,
        Field(description="chat, code, vision (image input), reasoning, tts or stt."),
    ],
    use_case: Annotated[
        str,
        Field(max_length=2000, description="Goal in words: languages, domain, tool use, long context."),
    ] = "",
    dataset_rows: Annotated[int | None, Field(ge=0, description="Training rows: 1000+ base, <300 instruct.")] = None,
    gpu_memory_gib: Annotated[
        float | None, Field(gt=0, le=4096, description="GiB to fit; default the local GPU.")
    ] = None,
    commercial_use: Annotated[bool, Field(description="Commercial use.")] = True,
    monthly_active_users: Annotated[
        int | None, Field(ge=0, description="Monthly active users (licence caps).")
    ] = None,
    eu_entity: Annotated[bool, Field(description="User or company in the EU.")] = False,
    allowed_licenses: Annotated[
        list[str], Field(description="Only these licences, e.g. apache-2.0, mit.")
    ] = [],  # noqa: B006 - never mutated; a list keeps the schema a plain array
    max_params_b: Annotated[float | None, Field(gt=0, description="Max billions of parameters.")] = None,
    method: Annotated[
        Literal["auto", "qlora", "lora", "full"], Field(description="auto: LoRA or QLoRA by memory.")
    ] = "auto",
    seq_len: Annotated[int, Field(ge=128, le=1_048_576, description="Tokens per sample.")] = 2048,
    languages: Annotated[list[str], Field(description="Required languages (codes or names).")] = [],  # noqa: B006
    top_k: Annotated[int, Field(ge=1, le=10, description="How many to return.")] = 3,
) -> RecommendResult:
    """Recommend open-weight models to fine-tune for a task, within licence and GPU memory limits.

    Use when the user asks which model to fine-tune; names the Unsloth id to load, the method and base or instruct.
    """
    _check(task, method, gpu_memory_gib, seq_len, top_k)
    memory, gpu_source, gpu, bf16 = _gpu(gpu_memory_gib)
    hints = parse_use_case(use_case)
    codes, unknown_languages = normalise_languages([*languages, *hints.languages])
    split = ranking.base_or_instruct(dataset_rows)
    req = Request(
        task=task,
        seq_len=seq_len,
        memory_gib=memory,
        method=method,
        max_params_b=max_params_b,
        allowed_licenses=_licence_ids(allowed_licenses),
        languages=tuple(codes),
        hints=hints,
        variant=split.choice,
    )
    finder = FactFinder(commercial_use, monthly_active_users, eu_entity, bf16=bf16)
    catalog = load_catalog().models
    serving = [e for e in catalog if task in e.tasks]
    newest = ranking.newest_release(catalog)
    candidates: list[Candidate] = []
    excluded: Counter[str] = Counter()
    for entry in serving:
        outcome = evaluate(entry, req, finder, newest)
        if isinstance(outcome, Failure):
            excluded[outcome.rule] += 1
        else:
            candidates.append(outcome)
    chosen = ranking.order(candidates, top_k)
    notes = _notes(seq_len, gpu_source, bf16, hints, unknown_languages, len(candidates), top_k, split)
    qualify = _what_would_qualify(serving, req, finder, newest, excluded) if len(chosen) < top_k else []
    return RecommendResult(
        task=task,
        recommendations=[_shape(c) for c in chosen],
        base_vs_instruct=split,
        gpu_memory_gib=memory,
        gpu_source=gpu_source,
        gpu=gpu,
        notes=notes,
        what_would_qualify=qualify,
        excluded=dict(excluded),
    )


def _check(task: str, method: str, gpu_memory_gib: float | None, seq_len: int, top_k: int) -> None:
    """Guards for direct Python callers (MCP and the CLI validate these before the call)."""
    if task not in TASKS:
        raise InvalidInputError("task", f"{task!r} is not a known task", ", ".join(TASKS))
    if method not in METHODS:
        raise InvalidInputError("method", f"{method!r} is not a method", ", ".join(METHODS))
    if gpu_memory_gib is not None and not 0 < gpu_memory_gib <= 4096:
        raise InvalidInputError("gpu_memory_gib", f"{gpu_memory_gib:g} GiB is not a GPU memory size", "a number of GiB above 0 and at most 4096")
    if not 128 <= seq_len <= 1_048_576:
        raise InvalidInputError("seq_len", f"{seq_len} is out of range", "128 to 1048576 tokens")
    if not 1 <= top_k <= 10:
        raise InvalidInputError("top_k", f"{top_k} is out of range", "1 to 10")


def _licence_ids(names: Sequence[str]) -> frozenset[str]:
    """Licence ids for the names given (aliases accepted); unknown names are an error, not a silent filter."""
    book = load_licenses()
    found = {name: book.find(name) for name in names if name.strip()}
    unknown = [name for name, lic in found.items() if lic is None]
    if unknown:
        raise InvalidInputError("allowed_licenses", f"unknown licence id(s) {', '.join(map(repr, unknown))}", ", ".join(book.ids()))
    return frozenset(lic.id for lic in found.values() if lic is not None)


def _gpu(gpu_memory_gib: float | None) -> tuple[float | None, Literal["argument", "detected", "unknown"], str, bool]:
    """(memory, where it came from, description, whether the GPU trains in bf16)."""
    if gpu_memory_gib is not None:
        return gpu_memory_gib, "argument", f"{gpu_memory_gib:g} GiB (gpu_memory_gib)", True
    local = local_gpu()
    if local.memory_gib is not None:
        return local.memory_gib, "detected", local.description, local.bf16
    return None, "unknown", f"none given or detected ({local.description}): fit not checked", True


def _shape(c: Candidate) -> Recommendation:
    e = c.entry
    est = c.choice.estimate_gib
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
        license_id=e.license_id,
        license_verdict=c.verdict,
        chat_template=e.chat_template,
        reasons=c.reasons,
        caveats=c.caveats,
    )


def _notes(
    seq_len: int, gpu_source: str, bf16: bool, hints: UseCaseHints, unknown_languages: Sequence[str], qualified: int, top_k: int, split: BaseVsInstruct
) -> list[str]:
    notes = [
        ranking.SAFETY_RULE,
        ranking.METHOD_RULE,
        f"Memory figures are estimate_vram's for the named checkpoint at seq_len {seq_len} with its defaults "
        f"(batch size 1, LoRA rank 16 on all linear layers, gradient checkpointing, adamw_8bit, {'bf16' if bf16 else 'fp16'}); "
        "run estimate_vram on a pick for other settings.",
    ]
    if not bf16:
        notes.append("The detected GPU has no bf16 (compute capability below 8.0): training runs in fp16, and the "
                     "families Unsloth loads in float32 on such GPUs (Gemma 3/3n/4, gpt-oss, Qwen3.5, Qwen3-MoE) need "
                     "twice the weight memory; the estimates include that.")
    if gpu_source == "unknown":
        notes.append("GPU memory unknown: recommendations are not checked for fit (fits is null); pass gpu_memory_gib.")
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
    if split.try_both:
        notes.append("With 300-1000 rows, fine-tune both the base and the instruct checkpoint and compare.")
    if qualified == 0:
        notes.append("No model in the catalog meets every hard rule; see what_would_qualify.")
    elif qualified < top_k:
        notes.append(f"Only {qualified} model(s) meet every hard rule.")
    return notes


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
