"""What a training step keeps on the GPU per token: saved activations, checkpoints and the loss.

The counts come from reading the forward passes the estimator models (transformers 5.x
Llama-style decoder layer with SDPA, peft 0.21 LoRA layers, bitsandbytes 0.50 `Linear4bit`,
bf16 weights without autocast, as the calibration harness in bench/vram_calibration trains) and
listing every tensor autograd saves for the backward pass, in bytes per element of each width.
Unsloth's fused kernels save less; their counts follow Unsloth's published kernel design and are
not measured by us. The fitted scales in `vram_constants` absorb what a count misses.
"""

from __future__ import annotations

from dataclasses import dataclass

from finetune_advisor.vram.shapes import ENCODER_OUT, Linear, Shapes

# Bytes a score and head that eager attention keeps for backward: the fp32 softmax and its 16-bit copy.
EAGER_SCORE_BYTES = 6.0


@dataclass(frozen=True)
class Coefficients:
    """Bytes saved per element of each width, per token and layer."""

    norm: float  # what one RMSNorm keeps per element (its fp32 upcast input; plus the output for full)
    hidden: float  # other H-wide tensors every layer keeps (shared projection inputs)
    qk_norm: float  # what the per-head q and k norms keep per element, where the family has them
    q: float  # query-wide tensors (rotated q and the attention output SDPA keeps)
    kv: float  # key- and value-wide tensors SDPA keeps
    mlp: float  # intermediate-wide tensors (gate output, activation output, up output)
    lora_copy: float  # a private copy of its input that each LoRA module keeps (peft's dtype cast)
    lora_shared: float  # the input a LoRA group keeps alive when modules share it (no cast)
    lora_rank: float  # the rank-wide A output each LoRA module keeps for B
    checkpoint: float  # bytes per H element kept per layer under checkpointing (the residual stream)


# transformers + peft LoRA on a bf16 model (adapters fp32): each RMSNorm keeps its fp32 upcast
#   input (4); each LoRA module casts its bf16 input to fp32 and keeps that copy (4); SDPA keeps
#   rotated q, k, v and the output in bf16; the MLP keeps gate, SiLU and up outputs.
LORA = Coefficients(norm=4, hidden=0, qk_norm=4, q=4, kv=4, mlp=6, lora_copy=4, lora_shared=0, lora_rank=4, checkpoint=2)
# QLoRA after prepare_model_for_kbit_training: norms, embeddings and lm_head are fp32, so the
#   residual stream and every Linear4bit output (bitsandbytes casts back to the input dtype) are
#   fp32; SDPA runs in fp32; LoRA modules share their fp32 input instead of copying it.
# These counts were checked on CPU (transformers 5.17, peft 0.21.2, bitsandbytes 0.50.2, torch
#   2.13) by summing the storages autograd saves in one forward pass of small Llama and Qwen3
#   configs: per layer and token they match to the byte (CPU dropout keeps an fp32 mask where CUDA's
#   fused kernel keeps a 1-byte one).
QLORA = Coefficients(norm=4, hidden=0, qk_norm=4, q=8, kv=8, mlp=12, lora_copy=0, lora_shared=4, lora_rank=4, checkpoint=4)
# QLoRA as above under bf16 autocast (Trainer(bf16=True)): the residual stream and norms stay fp32, but every
#   projection runs in bf16, so q, k, v, the MLP and SDPA keep bf16 tensors (flash kernel), and each LoRA module's
#   A keeps the bf16 cast of its input autocast makes for it (peft's fp32 cast before it is not kept). The
#   checkpoint bytes are measured, not counted: the count gives one fp32 residual tensor per layer (4), but 12
#   QLoRA cells on an H200 (four models, 2,048 and 8,192 tokens a step; bench/vram_calibration/data/
#   transformers_1gpu_autocast.jsonl) held about two: 8 is the whole count that leaves no cell more than 5 % under.
QLORA_AUTOCAST = Coefficients(norm=4, hidden=0, qk_norm=4, q=4, kv=4, mlp=6, lora_copy=2, lora_shared=0, lora_rank=2,
                              checkpoint=8)
# Full fine-tuning in bf16: norms also keep the bf16 normalised tensor for their weight's gradient
#   (4 + 2), q/k/v and gate/up share one saved input (2 + 2), down_proj keeps its input, and
#   o_proj's input is the attention output SDPA keeps anyway (its kernels write it token-major).
FULL_BF16 = Coefficients(norm=6, hidden=4, qk_norm=6, q=4, kv=4, mlp=8, lora_copy=0, lora_shared=0, lora_rank=0, checkpoint=2)
# Full fine-tuning with fp32 master weights under bf16 autocast: fp32 residual stream and norm
#   outputs, and autocast makes a bf16 copy of the input for each projection.
FULL_FP32 = Coefficients(norm=8, hidden=10, qk_norm=8, q=4, kv=4, mlp=8, lora_copy=0, lora_shared=0, lora_rank=0, checkpoint=4)
# Unsloth's fused kernels (fast RMSNorm, fused QKV and MLP LoRA that keep one bf16 input per block,
#   SwiGLU recomputed in the backward, LoRA intermediates recomputed): no per-module copies.
UNSLOTH_PEFT = Coefficients(norm=2, hidden=4, qk_norm=2, q=4, kv=4, mlp=4, lora_copy=0, lora_shared=0, lora_rank=0, checkpoint=2)


