"""Peak GPU memory of a fine-tuning run, counted from the model's architecture (pure, no I/O).

`estimate(arch, run)` adds up what a training step holds at its peak, per GPU, term by term:
`precision` (the dtype of 16-bit tensors), `weights` (in their storage, sharded or not),
`training_state` (adapters, gradients, optimizer states), `activations` (what the backward pass
keeps, and one layer's recompute), `loss` (the logits and loss buffers), `phases` (the largest of
three moments: the start of the backward pass, a layer's recompute under gradient checkpointing,
the optimizer step) and `reserved` (what the caching allocator holds beyond that, plus the CUDA
context). Each term returns its bytes and the sentences that explain it; fitted constants live in
`constants`, per-family facts in `families`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
from finetune_advisor.vram import fit
from finetune_advisor.vram.activations import Coefficients, coefficients, encoder_token_bytes, token_bytes
from finetune_advisor.vram.architecture import Architecture
from finetune_advisor.vram.families import experts_16bit_in_older_unsloth, first_step_transient, forced_float32
from finetune_advisor.vram.shapes import Linear, Shapes, shapes

# NF4 with double quantisation (bitsandbytes defaults for QLoRA): 4 bits per weight, one 8-bit
# absmax per 64-weight block, and one fp32 absmax per 256 of those.
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)
# bitsandbytes 8-bit Adam: two 1-byte states plus an fp32 absmax per 256-value block each.
ADAM_8BIT_BYTES = 2 + 2 * 4 / 256
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
    offload_embedding: bool = False  # Unsloth moved the (untied) input embedding to host RAM

    @property
    def sharded(self) -> bool:
        return self.num_gpus > 1 and self.sharding in ("fsdp", "zero3")

    @property
    def tokens(self) -> int:
        return self.batch_size * self.seq_len


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
    assumptions: list[str]  # what matters for this model, run and GPU
    background: list[str] = []  # how every estimate of this kind is built (method, measurements)
    margin: float = fit.TIGHT_FRACTION  # the error to expect, as a share of total_gib (fit.judge's margin)


def check_run(run: RunConfig, arch: Architecture | None = None, context_length: int | None = None) -> None:
    """Raise InvalidInputError naming the first field outside what the estimator accepts."""
    for name, allowed in (("method", METHODS), ("optimizer", OPTIMIZERS), ("stack", STACKS),
                          ("sharding", SHARDINGS), ("attention", ATTENTIONS)):
        value = getattr(run, name)
        if value not in allowed:
            raise InvalidInputError(name, f"unknown value {value!r}", "one of " + ", ".join(allowed))
    for name in ("seq_len", "batch_size", "lora_rank", "lora_dropout", "num_gpus"):
        check_range(name, getattr(run, name))
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


# --- precision ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Precision:
    fp32_compute: bool  # no bf16, and Unsloth trains this family without fp16 autocast (fp32 activations)
    fp32_master: bool  # fp32 master weights (asked for, or full fine-tuning in fp16)
    half: float  # bytes of a 16-bit weight (fp16 or bf16)
    notes: list[str]
    experts_nf4: bool = True  # QLoRA quantises the routed experts (transformers 5 keeps them as 3-D parameters)


def precision(arch: Architecture, run: RunConfig, float32_without_bf16: bool | None) -> Precision:
    """Unsloth keeps the weights of its float32-forced families in fp16 on GPUs without bf16, but trains
    them without fp16 autocast, so their activations and loss are fp32 (unsloth_zoo patching_utils;
    unsloth rl.py "Switching to float32 training")."""
    forced = forced_float32(arch.model_type) if float32_without_bf16 is None else float32_without_bf16
    fp32_compute = not run.bf16 and run.stack == "unsloth" and forced
    fp32_master = run.full_fp32_master or (run.method == "full" and not run.bf16)
    notes = []
    if fp32_master:
        notes.append("Full fine-tuning with fp32 master weights; autocast keeps a bf16 copy of each weight for the backward pass."
                     if run.bf16 else "Without bf16, full fine-tuning keeps fp32 master weights (fp16 mixed precision).")
    if not run.bf16:
        notes.append("No bf16 on this GPU (compute capability below 8.0): weights in fp16."
                     + (" Unsloth trains this family without fp16 autocast (it overflows fp16), so its activations "
                        "and loss are fp32." if fp32_compute else " Training in fp16 mixed precision."))
    # bitsandbytes quantises nn.Linear only: the transformers stack leaves 3-D expert parameters in 16-bit;
    # the calibrated Unsloth quantises them (older versions did not, for some families).
    experts_nf4 = run.stack == "unsloth"
    older = experts_16bit_in_older_unsloth(arch.model_type)
    if run.method == "qlora" and arch.is_moe and not experts_nf4:
        notes.append("QLoRA: the routed experts stay 16-bit (bitsandbytes quantises nn.Linear layers only, and this "
                     "model keeps its experts as 3-D parameters); only the other linear layers are 4-bit.")
    elif run.method == "qlora" and arch.is_moe and older:
        more = shapes(arch).expert_params * (2 - NF4_BYTES) / 2**30
        notes.append(f"QLoRA: the routed experts are 4-bit in the Unsloth version this is calibrated for (2026.10.9); "
                     f"{older} left them 16-bit: about {more:.0f} GiB more. Use a current Unsloth.")
    return Precision(fp32_compute, fp32_master, 2.0, notes, experts_nf4)


# --- weights -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Weights:
    bytes: float  # per GPU, sharding applied
    total_params: float  # the model's parameters (the config's, or the catalog's count)
    layer_bytes: float  # one decoder layer, as FSDP gathers it
    root_bytes: float  # embeddings, lm_head and final norm: FSDP's root unit
    autocast_copies: float  # bf16 copies of fp32 master weights
    notes: list[str]  # parameters the config does not describe
    storage_notes: list[str]  # how these weights are stored, where it is particular to this run
    background: list[str]  # how weights are stored for every run of this method and stack


def weights(s: Shapes, run: RunConfig, p: Precision, params_total: float | None, skip: int | None) -> Weights:
    """The model's parameters in their storage: NF4 for QLoRA's linear layers, else 16 or 32 bits."""
    notes: list[str] = []
    storage: list[str] = []
    background: list[str] = []
    # Parameters the text config does not describe (a vision tower: Gemma 4 26B-A4B's 0.57B, 2 % of it, measured
    # 16-bit under Unsloth) are frozen 16-bit weights, whatever their share; a large share is said.
    extra = max(0.0, (params_total or 0) - s.total_params)
    if extra > 0.03 * s.total_params:
        notes.append(f"{extra / 1e9:.2f}B parameters the text config does not describe (e.g. a vision tower) "
                     "are counted as frozen 16-bit weights.")
    total_params = s.total_params + extra
    shrink = 1.0
    if params_total and s.total_params > 1.1 * params_total:
        shrink, total_params = params_total / s.total_params, params_total
        notes.append(f"The config's fields add up to {s.total_params / 1e9:.0f}B parameters but the model has "
                     f"{params_total / 1e9:g}B (e.g. MoE layers alternating with dense ones); weights are scaled down to match.")
    root = s.embedding_params + s.head_params + s.hidden
    if run.method == "qlora":
        quantized = s.linear_params - (0 if p.experts_nf4 else s.expert_params)
        kept = min(skip or 0, quantized)
        # prepare_model_for_kbit_training casts every parameter left in 16-bit to fp32.
        kept_bytes = 4.0 if run.stack == "transformers" else p.half
        held = (quantized - kept) * NF4_BYTES + (s.total_params - quantized + kept) * kept_bytes + extra * p.half
        if run.storage == "unsloth-bnb-4bit" and skip is None:
            held += DYNAMIC_4BIT_EXTRA * quantized * NF4_BYTES
        layer_bytes, root_bytes = s.layer_params * NF4_BYTES, root * kept_bytes
        background.append("QLoRA: decoder linear layers in NF4 with double quantisation (about 0.52 bytes per weight).")
        if run.stack == "transformers":
            background.append("transformers stack: prepare_model_for_kbit_training casts embeddings, lm_head and norms to fp32.")
        if run.storage == "unsloth-bnb-4bit":
            storage.append("-unsloth-bnb-4bit keeps some layers in 16-bit: " + (
                "the checkpoint's own list of skipped modules is counted." if skip is not None else
                "counted as 10% more weight memory than -bnb-4bit, the upper bound Unsloth gives for its dynamic 4-bit."))
    else:
        per_param = 4.0 if p.fp32_master else p.half
        held = (s.total_params + extra) * per_param  # scaled by `shrink` below, like the QLoRA branch
        layer_bytes, root_bytes = s.layer_params * per_param, root * per_param
        if run.storage != "16bit":
            storage.append(f"A 4-bit checkpoint cannot be trained with {run.method}; its 16-bit original is assumed.")
    held *= shrink
    if run.offload_embedding and not s.tied:
        held -= (s.embedding_params - s.ple_params) * p.half
        storage.append("Unsloth moves the input embedding to host RAM when the GPU is tight (offload_embedding='auto'): "
                       "it is not counted, and needs that much CPU RAM instead.")
    n = run.num_gpus
    if run.sharded:
        # Each GPU keeps 1/n, plus the root unit (FSDP does not reshard it after forward) and two
        # decoder layers gathered (the current one and the prefetched one).
        held = held / n + root_bytes * (1 - 1 / n) + 2 * layer_bytes
    autocast = total_params * 2.0 / (n if run.sharded else 1) if run.full_fp32_master else 0.0
    return Weights(held, total_params, layer_bytes, root_bytes, autocast, notes, storage, background)


# --- adapters, gradients, optimizer ------------------------------------------------------------


@dataclass(frozen=True)
class TrainingState:
    trainable: float
    adapters: float  # per GPU
    grads: float  # per GPU, once the backward pass has produced them all
    states: float  # optimizer states held by PyTorch's allocator
    temp: float  # the optimizer step's temporaries
    ddp_buckets: float  # DDP's gradient buckets
    root_grads: float  # FSDP full fine-tuning: the root unit's unsharded gradient
    lora: tuple[Linear, ...]
    notes: list[str]
    background: list[str]
    paged_note: str | None


def training_state(s: Shapes, run: RunConfig, p: Precision, total_params: float) -> TrainingState:
    """What training adds: LoRA adapters (or every weight for full), their gradients and Adam's states."""
    notes: list[str] = []
    background: list[str] = []
    if run.method == "full":
        lora: tuple[Linear, ...] = ()
        trainable = total_params
        adapter_bytes, grad_bytes = 0.0, (4.0 if p.fp32_master else p.half)
    else:
        unsloth = run.stack == "unsloth"
        lora = s.lora_linears(run.target_modules, experts=unsloth)
        trainable = s.lora_params(run.lora_rank, lora, fused_experts=unsloth)
        # peft and Unsloth both create the adapters in fp32 (measured: 4 bytes per trainable parameter).
        adapter_bytes = grad_bytes = 4.0
        background.append(f"LoRA rank {run.lora_rank} on {', '.join(run.target_modules)}; adapters and their gradients in fp32.")
        if unsloth and s.router_width > 0:
            notes.append("MoE on Unsloth: LoRA reaches the routed experts too (one adapter pair on the fused gate_up "
                         "matrix, one on down_proj), hundreds of millions of fp32 trainable parameters on 30B-class models.")
        if s.router_width > 0 and run.stack == "transformers":
            notes.append("MoE on transformers: routed experts are 3-D parameters, so LoRA and 4-bit quantisation skip "
                         "them and they stay in 16-bit (fp32 after prepare_model_for_kbit_training).")
    state_bytes, step_temp = _optimizer_bytes(run.optimizer, grad_bytes)
    n = run.num_gpus
    paged = run.optimizer.startswith("paged_")
    adapters, grads = trainable * adapter_bytes, trainable * grad_bytes
    states, temp = (0.0 if paged else trainable * state_bytes), trainable * step_temp
    ddp_buckets = grads if n > 1 and run.sharding == "ddp" else 0.0
    root_grads = 0.0
    if run.sharded:
        adapters, grads, states, temp = adapters / n, grads / n, states / n, temp / n
        if run.method == "full":
            grads += s.layer_params * grad_bytes  # one layer's unsharded gradient before reduce-scatter
            root_grads = (s.embedding_params + s.head_params + s.hidden) * grad_bytes
    paged_note = (f"{run.optimizer} keeps its states ({trainable * state_bytes / n / k.GIB:.2f} GiB) in "
                  "unified memory outside PyTorch's allocator; the driver moves them to CPU RAM when the GPU "
                  "is full, so they are not counted.") if paged else None
    return TrainingState(trainable, adapters, grads, states, temp, ddp_buckets, root_grads, lora, notes, background, paged_note)


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


