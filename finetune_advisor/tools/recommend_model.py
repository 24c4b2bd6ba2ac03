"""The `recommend_model` tool: read the GPU and the use case, then rank the catalog (`recommend.engine`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import Field

from finetune_advisor.adapters.cache import catalog_note, load_catalog
from finetune_advisor.errors import InvalidInputError
from finetune_advisor.licensing.terms import license_ids, load_licenses
from finetune_advisor.recommend import ranking
from finetune_advisor.lookup.gpu import resolve_gpu
from finetune_advisor.recommend.engine import RecommendResult, recommend
from finetune_advisor.recommend.facts import FactFinder
from finetune_advisor.recommend.ranking import Request
from finetune_advisor.recommend.use_case import normalise_languages, parse_use_case
from finetune_advisor.vocabulary import (
    TASKS,
    MethodRequest,
    Task,
    bounds,
    check_list,
    check_range,
    check_text,
    list_bounds,
    text_bounds,
    values,
)


def recommend_model(
    task: Annotated[Task, Field(description='e.g. "code"; vision: image input; tts, stt: speech.')],
    use_case: Annotated[str, Field(**text_bounds("use_case"), description='Goal in words, e.g. "German support bot, tool calls".')] = "",
    dataset_rows: Annotated[int | None, Field(**bounds("dataset_rows"), description="Training rows, e.g. 1500 (1000+: base, <300: instruct).")] = None,
    gpu: Annotated[str | None, Field(**text_bounds("gpu"), description='By name, e.g. "RTX 4090" or "T4"; default: the local GPU.')] = None,
    gpu_memory_gib: Annotated[float | None, Field(**bounds("gpu_memory_gib"), description="Instead of gpu: GiB to fit, e.g. 24.")] = None,
    commercial_use: Annotated[bool, Field(description="e.g. false for research only.")] = True,
    monthly_active_users: Annotated[int | None, Field(**bounds("monthly_active_users"), description="e.g. 2000000 (licence caps).")] = None,
    eu_entity: Annotated[bool, Field(description="e.g. true: user or company in the EU.")] = False,
    allowed_licenses: Annotated[
        list[Annotated[str, Field(**text_bounds("allowed_licenses"))]],
        Field(**list_bounds("allowed_licenses"), description=_licences_description()),
    ] = [],  # noqa: B006 - never mutated; a list keeps the schema a plain array
    max_params_b: Annotated[float | None, Field(**bounds("max_params_b"), description="Max billions of parameters, e.g. 8.")] = None,
    method: Annotated[MethodRequest, Field(description='e.g. "qlora"; auto: LoRA or QLoRA by memory.')] = "auto",
    seq_len: Annotated[int, Field(**bounds("seq_len"), description="Tokens per sample, e.g. 4096.")] = 2048,
    languages: Annotated[
        list[Annotated[str, Field(**text_bounds("languages"))]],
        Field(**list_bounds("languages"), description='Required, e.g. ["de", "French"].'),
    ] = [],  # noqa: B006
    top_k: Annotated[int, Field(**bounds("top_k"), description="How many, e.g. 5.")] = 3,
) -> RecommendResult:
    """Recommend open-weight models to fine-tune for a task, within licence and GPU memory limits.

    Use when the user asks which model to fine-tune; names the Unsloth id to load, the method and base or instruct.
    """
    _check(task, method, seq_len, top_k)
    check_text("use_case", use_case)
    check_list("allowed_licenses", allowed_licenses)
    check_list("languages", languages)
    target = resolve_gpu(gpu, gpu_memory_gib)
    hints = parse_use_case(use_case)
    codes, unknown_languages = normalise_languages([*languages, *hints.languages])
    split = ranking.base_or_instruct(dataset_rows)
    req = Request(
        task=task, seq_len=seq_len, memory_gib=target.memory_gib, reserved_gib=target.reserved_gib, method=method, max_params_b=max_params_b,
        allowed_licenses=_licence_ids(allowed_licenses), languages=tuple(codes), hints=hints, variant=split.choice,
    )
    catalog = load_catalog()
    finder = FactFinder(catalog, commercial_use, monthly_active_users, eu_entity, bf16=target.bf16, memory_gib=target.memory_gib,
                        reserved_gib=target.reserved_gib, image_rows=task == "vision", **target.silicon)
    answer = recommend(catalog, req, finder, target, split, unknown_languages, top_k)
    if note := catalog_note():
        answer.notes.append(note)
    return answer


def _licences_description() -> str:
    """The description of allowed_licenses, listing every accepted id (evaluated when the schema is built)."""
    return f'e.g. ["apache-2.0", "mit"]; any of {", ".join(license_ids())}.'


def _check(task: str, method: str, seq_len: int, top_k: int) -> None:
    """Guards for direct Python callers (MCP and the CLI validate these before the call)."""
    if task not in TASKS:
        raise InvalidInputError("task", f"{task!r} is not a known task", ", ".join(TASKS))
    if method not in values(MethodRequest):
        raise InvalidInputError("method", f"{method!r} is not a method", ", ".join(values(MethodRequest)))
    check_range("seq_len", seq_len)
    check_range("top_k", top_k)


def _licence_ids(names: Sequence[str]) -> frozenset[str]:
    """Licence ids for the names given (aliases accepted); unknown names are an error, not a silent filter."""
    book = load_licenses()
    found = {name: book.find(name) for name in names if name.strip()}
    unknown = [name for name, lic in found.items() if lic is None]
    if unknown:
        raise InvalidInputError("allowed_licenses", f"unknown licence id(s) {', '.join(map(repr, unknown))}", ", ".join(book.ids()))
    return frozenset(lic.id for lic in found.values() if lic is not None)
