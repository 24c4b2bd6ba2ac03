"""The `plan_training` tool: the longest context, micro-batch and rank that fit a GPU, the steps, and
how long and how much the run takes (`plan.planner`). The CLI (`finetune-advisor plan`) calls it too."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from pydantic import Field

from finetune_advisor.lookup.gpu import gpu_count, resolve_gpu
from finetune_advisor.lookup.model import resolve_model
from finetune_advisor.plan import dataset as data
from finetune_advisor.plan.planner import PlanRequest, choose_method, plan, with_method
from finetune_advisor.plan.result import TrainingPlan
from finetune_advisor.vocabulary import MethodRequest, Sharding, Stack, bounds, text_bounds
from finetune_advisor.vram.estimator import RunConfig


def plan_training(
    model: Annotated[str | None, Field(min_length=1, **text_bounds("model"), description='Catalog id or HF repo id, e.g. "qwen3-8b".')] = None,
    architecture: Annotated[dict[str, Any] | None, Field(description='Instead of model: config.json fields, e.g. {"model_type": "llama", "num_hidden_layers": 16, "hidden_size": 2048, "num_attention_heads": 32, "vocab_size": 128256}.')] = None,
    params_b: Annotated[float | None, Field(**bounds("params_b"), description="Instead of model: billions of parameters, e.g. 7 (coarse).")] = None,
    gpu: Annotated[str | None, Field(**text_bounds("gpu"), description='By name, e.g. "RTX 4090" or "2xA100-80GB" (needed for time).')] = None,
    gpu_memory_gib: Annotated[float | None, Field(**bounds("gpu_memory_gib"), description="Instead of gpu: GiB per GPU, e.g. 24 (no time).")] = None,
    num_gpus: Annotated[int | None, Field(**bounds("num_gpus"), description="e.g. 2; default: 1, or the count in gpu.")] = None,
    method: Annotated[MethodRequest, Field(description='e.g. "lora"; auto: LoRA where Unsloth Studio\'s rule and our estimate allow it, else QLoRA.')] = "auto",
    stack: Annotated[Stack, Field(description='e.g. "transformers" (+peft, bitsandbytes, TRL).')] = "unsloth",
    lora_rank: Annotated[int, Field(**bounds("lora_rank"), description="e.g. 32.")] = 16,
    search_rank: Annotated[bool, Field(description="e.g. true: also find the largest rank that fits.")] = False,
    seq_len: Annotated[int | None, Field(**bounds("seq_len"), description="Hold this seq_len, e.g. 4096; default: search.")] = None,
    batch_size: Annotated[int | None, Field(**bounds("batch_size"), description="Hold this micro-batch, e.g. 1; default: search.")] = None,
    dataset_rows: Annotated[int | None, Field(**bounds("dataset_rows"), description="Training rows, e.g. 50000.")] = None,
    tokens_per_row: Annotated[float | None, Field(**bounds("tokens_per_row"), description="Mean tokens per row, e.g. 350.")] = None,
    longest_row: Annotated[int | None, Field(**bounds("longest_row"), description="Tokens in the longest row, e.g. 3100.")] = None,
    images_per_row: Annotated[int, Field(**bounds("images_per_row"), description="Images per row (vision), e.g. 1.")] = 0,
    epochs: Annotated[float, Field(**bounds("epochs"), description="Passes over the data, e.g. 3.")] = 1.0,
    effective_batch: Annotated[int, Field(**bounds("effective_batch"), description="Rows per optimizer step, e.g. 16.")] = 16,
    price_per_hour: Annotated[float | None, Field(**bounds("price_per_hour"), description="Per GPU-hour, e.g. 2.5.")] = None,
    sharding: Annotated[Sharding, Field(description='e.g. "fsdp"; only with several GPUs.')] = "ddp",
    autocast: Annotated[bool, Field(description="e.g. true: Trainer bf16=True (transformers).")] = False,
    router_aux_loss: Annotated[bool, Field(description="e.g. false: SFTConfig(router_aux_loss_coef=0), or UNSLOTH_BLOCK_COMPILE=0 (MoE).")] = True,
) -> TrainingPlan:
    """Plan a fine-tuning run on a GPU: longest seq_len, micro-batch and rank that fit, steps, time and cost.

    Use after choosing a model, when the user asks how long training takes, what batch or context to use, or the cost.
    """
    resolved = resolve_model(model, architecture, params_b)
    target = resolve_gpu(gpu, gpu_memory_gib)
    facts = data.given(dataset_rows, tokens_per_row, longest_row)
    run = RunConfig(
        method="qlora" if method == "auto" else method, seq_len=seq_len or 2048, batch_size=batch_size or 1,
        lora_rank=lora_rank, images_per_row=images_per_row, stack=stack, num_gpus=gpu_count(target, num_gpus),
        sharding=sharding, bf16=target.bf16, autocast=autocast, router_aux_loss=router_aux_loss,
        storage=resolved.storage_for("qlora" if method == "auto" else method, stack), **target.silicon,
    )
    req = PlanRequest(resolved, run, target, facts, epochs, effective_batch, price_per_hour,
                      fixed_seq_len=seq_len is not None, fixed_batch=batch_size is not None, search_rank=search_rank,
                      given_longest=longest_row)
    said = run.ignored
    if method == "auto":
        chosen, why, aux_off = choose_method(req)
        chosen_run = with_method(req, run, chosen)
        req = replace(req, run=chosen_run.model_copy(update={"router_aux_loss": False}) if aux_off else chosen_run)
        said.insert(0, why)
    result = plan(req)
    if resolved.trains_other(req.run.method, stack):  # the call users copy would train another run than this plan's
        said.insert(0, resolved.other_run_warning(target.capability))
    elif fp8_said := resolved.fp8_note(req.run.method, stack, target.capability):
        said.append(fp8_said)
    return result.model_copy(update={"notes": [*said, *result.notes]}) if said else result