# --- activations -------------------------------------------------------------------------------

_KERNEL_NOTES = {
    "flash": "SDPA (flash / memory-efficient kernel), no sequence-squared term.",
    "math": "SDPA falls back to its math kernel (fp32 inputs with grouped-query attention), keeping "
            "the seq_len x seq_len scores of every head.",
    "masked": "SDPA's memory-efficient kernel with a sliding-window mask (k and v expanded to every head).",
    "eager": "eager, keeping the full attention matrix of every head.",
}


@dataclass(frozen=True)
class Activations:
    layer: float  # one layer's saved activations for the whole micro-batch (the largest, encoder-decoders)
    work: float  # the extra score-sized buffers of one layer's backward
    checkpoints: float  # what gradient checkpointing keeps for all layers
    notes: list[str]  # an attention kernel that keeps seq_len x seq_len scores
    background: list[str]  # checkpointing and the flash kernel, as every such run has them
    all_layers: float  # every layer's saved activations, without checkpointing


def text_tokens(arch: Architecture, run: RunConfig) -> int:
    """Tokens a step's decoder runs over: batch x seq_len, at most max_target_positions a row (Whisper: 448)."""
    return run.batch_size * min(run.seq_len, arch.max_target_positions or run.seq_len)


def encoder_frames(s: Shapes, run: RunConfig) -> int:
    """Positions a step's speech encoder runs over, whatever seq_len: batch x frames (0 without an encoder)."""
    return run.batch_size * s.encoder.frames if s.encoder else 0


