"""The `estimate_vram` tool: name the model, default the GPU, and answer with `vram.report`.

A model is found in the packaged catalog first (ids, aliases, HF and Unsloth repo ids); a repo id
the catalog does not know is read from the Hub's config.json (when online); or the caller gives
config.json fields inline (`architecture`), or a bare parameter count for a coarse figure. The CLI
(`finetune-advisor vram`) calls this same function.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from finetune_advisor.adapters import hub, nvml
from finetune_advisor.adapters.cache import load_catalog
from finetune_advisor.catalog.resolve import closest, resolve
from finetune_advisor.errors import HubError, HubNotFoundError, InvalidInputError, UnknownModelError
from finetune_advisor.hub_card import is_repo_id
from finetune_advisor.vocabulary import (
    ALL_LINEAR,
    Attention,
    Method,
    Optimizer,
    Sharding,
    Stack,
    TargetModule,
    bounds,
)
from finetune_advisor.vram import resolve as resolving
from finetune_advisor.vram.estimator import RunConfig
from finetune_advisor.vram.report import VramEstimate, report
from finetune_advisor.vram.resolve import ResolvedArch


def estimate_vram(
    model: Annotated[str | None, Field(max_length=300, description='Catalog id or HF repo id, e.g. "qwen3-8b".')] = None,
    architecture: Annotated[dict[str, Any] | None, Field(description='Instead of model: config.json fields, e.g. {"model_type": "llama", "num_hidden_layers": 16, "hidden_size": 2048, "num_attention_heads": 32, "vocab_size": 128256}.')] = None,
    params_b: Annotated[float | None, Field(**bounds("params_b"), description="Instead of model: billions of parameters, e.g. 7 (coarse).")] = None,
    method: Annotated[Method, Field(description='e.g. "lora" (16-bit base; qlora: 4-bit).')] = "qlora",
    seq_len: Annotated[int, Field(**bounds("seq_len"), description="Tokens per sample, e.g. 4096.")] = 2048,
    batch_size: Annotated[int, Field(**bounds("batch_size"), description="Micro-batch per GPU, e.g. 2.")] = 1,
    lora_rank: Annotated[int, Field(**bounds("lora_rank"), description="e.g. 32.")] = 16,
    target_modules: Annotated[list[TargetModule] | None, Field(description='e.g. ["q_proj", "v_proj"]; default: all.')] = None,
    lora_dropout: Annotated[float, Field(**bounds("lora_dropout"), description="e.g. 0.05.")] = 0.0,
    gradient_checkpointing: Annotated[bool, Field(description="e.g. false: faster, more memory.")] = True,
    optimizer: Annotated[Optimizer, Field(description='e.g. "adamw_torch".')] = "adamw_8bit",
    stack: Annotated[Stack, Field(description='e.g. "transformers" (+peft, bitsandbytes).')] = "unsloth",
    num_gpus: Annotated[int, Field(**bounds("num_gpus"), description="e.g. 4.")] = 1,
    sharding: Annotated[Sharding, Field(description='e.g. "fsdp"; only with num_gpus > 1.')] = "ddp",
    full_fp32_master: Annotated[bool, Field(description="e.g. true (method full only).")] = False,
    attention: Annotated[Attention, Field(description='e.g. "eager" (full attention matrix).')] = "sdpa",
    gpu_memory_gib: Annotated[float | None, Field(**bounds("gpu_memory_gib"), description="GiB per GPU, e.g. 24; default: the local GPU.")] = None,
    bf16: Annotated[bool | None, Field(description="e.g. false on a T4 or V100; default: the local GPU's.")] = None,
    detail: Annotated[bool, Field(description="e.g. true: also the background (how it is built).")] = False,
) -> VramEstimate:
    """Estimate peak GPU memory to fine-tune a model (per component), and whether it fits.

    Use to check a model on the user's GPU, or after recommend_model; gives fixes when it does not fit.
    """
    resolved = resolve_model(model, architecture, params_b)
    memory, gpu_text, detected_bf16 = _gpu(gpu_memory_gib)
    storage = resolved.storage_for(method, stack)
    if storage != resolved.storage:
        resolved.notes.append(resolving.DYNAMIC_SWAP_NOTE)
    run = RunConfig(
        method=method, seq_len=seq_len, batch_size=batch_size, lora_rank=lora_rank,
        target_modules=tuple(target_modules) if target_modules else ALL_LINEAR, lora_dropout=lora_dropout,
        gradient_checkpointing=gradient_checkpointing, optimizer=optimizer, stack=stack, num_gpus=num_gpus,
        sharding=sharding, full_fp32_master=full_fp32_master, attention=attention,
        bf16=bf16 if bf16 is not None else detected_bf16, storage=storage,
    )
    result = report(resolved, run, memory, gpu_text)
    notes = [*ineffective(num_gpus, sharding), *result.assumptions]
    return result.model_copy(update={"assumptions": notes, "background": result.background if detail else []})


def ineffective(num_gpus: int, sharding: str) -> list[str]:
    """Arguments that cannot change this estimate, said in the answer rather than silently ignored."""
    if num_gpus == 1 and sharding != "ddp":
        return [f"Sharding '{sharding}' has no effect on one GPU: the estimate is for a single GPU."]
    return []


def resolve_model(model: str | None, architecture: dict[str, Any] | None, params_b: float | None) -> ResolvedArch:
    """Exactly one of the three ways to name a model, turned into an architecture."""
    given = [name for name, v in (("model", model), ("architecture", architecture), ("params_b", params_b)) if v is not None]
    if len(given) != 1:
        raise InvalidInputError(given[1] if len(given) > 1 else "model", "give exactly one of model, architecture or params_b"
                                + (f" (got {', '.join(given)})" if given else ""),
                                "a catalog id or repo id in model, or config.json fields in architecture, or params_b")
    if params_b is not None:
        return resolving.from_params(params_b)
    if architecture is not None:
        return resolving.from_architecture(architecture)
    catalog = load_catalog()
    try:
        found = resolve(catalog, model or "")
    except UnknownModelError as exc:
        if not is_repo_id((model or "").strip()):
            raise
        return _from_hub((model or "").strip(), exc.suggestions)
    return resolving.from_catalog(found, lambda name: closest(catalog, name))


def _from_hub(repo_id: str, suggestions: list[str]) -> ResolvedArch:
    try:
        config = hub.fetch_config(repo_id)
    except HubNotFoundError:
        raise UnknownModelError(repo_id, "not in the catalog, and the Hub has no config.json for it", suggestions) from None
    except HubError as exc:
        raise UnknownModelError(repo_id, f"not in the catalog, and the Hub could not be asked ({exc})", suggestions) from None
    return resolving.from_hub_config(repo_id, config)


def _gpu(gpu_memory_gib: float | None) -> tuple[float | None, str, bool]:
    """(memory per GPU, where it came from, whether it trains in bf16)."""
    if gpu_memory_gib is not None:
        return gpu_memory_gib, "given (gpu_memory_gib)", True
    local = nvml.local_gpu()
    if local.memory_gib is None:
        return None, f"none detected ({local.description}); pass gpu_memory_gib to check the fit", True
    return local.memory_gib, local.description, local.bf16
