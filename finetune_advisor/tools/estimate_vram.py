"""The `estimate_vram` tool: resolve the model, default the GPU, run the estimator, suggest fixes.

Resolution order: the packaged catalog (ids, aliases, HF and Unsloth repo ids); then, for a repo id
the catalog does not know, its config.json from the Hub (when online); or an inline `architecture`
(config.json fields); or a bare `params_b` for a coarse estimate on a scaled reference layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from finetune_advisor.adapters import hub
from finetune_advisor.catalog import schema as catalog
from finetune_advisor.errors import (
    HubError,
    HubNotFoundError,
    InvalidInputError,
    UnknownModelError,
)
from finetune_advisor.tools import detect_gpus
from finetune_advisor.vocabulary import (
    ALL_LINEAR,
    Method,
    Optimizer,
    Sharding,
    Stack,
    TargetModule,
    bounds,
    check_range,
)
from finetune_advisor.vram import estimator as vram
from finetune_advisor.vram.architecture import Architecture
from finetune_advisor.vram.shapes import (
    architecture_for_params,
    params_kept_16bit,
    shapes,
)
from finetune_advisor.vram.suggest import Suggestion, headroom, suggest

_QUANT_SUFFIXES = (("-unsloth-bnb-4bit", "unsloth-bnb-4bit"), ("-bnb-4bit", "bnb-4bit"))


class VramEstimate(BaseModel):
    """Expected peak GPU memory of a fine-tuning run, per GPU."""

    model: str
    resolved_from: Literal["catalog", "hub", "architecture", "params_b"]
    repo_id: str | None
    params_b: float
    trainable_params_m: float
    total_gib: float = Field(description="Peak per GPU as nvidia-smi shows the process.")
    breakdown: vram.Breakdown
    gpu_memory_gib: float | None
    gpu: str
    fits: bool | None
    headroom_gib: float | None
    coarse: bool
    assumptions: list[str]
    suggestions: list[Suggestion]


@dataclass
class ResolvedArch:
    """An architecture and what is known around it."""

    arch: Architecture
    label: str
    source: Literal["catalog", "hub", "architecture", "params_b"]
    repo_id: str | None = None
    params_total: float | None = None
    context: int | None = None
    storage: str = "16bit"
    skip_modules: list[str] | None = None
    dynamic_4bit: bool = False  # Unsloth publishes an -unsloth-bnb-4bit upload of it
    coarse: bool = False
    family: str | None = None  # catalog family (float32 loading on GPUs without bf16 goes by family)
    notes: list[str] = field(default_factory=list)


def estimate_vram(
    model: Annotated[str | None, Field(max_length=300, description="Catalog id/alias or HF repo id (Unsloth variants too).")] = None,
    architecture: Annotated[dict[str, Any] | None, Field(description="Instead of model: config.json fields.")] = None,
    params_b: Annotated[float | None, Field(**bounds("params_b"), description="Instead of model: billions of parameters (coarse).")] = None,
    method: Annotated[Method, Field(description="qlora, lora (16-bit base) or full.")] = "qlora",
    seq_len: Annotated[int, Field(**bounds("seq_len"), description="Tokens per sample.")] = 2048,
    batch_size: Annotated[int, Field(**bounds("batch_size"), description="Micro-batch per GPU.")] = 1,
    lora_rank: Annotated[int, Field(**bounds("lora_rank"), description="LoRA rank.")] = 16,
    target_modules: Annotated[list[TargetModule] | None, Field(description="LoRA targets; default all linear.")] = None,
    gradient_checkpointing: Annotated[bool, Field(description="Gradient checkpointing.")] = True,
    optimizer: Annotated[Optimizer, Field(description="Default as in Unsloth's notebooks.")] = "adamw_8bit",
    stack: Annotated[Stack, Field(description="unsloth or transformers+peft+bitsandbytes.")] = "unsloth",
    num_gpus: Annotated[int, Field(**bounds("num_gpus"), description="GPUs, data parallel.")] = 1,
    sharding: Annotated[Sharding, Field(description="With several GPUs.")] = "ddp",
    full_fp32_master: Annotated[bool, Field(description="Full FT with fp32 master weights.")] = False,
    gpu_memory_gib: Annotated[float | None, Field(**bounds("gpu_memory_gib"), description="GiB per GPU; default the detected GPU.")] = None,
    bf16: Annotated[bool | None, Field(description="False on pre-Ampere GPUs (fp16); default the detected GPU's.")] = None,
) -> VramEstimate:
    """Estimate peak GPU memory to fine-tune a model (per component), and whether it fits.

    Use to check a model on the user's GPU, or after recommend_model; gives fixes when it does not fit.
    """
    return run_estimate(
        model, architecture, params_b, gpu_memory_gib, bf16, method=method, seq_len=seq_len, batch_size=batch_size,
        lora_rank=lora_rank, target_modules=tuple(target_modules) if target_modules else ALL_LINEAR,
        gradient_checkpointing=gradient_checkpointing, optimizer=optimizer, stack=stack, num_gpus=num_gpus,
        sharding=sharding, full_fp32_master=full_fp32_master,
    )


def run_estimate(model: str | None, architecture: dict[str, Any] | None, params_b: float | None,
                 gpu_memory_gib: float | None, bf16: bool | None, **run: Any) -> VramEstimate:
    """Resolve the model and the GPU, then estimate; `run` holds `vram.RunConfig` fields."""
    resolved = resolve_model(model, architecture, params_b)
    memory, gpu_text, detected_bf16 = _gpu(gpu_memory_gib)
    storage = resolved.storage
    if storage == "16bit" and resolved.dynamic_4bit and run.get("method", "qlora") == "qlora" and run.get("stack", "unsloth") == "unsloth":
        # With load_in_4bit, Unsloth's loader swaps a 16-bit name for its dynamic 4-bit upload.
        storage = "unsloth-bnb-4bit"
        resolved.notes.append("Unsloth loads the -unsloth-bnb-4bit upload for QLoRA, as its loader does for load_in_4bit.")
    config = vram.RunConfig(**run, bf16=bf16 if bf16 is not None else detected_bf16, storage=storage)
    return estimate_resolved(resolved, config, memory, gpu_text)


# About the p90 of |error| measured against real GPUs (bench/vram_accuracy/README.md: 8.5 % leaving
# one architecture out, 8.0 % on unseen architectures): a fit with less headroom than this is a gamble.
TIGHT_FRACTION = 0.10


def estimate_resolved(resolved: ResolvedArch, run: vram.RunConfig, memory: float | None, gpu_text: str) -> VramEstimate:
    """The tool's result for an already resolved model and GPU (CLI and tests reuse it)."""
    if memory is not None:
        check_range("gpu_memory_gib", memory)
    skip = params_kept_16bit(shapes(resolved.arch), resolved.skip_modules) if resolved.skip_modules is not None else None
    kwargs = {"params_total": resolved.params_total, "skip_16bit_params": skip, "context_length": resolved.context,
              "family": resolved.family}
    core = vram.estimate(resolved.arch, run, **kwargs)
    fits = left = None
    if memory is not None:
        left = headroom(core.total_gib, memory)
        fits = left >= 0
    assumptions = [*resolved.notes, *core.assumptions]
    if fits and left is not None and left < TIGHT_FRACTION * core.total_gib:
        assumptions.insert(0, f"Tight fit: {left:.2f} GiB to spare is less than {TIGHT_FRACTION:.0%} of the estimate; "
                              "measured errors reach about that much (bench/vram_accuracy), so leave more room "
                              "(a shorter seq_len or an 8-bit optimizer) before a long run.")
    if not run.bf16:
        assumptions.insert(0, "Training in fp16: the GPU has no bf16.")
    return VramEstimate(
        model=resolved.label, resolved_from=resolved.source, repo_id=resolved.repo_id,
        params_b=core.params_b, trainable_params_m=core.trainable_params_m,
        total_gib=round(core.total_gib, 2), breakdown=core.breakdown, gpu_memory_gib=memory, gpu=gpu_text,
        fits=fits, headroom_gib=left, coarse=resolved.coarse, assumptions=assumptions,
        suggestions=suggest(resolved.arch, run, memory, kwargs) if fits is False else [],
    )