def activations(arch: Architecture, s: Shapes, run: RunConfig, p: Precision, lora: tuple[Linear, ...]) -> Activations:
    """What the backward pass needs: every layer's activations, or checkpoints plus one recomputed layer."""
    coef = coefficients(run.stack, run.method, p.fp32_master)
    # SDPA has no fused kernel for fp32 inputs with grouped-query attention (QLoRA's fp32 stream
    # on transformers): it falls back to its math kernel, which keeps seq_len^2 scores (measured).
    # A sliding window the sequence reaches makes transformers build an explicit mask instead.
    masked = bool(arch.sliding_window and run.seq_len >= arch.sliding_window)
    math = run.method == "qlora" and run.stack == "transformers" and s.kv_width < s.q_width and not masked
    kernel = "eager" if run.attention == "eager" else "math" if math else "masked" if masked else "flash"
    tb = token_bytes(s, coef, lora, run.lora_rank, kernel, dropout=run.lora_dropout > 0,
                     width_scale=2.0 if p.fp32_compute else 1.0, full=run.method == "full")
    scale = k.ACTIVATION_SCALE[(run.stack, run.method)]
    tokens = text_tokens(arch, run)
    seq = tokens // run.batch_size
    layer = (tb.layer * tokens + tb.attention_scores * tokens * seq) * scale
    # The backward of one layer with materialised scores needs more score-sized buffers (the
    # scores' gradient, the softmax gradient and a temporary: three by count).
    work = k.SCORE_WORK * tb.attention_scores * tokens * seq
    offloaded = run.stack == "unsloth" and run.gradient_checkpointing
    # Unsloth offloads checkpoints to CPU RAM; what stays on the GPU per layer is calibrated to a
    # published Unsloth measurement (constants.UNSLOTH_CHECKPOINT_BYTES).
    per_layer = k.UNSLOTH_CHECKPOINT_BYTES * s.hidden if offloaded else tb.checkpoint
    checkpoints, all_layers = per_layer * tokens * s.layers, layer * s.layers
    if s.encoder:  # cross-attention over the frames in each decoder layer; the encoder's own layers
        frames, enc_layers = encoder_frames(s, run), s.encoder.blocks.layers
        enc_layer = _encoder_layer(s, run, coef, kernel, p, lora) * scale
        layer += tb.frames * frames * scale
        all_layers = layer * s.layers + enc_layer * enc_layers
        checkpoints += per_layer * frames * (enc_layers + 1)  # + the encoder output the decoder reads
        layer = max(layer, enc_layer)
    background = []
    if run.gradient_checkpointing:
        background.append("Gradient checkpointing: " + ("Unsloth's offloaded checkpointing; what stays on the GPU per token is "
                     "calibrated to Unsloth+FA2 measurements published in LLaMA-Factory's wiki." if offloaded
                     else "one residual-stream tensor kept per layer, one layer recomputed at a time."))
    attention = "Attention: " + _KERNEL_NOTES[kernel]
    notes = [] if kernel == "flash" else [attention]
    if kernel == "flash":
        background.append(attention)
    return Activations(layer, work, checkpoints, notes, background, all_layers)


