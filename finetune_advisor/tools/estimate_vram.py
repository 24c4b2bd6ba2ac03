"""The `estimate_vram` tool: name the model, default the GPU, and answer with `vram.report`.

A model is found in the packaged catalog first (ids, aliases, HF and Unsloth repo ids); a repo id
the catalog does not know is read from the Hub's config.json (when online); or the caller gives
config.json fields inline (`architecture`), or a bare parameter count for a coarse figure. The CLI
(`finetune-advisor vram`) calls this same function.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from finetune_advisor.lookup.gpu import gpu_count, resolve_gpu
from finetune_advisor.lookup.model import resolve_model
from finetune_advisor.vocabulary import (
    ALL_LINEAR,
    Attention,
    Method,
    Optimizer,
    Sharding,
    Stack,
    TargetModule,
    bounds,
    check_list,
    check_range,
    check_text,
    list_bounds,
    text_bounds,
)
from finetune_advisor.vram.estimator import RunConfig
from finetune_advisor.vram.report import VramEstimate, report


def estimate_vram(
    model: Annotated[str | None, Field(**text_bounds("model"), description='Catalog id or HF repo id, e.g. "qwen3-8b".')] = None,
    architecture: Annotated[dict[str, Any] | None, Field(description='Instead of model: config.json fields, e.g. {"model_type": "llama", "num_hidden_layers": 16, "hidden_size": 2048, "num_attention_heads": 32, "vocab_size": 128256}.')] = None,
    params_b: Annotated[float | None, Field(**bounds("params_b"), description="Instead of model: billions of parameters, e.g. 7 (coarse).")] = None,
    method: Annotated[Method, Field(description='e.g. "lora" (16-bit base; qlora: 4-bit).')] = "qlora",
    seq_len: Annotated[int, Field(**bounds("seq_len"), description="Tokens per sample, e.g. 4096.")] = 2048,
    batch_size: Annotated[int, Field(**bounds("batch_size"), description="Micro-batch per GPU, e.g. 2.")] = 1,
    lora_rank: Annotated[int, Field(**bounds("lora_rank"), description="e.g. 32.")] = 16,
    target_modules: Annotated[list[TargetModule] | None, Field(**list_bounds("target_modules"), description='e.g. ["q_proj", "v_proj"]; default: all.')] = None,
    lora_dropout: Annotated[float, Field(**bounds("lora_dropout"), description="e.g. 0.05.")] = 0.0,
    images_per_row: Annotated[int, Field(**bounds("images_per_row"), description="Images per row (vision), e.g. 1.")] = 0,
    gradient_checkpointing: Annotated[bool, Field(description="e.g. false: faster, more memory.")] = True,
    optimizer: Annotated[Optimizer, Field(description='e.g. "adamw_torch".')] = "adamw_8bit",
    stack: Annotated[Stack, Field(description='e.g. "transformers" (+peft, bitsandbytes).')] = "unsloth",
    num_gpus: Annotated[int | None, Field(**bounds("num_gpus"), description="e.g. 4; default: 1, or the count in gpu.")] = None,
    sharding: Annotated[Sharding, Field(description='e.g. "fsdp"; only with several GPUs.')] = "ddp",
    full_fp32_master: Annotated[bool, Field(description="e.g. true (method full only).")] = False,
    attention: Annotated[Attention, Field(description='e.g. "eager" (full attention matrix).')] = "sdpa",
    autocast: Annotated[bool, Field(description="e.g. true: Trainer bf16=True (transformers).")] = False,
    router_aux_loss: Annotated[bool, Field(description="e.g. false: SFTConfig(router_aux_loss_coef=0), or UNSLOTH_BLOCK_COMPILE=0 (MoE).")] = True,
    gpu: Annotated[str | None, Field(**text_bounds("gpu"), description='By name, e.g. "RTX 4090" or "4xA100-80GB"; default: the local GPU.')] = None,
    gpu_memory_gib: Annotated[float | None, Field(**bounds("gpu_memory_gib"), description="Instead of gpu: GiB per GPU, e.g. 24.")] = None,
    bf16: Annotated[bool | None, Field(description="e.g. false on a T4 or V100; default: the GPU's.")] = None,
    detail: Annotated[bool, Field(description="e.g. true: also the background (how it is built).")] = False,
) -> VramEstimate:
    """Estimate a fine-tune's peak GPU memory (per component) and whether it fits.

    Use to check a model on the user's GPU, or after recommend_model; gives fixes when it does not fit.
    """
    if model is not None:
        check_text("model", model)
    if target_modules is not None:
        check_list("target_modules", target_modules)
    for name, value in (("seq_len", seq_len), ("batch_size", batch_size), ("lora_rank", lora_rank),
                        ("lora_dropout", lora_dropout), ("num_gpus", num_gpus), ("images_per_row", images_per_row)):
        if value is not None:
            check_range(name, value)  # before RunConfig, which would read True as 1
    resolved = resolve_model(model, architecture, params_b)
    target = resolve_gpu(gpu, gpu_memory_gib, bf16)
    storage = resolved.storage_for(method, stack)
    if said := resolved.load_note(method, stack, target.capability):
        resolved.notes.append(said)
    run = RunConfig(
        method=method, seq_len=seq_len, batch_size=batch_size, lora_rank=lora_rank,
        target_modules=tuple(target_modules) if target_modules else ALL_LINEAR, lora_dropout=lora_dropout,
        images_per_row=images_per_row, gradient_checkpointing=gradient_checkpointing, optimizer=optimizer, stack=stack,
        num_gpus=gpu_count(target, num_gpus), sharding=sharding, full_fp32_master=full_fp32_master, attention=attention,
        autocast=autocast, router_aux_loss=router_aux_loss,
        bf16=bf16 if bf16 is not None else target.bf16, storage=storage, **target.silicon,
    )
    result = report(resolved, run, target.memory_gib, target.description, detail, reserved=target.reserved_gib)
    notes = [*ineffective(run.num_gpus, sharding), *run.ignored]
    if resolved.trains_other(method, stack):  # first: the call users copy trains another run than this one
        lora = report(resolved, run.model_copy(update={"method": "lora", "storage": "16bit"}), target.memory_gib,
                      target.description, reserved=target.reserved_gib)
        notes.insert(0, resolved.other_run_warning(target.capability, lora.total_gib, lora.breakdown.weights))
    return result.model_copy(update={"assumptions": [*notes, *result.assumptions]})


def ineffective(num_gpus: int, sharding: str) -> list[str]:
    """A sharding that cannot change this estimate, said in the answer rather than silently ignored."""
    if num_gpus == 1 and sharding != "ddp":
        return [f"Sharding '{sharding}' has no effect on one GPU: the estimate is for a single GPU."]
    return []