def resolve_model(model: str | None, architecture: dict[str, Any] | None, params_b: float | None) -> ResolvedArch:
    """Exactly one of the three ways to name a model, turned into an architecture."""
    given = [name for name, v in (("model", model), ("architecture", architecture), ("params_b", params_b)) if v is not None]
    if len(given) != 1:
        raise InvalidInputError(given[1] if len(given) > 1 else "model", "give exactly one of model, architecture or params_b"
                                + (f" (got {', '.join(given)})" if given else ""),
                                "a catalog id or repo id in model, or config.json fields in architecture, or params_b")
    if params_b is not None:
        check_range("params_b", params_b)
        arch, template = architecture_for_params(params_b)
        return ResolvedArch(arch, f"~{params_b:g}B (coarse)", "params_b", coarse=True, notes=[
            f"Coarse: only the parameter count is known; the layout of {template} scaled to {params_b:g}B is assumed."])
    if architecture is not None:
        arch = Architecture.from_hf_config(architecture, field="architecture")
        return ResolvedArch(arch, "architecture", "architecture", skip_modules=_skip_modules(architecture))
    assert model is not None
    try:
        found = catalog.resolve(model)
    except UnknownModelError as exc:
        if not hub.is_repo_id(model.strip()):
            raise
        return _from_hub(model.strip(), exc.suggestions)
    return _from_catalog(found)