def _encoder_layer(s: Shapes, run: RunConfig, coef: Coefficients, kernel: str, p: Precision,
                   lora: tuple[Linear, ...]) -> float:
    """What one speech-encoder layer saves for backward, in bytes, over every frame of the micro-batch."""
    frames = encoder_frames(s, run)
    enc = encoder_token_bytes(s, coef, lora, run.lora_rank, "eager" if kernel == "eager" else "flash",
                              run.lora_dropout > 0, 2.0 if p.fp32_compute else 1.0)
    return enc.layer * frames + enc.attention_scores * frames * (s.encoder.frames if s.encoder else 0)


# --- logits and loss ---------------------------------------------------------------------------


def loss(s: Shapes, run: RunConfig, p: Precision, tokens: int) -> tuple[float, float]:
    """(bytes the logits and loss hold at the start of backward, bytes the allocator reserves for them)."""
    logits = k.LOGITS_BYTES[run.stack] * tokens * s.vocab * (2.0 if p.fp32_compute else 1.0)
    # The loss buffers take one block more than they hold at once (fitted to the measured cells).
    return logits, logits + k.LOGITS_RESERVED_EXTRA[run.stack] * tokens * s.vocab


# --- the Unsloth stack, as measured --------------------------------------------------------------


@dataclass(frozen=True)
class UnslothStep:
    """What a LoRA/QLoRA step on Unsloth holds beyond weights and training state (bytes), fitted to
    our measurements (bench/vram_calibration/data/unsloth_sft_1gpu.jsonl): its offloaded checkpointing
    leaves about one layer's recompute on the GPU, whatever the depth; its chunked loss is bounded."""

    fixed: float
    activations: float
    loss: float
    moe: float  # the experts' dequantised or gathered weights of one layer, and the first-step transient
    gap: float  # what the allocator reserves beyond what is allocated (expandable segments)


