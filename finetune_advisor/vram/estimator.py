"""Peak GPU memory of a fine-tuning run, counted from the model's architecture (pure, no I/O).

`estimate(arch, run)` adds up what a training step holds at its peak, per GPU: weights in their
storage, LoRA adapters, gradients, optimizer states, the activations saved for the backward pass,
the logits and loss buffers, and the process overhead (CUDA context, allocator fragmentation).
The peak is the largest of three moments: the start of the backward pass (all saved activations
plus the loss buffers), the recompute of one layer under gradient checkpointing, and the optimizer
step (gradients plus optimizer temporaries). Empirical constants live in `vram_constants`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from finetune_advisor.errors import InvalidInputError
from finetune_advisor.vocabulary import (
    ALL_LINEAR,
    ATTENTIONS,
    METHODS,
    OPTIMIZERS,
    SHARDINGS,
    STACKS,
    check_range,
)
from finetune_advisor.vram import constants as k
from finetune_advisor.vram.activations import coefficients, token_bytes
from finetune_advisor.vram.architecture import Architecture
from finetune_advisor.vram.shapes import shapes

# NF4 with double quantisation (bitsandbytes defaults for QLoRA): 4 bits per weight, one 8-bit
# absmax per 64-weight block, and one fp32 absmax per 256 of those.
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)
# bitsandbytes 8-bit Adam: two 1-byte states plus an fp32 absmax per 256-value block each.
ADAM_8BIT_BYTES = 2 + 2 * 4 / 256
# Unsloth loads these families in float32 on GPUs without bf16 (reference/models.md, loader.py FORCE_FLOAT32).
FORCE_FLOAT32_PREFIXES = ("gemma3", "gemma4", "glm4moe", "gptoss", "qwen35", "qwen3moe")
# Unsloth says its dynamic 4-bit uploads take under 10% more memory than standard bnb 4-bit.
DYNAMIC_4BIT_EXTRA = 0.10


class RunConfig(BaseModel):
    """How the model is trained (plain values; validated by `check_run`)."""

    model_config = ConfigDict(frozen=True)

    method: str = "qlora"
    seq_len: int = 2048
    batch_size: int = 1
    lora_rank: int = 16
    target_modules: tuple[str, ...] = ALL_LINEAR
    lora_dropout: float = 0.0
    gradient_checkpointing: bool = True
    optimizer: str = "adamw_8bit"
    stack: str = "unsloth"
    num_gpus: int = 1
    sharding: str = "ddp"
    full_fp32_master: bool = False
    bf16: bool = True
    storage: str = "16bit"
    attention: str = "sdpa"


class Breakdown(BaseModel):
    """GiB held at the peak, per GPU; the parts add up to total_gib."""

    weights: float
    adapters: float
    gradients: float
    optimizer: float
    activations: float
    logits_and_loss: float
    overhead: float = Field(description="CUDA context, fragmentation, workspaces")


class CoreEstimate(BaseModel):
    total_gib: float
    breakdown: Breakdown
    params_b: float
    trainable_params_m: float
    assumptions: list[str]


def check_run(run: RunConfig, arch: Architecture | None = None, context_length: int | None = None) -> None:
    """Raise InvalidInputError naming the first field outside what the estimator accepts."""
    for field, allowed in (("method", METHODS), ("optimizer", OPTIMIZERS), ("stack", STACKS),
                           ("sharding", SHARDINGS), ("attention", ATTENTIONS)):
        value = getattr(run, field)
        if value not in allowed:
            raise InvalidInputError(field, f"unknown value {value!r}", "one of " + ", ".join(allowed))
    for field in ("seq_len", "batch_size", "lora_rank", "lora_dropout", "num_gpus"):
        check_range(field, getattr(run, field))
    if run.full_fp32_master and run.method != "full":
        raise InvalidInputError("full_fp32_master", "fp32 master weights apply to method 'full' only", "false unless method is 'full'")
    if run.method != "full":
        unknown = [m for m in run.target_modules if m not in ALL_LINEAR]
        if unknown or not run.target_modules:
            raise InvalidInputError("target_modules", f"unknown or empty: {unknown or '[]'}", "a non-empty subset of " + ", ".join(ALL_LINEAR))
        if arch is not None and run.lora_rank > arch.hidden_size:
            raise InvalidInputError("lora_rank", f"{run.lora_rank} is above the model's hidden size {arch.hidden_size}", f"1 to {arch.hidden_size}")
    if context_length and run.seq_len > context_length:
        raise InvalidInputError("seq_len", f"{run.seq_len} is beyond the model's context of {context_length} tokens", f"1 to {context_length}")


def forced_float32(model_type: str) -> bool:
    """True for the families Unsloth loads in float32 when the GPU has no bf16."""
    return model_type.replace("_", "").replace("-", "").replace(".", "").lower().startswith(FORCE_FLOAT32_PREFIXES)


def estimate(
    arch: Architecture,
    run: RunConfig,
    *,
    params_total: float | None = None,
    skip_16bit_params: int | None = None,
    context_length: int | None = None,
    family: str | None = None,
) -> CoreEstimate:
    """Peak memory per GPU of `run` on `arch`.

    params_total: the model's real parameter count when known (catalog), so parts the text config
    does not describe (a vision tower) are still loaded. skip_16bit_params: parameters of linear
    layers a quantised checkpoint keeps in 16-bit (its `llm_int8_skip_modules`), when known.
    family: the catalog family, which decides float32 loading when the layout is only a stand-in.
    """
    check_run(run, arch, context_length or arch.max_position_embeddings)
    s = shapes(arch)
    notes: list[str] = []
    n = run.num_gpus
    sharded = n > 1 and run.sharding in ("fsdp", "zero3")
    fp32_family = not run.bf16 and (forced_float32(arch.model_type) or forced_float32(family or ""))
    fp32_master = run.full_fp32_master or (run.method == "full" and not run.bf16)
    half = 4.0 if fp32_family else 2.0
    # transformers 5 keeps routed experts as 3-D parameters: bitsandbytes and peft skip them.
    experts_linear = run.stack == "unsloth"

    # Weights.
    extra = max(0.0, (params_total or 0) - s.total_params)
    if extra > 0.03 * s.total_params:
        notes.append(f"{extra / 1e9:.2f}B parameters the text config does not describe (e.g. a vision tower) "
                     "are counted as frozen 16-bit weights.")
    else:
        extra = 0.0
    total_params = s.total_params + extra
    shrink = 1.0
    if params_total and s.total_params > 1.1 * params_total:
        shrink, total_params = params_total / s.total_params, params_total
        notes.append(f"The config's fields add up to {s.total_params / 1e9:.0f}B parameters but the model has "
                     f"{params_total / 1e9:g}B (e.g. MoE layers alternating with dense ones); weights are scaled down to match.")
    root = s.embedding_params + s.head_params + s.hidden  # what FSDP's root unit holds
    if run.method == "qlora":
        quantized = s.linear_params - (0 if experts_linear else s.expert_params)
        skip = min(skip_16bit_params or 0, quantized)
        # prepare_model_for_kbit_training casts every parameter left in 16-bit to fp32.
        kept_bytes = 4.0 if run.stack == "transformers" else half
        weights = (quantized - skip) * NF4_BYTES + (s.total_params - quantized + skip) * kept_bytes + extra * half
        if run.storage == "unsloth-bnb-4bit" and skip_16bit_params is None:
            weights += DYNAMIC_4BIT_EXTRA * quantized * NF4_BYTES
        layer_bytes, root_bytes = s.layer_params * NF4_BYTES, root * kept_bytes
    else:
        per_param = 4.0 if fp32_master else half
        weights = total_params * per_param
        layer_bytes, root_bytes = s.layer_params * per_param, root * per_param
    weights *= shrink

    # Trainable parameters, gradients, optimizer.
    if run.method == "full":
        lora = ()
        trainable = total_params
        adapter_bytes, grad_bytes = 0.0, (4.0 if fp32_master else half)
    else:
        lora = s.lora_linears(run.target_modules, experts=experts_linear)
        trainable = s.lora_params(run.lora_rank, lora)
        # peft creates adapters in fp32 by default; Unsloth Studio's estimator charges 2 bytes.
        adapter_bytes = 2.0 if run.stack == "unsloth" else 4.0
        grad_bytes = adapter_bytes
    state_bytes, step_temp = _optimizer_bytes(run.optimizer, grad_bytes)
    paged = run.optimizer.startswith("paged_")
    adapters, grads = trainable * adapter_bytes, trainable * grad_bytes
    states, temp = (0.0 if paged else trainable * state_bytes), trainable * step_temp
    ddp_buckets = grads if n > 1 and run.sharding == "ddp" else 0.0
    root_grads = 0.0
    if sharded:
        # Each GPU keeps 1/n of everything, plus the root unit (embeddings, lm_head), which FSDP
        # does not reshard after forward, and two decoder layers gathered (current and prefetched).
        weights = weights / n + root_bytes * (1 - 1 / n) + 2 * layer_bytes
        adapters, grads, states, temp = adapters / n, grads / n, states / n, temp / n
        if run.method == "full":
            grads += s.layer_params * grad_bytes  # one layer's unsharded gradient before reduce-scatter
            root_grads = root * grad_bytes
    autocast_copies = total_params * 2.0 / (n if sharded else 1) if run.full_fp32_master else 0.0

    # Activations and loss.
    tokens = run.batch_size * run.seq_len
    coef = coefficients(run.stack, run.method, fp32_master)
    # SDPA has no fused kernel for fp32 inputs with grouped-query attention (QLoRA's fp32 stream
    # on transformers): it falls back to its math kernel, which keeps seq_len^2 scores (measured).
    # A sliding window the sequence reaches makes transformers build an explicit mask instead.
    masked = bool(arch.sliding_window and run.seq_len >= arch.sliding_window)
    math = run.method == "qlora" and run.stack == "transformers" and s.kv_width < s.q_width and not masked
    kernel = "eager" if run.attention == "eager" else "math" if math else "masked" if masked else "flash"
    tb = token_bytes(s, coef, lora, run.lora_rank, kernel, dropout=run.lora_dropout > 0,
                     width_scale=2.0 if fp32_family else 1.0, full=run.method == "full")
    scale = k.ACTIVATION_SCALE[(run.stack, run.method)]
    layer = (tb.layer * tokens + tb.attention_scores * tokens * run.seq_len) * scale
    # The backward of one layer with materialised scores needs more score-sized buffers (the
    # scores' gradient, the softmax gradient and a temporary: three by count).
    work = k.SCORE_WORK * tb.attention_scores * tokens * run.seq_len
    offloaded = run.stack == "unsloth" and run.gradient_checkpointing
    # Unsloth offloads checkpoints to CPU RAM; what stays on the GPU per layer is calibrated to a
    # published Unsloth measurement (vram_constants.UNSLOTH_CHECKPOINT_BYTES).
    per_layer = k.UNSLOTH_CHECKPOINT_BYTES * s.hidden if offloaded else tb.checkpoint
    ckpt = per_layer * tokens * s.layers
    logits = k.LOGITS_BYTES[run.stack] * tokens * s.vocab * (2.0 if fp32_family else 1.0)
    fixed = k.FIXED_ALLOCATED_GIB * k.GIB
    if run.method == "qlora":
        fixed += max(lin.fan_in * lin.fan_out for lin in s.linears) * 2.0  # one dequantised weight at a time
    base = weights + adapters + states + autocast_copies + ddp_buckets + fixed
    # (activations, loss buffers, gradients, optimizer temporaries) held at each moment; LoRA
    # gradients appear only as the backward pass proceeds (zero_grad frees them after each step).
    phases = {
        "start of backward": (ckpt if run.gradient_checkpointing else layer * s.layers, logits, 0.0, 0.0),
        "optimizer step": (0.0, 0.0, grads, temp),
    }
    if run.gradient_checkpointing:
        # Full fine-tuning frees each checkpoint as its layer's gradients arrive.
        keep = 0.0 if run.method == "full" else ckpt
        phases["layer recompute"] = (keep + layer + work, 0.0, grads + root_grads, 0.0)
    elif work:
        phases["last layer's backward"] = (layer * s.layers + work, 0.0, 0.0, 0.0)
    phase, (act, loss, grad_held, opt_temp) = max(phases.items(), key=lambda item: sum(item[1]))
    allocated = base + act + loss + grad_held + opt_temp
    # What the caching allocator reserves beyond that (fitted to the measured cells): the loss
    # buffers take one block more than they hold at once; and when the first optimizer step puts
    # its states into the blocks the loss buffers left, the next step's loss needs fresh blocks.
    loss_blocks = logits + k.LOGITS_RESERVED_EXTRA[run.stack] * tokens * s.vocab
    cross = 0.0
    if run.method == "full":  # LoRA's optimizer tensors are too small to pin the loss blocks
        before = loss_blocks if run.gradient_checkpointing else loss_blocks + layer * s.layers
        cross = k.CROSS_PHASE[run.gradient_checkpointing] * min(before, states + grads + temp)
    if run.gradient_checkpointing:  # the recomputed layer's buffers and the loss blocks differ in shape
        cross += k.CROSS_RECOMPUTE * min(loss_blocks, layer + work)
    reserved = max(allocated, base + sum(phases["start of backward"]) - logits + loss_blocks) + cross
    frag = k.FRAGMENTATION_SHARDED if sharded else k.FRAGMENTATION
    total = reserved * (1 + frag) + k.CUDA_CONTEXT_GIB * k.GIB + (k.NCCL_GIB * k.GIB if n > 1 else 0.0)
    parts = {
        "weights": weights + autocast_copies,
        "adapters": adapters,
        "gradients": grad_held + ddp_buckets,
        "optimizer": states + opt_temp,
        "activations": act,
        "logits_and_loss": loss,
    }
    gib = {name: round(v / k.GIB, 3) for name, v in parts.items()}
    total_gib = round(total / k.GIB, 3)
    breakdown = Breakdown(**gib, overhead=round(total_gib - sum(gib.values()), 3))
    notes += _assumptions(run, phase, fp32_family, fp32_master, offloaded, skip_16bit_params, s.router_width > 0, kernel)
    if paged:
        notes.append(f"{run.optimizer} keeps its states ({trainable * state_bytes / n / k.GIB:.2f} GiB) in "
                     "unified memory outside PyTorch's allocator; the driver moves them to CPU RAM when the GPU "
                     "is full, so they are not counted.")
    return CoreEstimate(
        total_gib=total_gib,
        breakdown=breakdown,
        params_b=round(total_params / 1e9, 3),
        trainable_params_m=round(trainable / 1e6, 3),
        assumptions=notes,
    )


def _optimizer_bytes(optimizer: str, param_bytes: float) -> tuple[float, float]:
    """(state bytes, optimizer-step temporary bytes) per trainable parameter."""
    if optimizer == "adamw_torch":
        # torch AdamW keeps exp_avg and exp_avg_sq in the parameter dtype; its foreach step makes
        # one more parameter-sized temporary (the square root of exp_avg_sq).
        return 2 * param_bytes, param_bytes
    if optimizer == "adamw_torch_fused":
        return 2 * param_bytes, 0.0
    if optimizer == "paged_adamw_32bit":
        return 8.0, 0.0  # two fp32 states, whatever the parameter dtype
    return ADAM_8BIT_BYTES, 0.0


def _assumptions(run: RunConfig, phase: str, fp32_family: bool, fp32_master: bool,
                 offloaded: bool, skip: int | None, moe: bool, kernel: str) -> list[str]:
    notes = [f"Peak per GPU is at the {phase}; the breakdown lists what is held at that moment."]
    if run.method == "qlora":
        notes.append("QLoRA: decoder linear layers in NF4 with double quantisation (about 0.52 bytes per weight).")
        if run.stack == "transformers":
            notes.append("transformers stack: prepare_model_for_kbit_training casts embeddings, lm_head and norms to fp32.")
        if run.storage == "unsloth-bnb-4bit":
            notes.append("-unsloth-bnb-4bit keeps some layers in 16-bit: " + (
                "the checkpoint's own list of skipped modules is counted." if skip is not None else
                "counted as 10% more weight memory than -bnb-4bit, the upper bound Unsloth gives for its dynamic 4-bit."))
    elif run.storage != "16bit":
        notes.append(f"A 4-bit checkpoint cannot be trained with {run.method}; its 16-bit original is assumed.")
    if run.method != "full":
        where = "bf16 (as Unsloth Studio's estimator charges them)" if run.stack == "unsloth" else "fp32 (peft's default)"
        notes.append(f"LoRA rank {run.lora_rank} on {', '.join(run.target_modules)}; adapters and their gradients in {where}.")
        if moe and run.stack == "transformers":
            notes.append("MoE on transformers: routed experts are 3-D parameters, so LoRA and 4-bit quantisation skip "
                         "them and they stay in 16-bit (fp32 after prepare_model_for_kbit_training).")
    if fp32_master:
        notes.append("Full fine-tuning with fp32 master weights; autocast keeps a bf16 copy of each weight for the backward pass."
                     if run.bf16 else "Without bf16, full fine-tuning keeps fp32 master weights (fp16 mixed precision).")
    if not run.bf16:
        notes.append("No bf16 on this GPU (compute capability below 8.0): training in fp16."
                     + (" This family is loaded in float32 there, doubling its 16-bit memory." if fp32_family else ""))
    if run.gradient_checkpointing:
        notes.append("Gradient checkpointing: " + ("Unsloth's offloaded checkpointing; what stays on the GPU per token is "
                     "calibrated to Unsloth+FA2 measurements published in LLaMA-Factory's wiki." if offloaded
                     else "one residual-stream tensor kept per layer, one layer recomputed at a time."))
    notes.append("Attention: " + {
        "flash": "SDPA (flash / memory-efficient kernel), no sequence-squared term.",
        "math": "SDPA falls back to its math kernel (fp32 inputs with grouped-query attention), keeping "
                "the seq_len x seq_len scores of every head.",
        "masked": "SDPA's memory-efficient kernel with a sliding-window mask (k and v expanded to every head).",
        "eager": "eager, keeping the full attention matrix of every head."}[kernel])
    if run.num_gpus > 1:
        notes.append(f"{run.num_gpus} GPUs with {run.sharding}: " + (
            "parameters, gradients and optimizer states sharded, two layers gathered at a time."
            if run.sharding != "ddp" else "each GPU holds the whole model plus gradient buckets."))
    if run.stack == "unsloth":
        notes.append("Unsloth stack, not fitted to our measurements: the checkpoint memory follows Unsloth+FA2 peaks "
                     "published in LLaMA-Factory's wiki; bf16 adapters follow Unsloth Studio's estimator; the fused-kernel "
                     "activations and a cross-entropy kernel keeping 4 bytes per vocabulary entry are assumed from "
                     "Unsloth's design. Allocator and context figures are our transformers measurements. On the few "
                     "Unsloth runs we measured (Llama-3.2-1B QLoRA, 2k-8k tokens, H100) the real peak was 24-50 % "
                     "lower: read this figure as an upper bound (bench/vram_accuracy/README.md).")
    notes.append(f"Empirical constants: {k.FIT_SOURCE}.")
    return notes