def _from_catalog(found: catalog.ResolvedModel) -> ResolvedArch:
    entry = found.entry
    params = entry.params_total_b * 1e9 if entry.params_total_b else None
    contexts = [c for c in (entry.context_length, entry.architecture and entry.architecture.max_position_embeddings) if c]
    notes = [found.note] if found.note else []
    if entry.architecture_status == "unverified":
        notes.append(f"The catalog's architecture for {entry.name} is unverified; the estimate inherits that.")
    ids = entry.unsloth
    common = dict(repo_id=found.repo_id, params_total=params, context=max(contexts) if contexts else None, family=entry.family,
                  storage=found.quant or "16bit",
                  dynamic_4bit=bool(ids.base_unsloth_bnb_4bit or ids.instruct_unsloth_bnb_4bit))
    if entry.architecture is not None:
        return ResolvedArch(entry.architecture, entry.id, "catalog", notes=notes, **common)
    if entry.params_total_b is None:
        raise UnknownModelError(entry.id, "the catalog records neither its architecture nor its size",
                                catalog.closest(entry.name))
    arch, template = architecture_for_params(entry.params_total_b)
    notes.append(f"Coarse: the catalog has no architecture for {entry.name}; the layout of {template} "
                 f"scaled to {entry.params_total_b:g}B is assumed.")
    return ResolvedArch(arch, entry.id, "catalog", coarse=True, notes=notes, **common)


def _from_hub(repo_id: str, closest: list[str]) -> ResolvedArch:
    try:
        config = hub.fetch_config(repo_id)
    except HubNotFoundError:
        raise UnknownModelError(repo_id, "not in the catalog, and the Hub has no config.json for it", closest) from None
    except HubError as exc:
        raise UnknownModelError(repo_id, f"not in the catalog, and the Hub could not be asked ({exc})", closest) from None
    arch = Architecture.from_hf_config(config, field="model")
    storage = next((name for suffix, name in _QUANT_SUFFIXES if repo_id.lower().endswith(suffix)), "16bit")
    return ResolvedArch(arch, repo_id, "hub", repo_id=repo_id, storage=storage, skip_modules=_skip_modules(config),
                        notes=[f"{repo_id} is not in the catalog: its config.json was read from the Hub."])


def _skip_modules(config: dict[str, Any]) -> list[str] | None:
    """`llm_int8_skip_modules` of a pre-quantised checkpoint (the layers it keeps in 16-bit)."""
    quant = config.get("quantization_config")
    skip = quant.get("llm_int8_skip_modules") if isinstance(quant, dict) else None
    return [str(m) for m in skip] if isinstance(skip, list) else None


def _gpu(gpu_memory_gib: float | None) -> tuple[float | None, str, bool]:
    """(memory per GPU, where it came from, whether it trains in bf16)."""
    if gpu_memory_gib is not None:
        return gpu_memory_gib, "given (gpu_memory_gib)", True
    local = detect_gpus.local_gpu()
    if local.memory_gib is None:
        return None, f"none detected ({local.description}); pass gpu_memory_gib to check the fit", True
    return local.memory_gib, local.description, local.bf16