def unsloth_step(arch: Architecture, s: Shapes, run: RunConfig, p: Precision, lora: tuple[Linear, ...]) -> UnslothStep:
    coef, width = coefficients("unsloth", run.method, False), 2.0 if p.fp32_compute else 1.0
    tb = token_bytes(s, coef, lora, run.lora_rank, "flash", dropout=run.lora_dropout > 0, width_scale=width)
    moe = s.router_width > 0
    tokens = text_tokens(arch, run)
    act = k.UNSLOTH_LAYER_SCALE[moe] * tb.layer * tokens
    loss = 0.0
    if arch.final_logit_softcapping:
        loss = k.UNSLOTH_SOFTCAP_VOCAB_BYTES * s.vocab * tokens * width
    if s.encoder:
        act, loss = _unsloth_encoder_decoder(s, run, p, lora, tb.layer * tokens + tb.frames * encoder_frames(s, run),
                                             tokens)
    experts = s.expert_bytes_16bit
    # The first-step transient was measured at 2048 tokens (7.2 GiB on Qwen3-30B-A3B) and was absent
    # at 512; below 2048 it is scaled down with the tokens, above it is held at its measured size.
    transient = first_step_transient(arch.model_type) * experts * min(1.0, tokens / 2048)
    moe_bytes = k.UNSLOTH_MOE_LAYER_SHARE * experts / s.layers + transient
    fixed = k.UNSLOTH_FIXED_GIB * k.GIB
    if run.method == "qlora":
        fixed += max(lin.fan_in * lin.fan_out for lin in s.linears if not lin.expert) * 2.0  # one dequantised weight
    gap = k.UNSLOTH_RESERVED_SHARE * (act + loss + moe_bytes) + k.UNSLOTH_RESERVED_GIB * k.GIB
    return UnslothStep(fixed, act, loss, moe_bytes, gap)


def _unsloth_encoder_decoder(s: Shapes, run: RunConfig, p: Precision, lora: tuple[Linear, ...], decoder: float,
                             tokens: int) -> tuple[float, float]:
    """(activations, loss) of a Whisper step on Unsloth. About one layer's recompute stays on the GPU, as measured
    on decoder-only models: the larger of a decoder layer (its tokens, plus cross-attention over the frames) and an
    encoder layer (its frames); beside it, the encoder output every decoder layer reads, which Unsloth's offloading
    does not move (it offloads a checkpointed layer's first argument only; counted at 4 bytes an element, the
    encoder's last LayerNorm running in fp32 under autocast). Unsloth's fused loss takes only *ForCausalLM classes
    (unsloth_zoo fused_losses/forward_install.py), so Whisper's own loss over its full logits is counted, as on
    the transformers stack."""
    encoder = _encoder_layer(s, run, coefficients("unsloth", run.method, False), "flash", p, lora)
    output = 4.0 * encoder_frames(s, run) * s.hidden
    return k.UNSLOTH_LAYER_SCALE[False] * max(decoder, encoder) + output, loss(s, run, p, tokens)[0]


# --- phases and the allocator ------------------------------------------------------------------


@dataclass(frozen=True)
class Peak:
    phase: str
    activations: float
    loss: float
    grads: float
    optimizer_temp: float
    phases: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)

    @property
    def held(self) -> float:
        return self.activations + self.loss + self.grads + self.optimizer_temp