def coefficients(stack: str, method: str, fp32_master: bool, autocast: bool = False) -> Coefficients:
    if method == "full":
        return FULL_FP32 if fp32_master else FULL_BF16
    if stack == "unsloth":
        return UNSLOTH_PEFT
    if method == "qlora":
        return QLORA_AUTOCAST if autocast else QLORA
    return LORA


@dataclass(frozen=True)
class TokenBytes:
    """Per-token byte counts for one run (multiply by batch * seq_len)."""

    layer: float  # everything one decoder layer saves for backward
    checkpoint: float  # what one checkpointed layer keeps
    attention_scores: float  # eager attention only: bytes per layer per token per key position
    frames: float = 0.0  # encoder-decoder: per encoder frame, what one decoder layer's cross-attention keys and
    #                      values keep (with their LoRA), whatever the number of decoder tokens


def token_bytes(s: Shapes, c: Coefficients, lora: tuple[Linear, ...], rank: int, kernel: str = "flash",
                dropout: bool = False, width_scale: float = 1.0, full: bool = False) -> TokenBytes:
    """Bytes per token for the LoRA-wrapped linears `lora`; `width_scale` 2 models fp32 compute.

    kernel: "flash" (SDPA's flash or memory-efficient kernels: no seq_len^2 term), "masked" (the
    memory-efficient kernel with an explicit mask, which transformers feeds k and v expanded to
    every head), "math" (SDPA's fallback, e.g. fp32 inputs with grouped-query attention and no
    mask: it keeps the softmax of every head and k, v expanded to every head) or "eager".
    """
    math = kernel == "math"
    kept = frames = 0.0
    shared_sites: dict[str, float] = {}
    for lin in lora:  # per layer: a module only some layers hold counts by its share (Gemma 4)
        if lin.site == ENCODER_OUT:  # runs over the encoder's frames; their input is the encoder output, kept anyway
            frames += (max(c.lora_copy, c.lora_shared) + 1 if dropout else c.lora_copy) * lin.fan_in + c.lora_rank * rank
            continue
        elements = lin.fan_in * lin.per_token  # input elements per token this module reads
        share = s.share(lin)
        if dropout:  # nn.Dropout keeps a private output and a 1-byte mask per module
            kept += (max(c.lora_copy, c.lora_shared) + 1) * elements * share
        elif c.lora_copy:
            kept += c.lora_copy * elements * share
        elif lin.site != "attn_out" or math:  # o_proj reads the attention output flash SDPA keeps
            shared_sites[lin.site] = max(shared_sites.get(lin.site, 0.0), c.lora_shared * elements)
        kept += c.lora_rank * rank * lin.per_token * share
    layer = (
        (c.norm * s.norms + c.hidden) * s.hidden
        + 4 * s.norms  # each norm's fp32 reciprocal RMS
        + ((c.qk_norm * (s.q_width + s.kv_width) + 4 * (s.heads + s.kv_width // s.head_dim)) if s.qk_norm else 0.0)
        + (3 * c.checkpoint * s.q_width if math else c.q * s.q_width + c.kv * (s.q_width if kernel == "masked" else s.kv_width))
        + c.mlp * s.mlp_width
        + (c.q * s.q_width if s.encoder else 0.0)  # cross-attention's query and output, per decoder token
        + kept
        + sum(shared_sites.values())
        + 4 * s.heads  # attention log-sum-exp, fp32 per head
        + 4 * s.router_width  # router probabilities, fp32
        # transformers' expert loop keeps, per routed token, the expert output it weights (in the
        # residual dtype), the gathered input when expert weights train, and a few int64 indices
        + s.top_k * ((c.checkpoint + (c.checkpoint if full else 0)) * s.hidden + 36)
    )
    scores = 0.0
    if math:  # scaled q, k and v expanded to every head; the softmax of every head, in the stream dtype
        scores = c.checkpoint * s.heads
    elif kernel == "eager":
        scores = EAGER_SCORE_BYTES * s.heads
        layer += 2 * 2 * (s.q_width - s.kv_width)  # repeat_kv expands k and v to every head
    if s.encoder:  # cross-attention's keys and values over the encoder frames
        frames += c.kv * s.kv_width
    return TokenBytes(layer=layer * width_scale, checkpoint=c.checkpoint * s.hidden * width_scale,
                      attention_scores=scores * width_scale, frames=frames * width_scale)


def encoder_token_bytes(s: Shapes, c: Coefficients, lora: tuple[Linear, ...], rank: int, kernel: str = "flash",
                        dropout: bool = False, width_scale: float = 1.0) -> TokenBytes:
    """Bytes per encoder frame of one speech-encoder layer (`s` an encoder-decoder): LoRA reaches the
    encoder's modules of the names it reaches in the decoder."""
    if s.encoder is None:
        return TokenBytes(layer=0.0, checkpoint=0.0, attention_scores=0.0)
    blocks = s.encoder.blocks
    return token_bytes(blocks, c, blocks.lora_linears(tuple(lin.name for lin in lora)), rank, kernel, dropout, width_scale)