def phases(run: RunConfig, act: Activations, logits: float, state: TrainingState) -> Peak:
    """The moment of the step that holds the most (activations, loss, gradients, optimizer temporaries)."""
    # LoRA gradients appear only as the backward pass proceeds (zero_grad frees them after each step).
    held = {
        "start of backward": (act.checkpoints if run.gradient_checkpointing else act.all_layers, logits, 0.0, 0.0),
        "optimizer step": (0.0, 0.0, state.grads, state.temp),
    }
    if run.gradient_checkpointing:
        # Full fine-tuning frees each checkpoint as its layer's gradients arrive.
        keep = 0.0 if run.method == "full" else act.checkpoints
        held["layer recompute"] = (keep + act.layer + act.work, 0.0, state.grads + state.root_grads, 0.0)
    elif act.work:
        held["last layer's backward"] = (act.all_layers + act.work, 0.0, 0.0, 0.0)
    name, (a, l_, g, t) = max(held.items(), key=lambda item: sum(item[1]))
    return Peak(name, a, l_, g, t, held)


def reserved(run: RunConfig, base: float, peak: Peak, act: Activations, logits: float, loss_blocks: float,
             state: TrainingState) -> float:
    """Device memory the process shows: the allocator's peak reservation, fragmentation, context, NCCL."""
    allocated = base + peak.held
    # When the first optimizer step puts its states into the blocks the loss buffers left, the next
    # step's loss needs fresh blocks (full fine-tuning: LoRA's optimizer tensors are too small).
    cross = 0.0
    if run.method == "full":
        before = loss_blocks if run.gradient_checkpointing else loss_blocks + act.all_layers
        cross = k.CROSS_PHASE[run.gradient_checkpointing] * min(before, state.states + state.grads + state.temp)
    if run.gradient_checkpointing:  # the recomputed layer's buffers and the loss blocks differ in shape
        cross += k.CROSS_RECOMPUTE * min(loss_blocks, act.layer + act.work)
    held = max(allocated, base + sum(peak.phases["start of backward"]) - logits + loss_blocks) + cross
    frag = k.FRAGMENTATION_SHARDED if run.sharded else k.FRAGMENTATION
    return held * (1 + frag) + k.CUDA_CONTEXT_GIB * k.GIB + (k.NCCL_GIB * k.GIB if run.num_gpus > 1 else 0.0)


# --- the estimate ------------------------------------------------------------------------------


def estimate(
    arch: Architecture,
    run: RunConfig,
    *,
    params_total: float | None = None,
    skip_16bit_params: int | None = None,
    context_length: int | None = None,
    float32_without_bf16: bool | None = None,
) -> CoreEstimate:
    """Peak memory per GPU of `run` on `arch`.

    params_total: the model's real parameter count when known (catalog), so parts the text config
    does not describe (a vision tower) are still loaded. skip_16bit_params: parameters of linear
    layers a quantised checkpoint keeps in 16-bit (its `llm_int8_skip_modules`), when known.
    float32_without_bf16: the catalog family's advice (Unsloth loads it in float32 on GPUs without bf16);
    None for a model outside the catalog, whose config's model_type then decides by Unsloth's list.
    """
    check_run(run, arch, context_length or arch.max_position_embeddings)
    s = shapes(arch)
    p = precision(arch, run, float32_without_bf16)
    w = weights(s, run, p, params_total, skip_16bit_params)
    state = training_state(s, run, p, w.total_params)
    if run.stack == "unsloth" and run.gradient_checkpointing and run.method != "full":
        return _unsloth_estimate(arch, s, run, p, w, state)
    act = activations(arch, s, run, p, state.lora)
    logits, loss_blocks = loss(s, run, p, text_tokens(arch, run))
    fixed = k.FIXED_ALLOCATED_GIB * k.GIB
    if run.method == "qlora":
        fixed += max(lin.fan_in * lin.fan_out for lin in s.linears) * 2.0  # one dequantised weight at a time
    base = w.bytes + state.adapters + state.states + w.autocast_copies + state.ddp_buckets + fixed
    peak = phases(run, act, logits, state)
    total = reserved(run, base, peak, act, logits, loss_blocks, state)
    parts = {
        "weights": w.bytes + w.autocast_copies, "adapters": state.adapters, "gradients": peak.grads + state.ddp_buckets,
        "optimizer": state.states + peak.optimizer_temp, "activations": peak.activations, "logits_and_loss": peak.loss,
    }
    gib = {name: round(v / k.GIB, 3) for name, v in parts.items()}
    total_gib = round(total / k.GIB, 3)
    return CoreEstimate(
        total_gib=total_gib,
        breakdown=Breakdown(**gib, overhead=round(total_gib - sum(gib.values()), 3)),
        params_b=round(w.total_params / 1e9, 3),
        trainable_params_m=round(state.trainable / 1e6, 3),
        assumptions=_assumptions(run, p, w, state, act) + encoder_decoder_notes(arch, s, run),
        background=[f"Peak per GPU is at the {peak.phase}; the breakdown lists what is held at that moment.",
                    *w.background, *state.background, *act.background, f"Empirical constants: {k.FIT_SOURCE}."],
        margin=error_margin(arch, run),
    )


UNSLOTH_NOTE = (
    "Unsloth stack, not fitted to our measurements: the checkpoint memory follows Unsloth+FA2 peaks "
    "published in LLaMA-Factory's wiki; bf16 adapters follow Unsloth Studio's estimator; the fused-kernel "
    "activations and a cross-entropy kernel keeping 4 bytes per vocabulary entry are assumed from "
    "Unsloth's design. Allocator and context figures are our transformers measurements. On the few "
    "Unsloth runs we measured (Llama-3.2-1B QLoRA, 2k-8k tokens, H100) the real peak was 24-50 % "
    "lower: read this figure as an upper bound."
)


def _assumptions(run: RunConfig, p: Precision, w: Weights, state: TrainingState, act: Activations) -> list[str]:
    """The sentences particular to this run, in the order a reader follows the estimate."""
    notes = [*w.notes, *w.storage_notes, *state.notes, *p.notes, *act.notes]
    if run.num_gpus > 1:
        notes.append(f"{run.num_gpus} GPUs with {run.sharding}: " + (
            "parameters, gradients and optimizer states sharded, two layers gathered at a time."
            if run.sharding != "ddp" else "each GPU holds the whole model plus gradient buckets."))
    if run.stack == "unsloth":
        notes.append(UNSLOTH_NOTE)
    if state.paged_note:
        notes.append(state.paged_note)
    return notes


def _unsloth_estimate(arch: Architecture, s: Shapes, run: RunConfig, p: Precision, w: Weights,
                      state: TrainingState) -> CoreEstimate:
    """Unsloth LoRA/QLoRA with its offloaded checkpointing: the measured model (see `unsloth_step`)."""
    step = unsloth_step(arch, s, run, p, state.lora)
    held = {
        "weights": w.bytes + w.autocast_copies, "adapters": state.adapters, "gradients": state.grads + state.ddp_buckets,
        "optimizer": state.states + state.temp, "activations": step.activations + step.moe, "logits_and_loss": step.loss,
    }
    allocated = sum(held.values()) + step.fixed
    total = allocated + step.gap + k.UNSLOTH_CONTEXT_GIB * k.GIB + (k.NCCL_GIB * k.GIB if run.num_gpus > 1 else 0.0)
    gib = {name: round(v / k.GIB, 3) for name, v in held.items()}
    total_gib = round(total / k.GIB, 3)
    ground = measured_ground(arch)
    measured = bool(k.UNSLOTH_MEASURED.get(arch.model_type))
    notes = [*w.notes, *w.storage_notes, *state.notes, *p.notes, *encoder_decoder_notes(arch, s, run),
             *([] if measured else [ground])]
    if s.router_width > 0:
        notes.append(_moe_note(arch))
    if arch.final_logit_softcapping:
        notes.append("Final-logit softcapping (Gemma): Unsloth's loss keeps more per token here; fitted on Gemma 4 E4B only.")
    if run.num_gpus > 1:
        notes.append(f"{run.num_gpus} GPUs with {run.sharding}: multi-GPU Unsloth runs are not measured; "
                     "the per-GPU figure shares the model as the transformers stack does.")
    if state.paged_note:
        notes.append(state.paged_note)
    background = ["Peak per GPU is in the backward pass; the breakdown lists what is held at that moment.",
                  *w.background, *state.background, UNSLOTH_MEASURED_NOTE, *([ground] if measured else []),
                  f"Empirical constants: {k.UNSLOTH_FIT_SOURCE}."]
    return CoreEstimate(
        total_gib=total_gib,
        breakdown=Breakdown(**gib, overhead=round(total_gib - sum(gib.values()), 3)),
        params_b=round(w.total_params / 1e9, 3),
        trainable_params_m=round(state.trainable / 1e6, 3),
        assumptions=notes,
        background=background,
        margin=error_margin(arch, run),
    )


def encoder_decoder_notes(arch: Architecture, s: Shapes, run: RunConfig) -> list[str]:
    """What an estimate of a speech encoder-decoder (Whisper) counts that a decoder-only one does not, and what
    it leaves out: evaluation during training, which Unsloth's Whisper notebook runs."""
    if s.encoder is None:
        return []
    limit = arch.max_target_positions or run.seq_len
    notes = [f"Encoder-decoder ({arch.model_type}): the encoder runs over {s.encoder.frames} frames per clip (30 s of "
             f"audio) whatever seq_len; seq_len counts decoder tokens, at most {limit}."
             + (f" seq_len {run.seq_len} is counted as {limit} (transformers refuses longer labels)."
                if run.seq_len > limit else "")]
    if run.method != "full":
        notes.append("LoRA target names reach the encoder and both attentions of the decoder (self and cross); o_proj "
                     "stands for Whisper's out_proj, up_proj / down_proj for fc1 / fc2.")
    if run.stack == "unsloth":
        notes.append("Unsloth's fused loss takes only causal-LM classes, so Whisper's full logits and loss are counted.")
    cache = 2 * s.layers * 8 * s.encoder.frames * s.hidden * 2.0 / k.GIB
    notes.append(f"Training step only. Evaluating during training adds more: at Transformers' default eval batch of 8 "
                 f"the decoder's cross-attention cache alone is about {cache:.1f} GiB, and without eval_accumulation_steps "
                 "every evaluated clip's logits and encoder output stay on the GPU. Unsloth's Whisper large-v3 notebook, "
                 "which evaluates so every 5 steps, reserved 10.35 GB on a T4, where its training step is estimated at "
                 "under 4 GiB. Set per_device_eval_batch_size and eval_accumulation_steps, or leave that room.")
    return notes


UNSLOTH_MEASURED_NOTE = (
    "Unsloth stack, measured: its loader, LoRA wrapper with offloaded gradient checkpointing, and trl's SFTTrainer "
    "with adamw_8bit, run on an H200 (Unsloth 2026.10.9, transformers 5.17, trl 1.15, bitsandbytes 0.50.2, torch "
    "2.11); about one layer's activations stay on the GPU whatever the depth, and the chunked loss is bounded. "
    "Other Unsloth or transformers versions can differ."
)


def error_margin(arch: Architecture, run: RunConfig) -> float:
    """The error to expect from how far the model is from what we measured (fit.py says why each value)."""
    fitted_path = run.gradient_checkpointing and run.method != "full"  # what the Unsloth cells measured
    measured = run.stack != "unsloth" or (fitted_path and bool(k.UNSLOTH_MEASURED.get(arch.model_type)))
    if arch.is_hybrid or arch.encoder_layers or (arch.is_moe and not measured):
        return fit.FAR_TIGHT_FRACTION
    return fit.TIGHT_FRACTION if measured else fit.UNMEASURED_TIGHT_FRACTION


def measured_ground(arch: Architecture) -> str:
    """How much of the Unsloth figure for this family rests on our own measurements."""
    cells = k.UNSLOTH_MEASURED.get(arch.model_type, 0)
    if cells:
        return f"This family ({arch.model_type}) was measured on Unsloth in {cells} runs."
    kind = "MoE" if arch.is_moe else "dense"
    moe_only, both = ("qwen3_moe", "gpt_oss"), ("gemma4_text",)  # Gemma 4 was measured dense (E2B, E4B) and MoE (26B)
    nearest = sorted(t for t in k.UNSLOTH_MEASURED if t in both or (t in moe_only) == arch.is_moe)
    unlike = (" Its linear-attention, Mamba or convolution layers are in none of them." if arch.is_hybrid else
              " It is an encoder-decoder; they are decoder-only." if arch.encoder_layers else "")
    return (f"This family ({arch.model_type}) was not measured on Unsloth: the figure carries over the {kind} families "
            f"we measured ({', '.join(nearest)}).{unlike} Expect a larger error: a fit counts as comfortable only with "
            f"{error_margin(arch, RunConfig()):.0%} of the estimate to spare.")


def _moe_note(arch: Architecture) -> str:
    from finetune_advisor.vram.families import FIRST_STEP_TRANSIENT

    if arch.model_type in FIRST_STEP_TRANSIENT:
        return ("MoE on Unsloth: the first training step of a fresh process holds a transient copy of part of the "
                "experts (measured on Qwen3-30B-A3B); it is counted, because every real run starts with that step.")
    return ("MoE on Unsloth: the first-step transient seen on Qwen3-MoE was not measured for this family; "
            "leave extra room (several GiB on 20-30B MoE models) until it is.")
