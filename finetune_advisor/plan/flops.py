"""Floating-point work of one training step, counted from the model's shapes (pure).

Per token, a matmul with a weight of `n` parameters costs `2 n` FLOPs forward. The backward pass
of a frozen weight (LoRA, QLoRA) only computes the gradient of its input (`2 n`); a trained
weight (full fine-tuning) also computes its own gradient (`4 n`). Gradient checkpointing runs the
forward pass of each layer once more. Causal attention over a sequence of `s` tokens costs
`2 s x q_width` FLOPs per token and layer forward (scores and the weighted sum, half the square),
and about 2.5 times that backward (FlashAttention's five matmuls against two), over the sliding
window instead of `s` on sliding-window layers; the part in layers whose heads are wider than a kernel's limit is
also counted apart (`StepWork.wide_attention`). Linear-attention and Mamba layers are counted
with their projections only. MoE layers count the experts a token is routed to.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from finetune_advisor.vocabulary import ALL_LINEAR
from finetune_advisor.vram.architecture import ATTENTION_KINDS, Architecture
from finetune_advisor.vram.shapes import ENCODER_OUT, Shapes, shapes

ATTENTION_BACKWARD = 2.5  # FlashAttention backward / forward FLOPs


@dataclass(frozen=True)
class StepWork:
    """FLOPs per token of a training step, split into matmuls and attention."""

    matmul: float
    attention: float
    matmul_params: int  # parameters a token's matmuls pass through (active experts, the LM head)
    wide_attention: float = 0.0  # of attention: the layers whose heads are wider than step_work's `wider_than`

    @property
    def per_token(self) -> float:
        return self.matmul + self.attention


def matmul_params(s: Shapes) -> int:
    """Weights one token multiplies: every block linear (routed experts: its top-k), routers, LM head. An
    encoder-decoder's cross-attention keys and values run over the encoder's frames instead (`frame_work`)."""
    block = sum(lin.fan_in * lin.fan_out * lin.per_token * s.held(lin) for lin in s.linears if lin.site != ENCODER_OUT)
    return block + s.layers * s.router_width * s.hidden + s.hidden * s.vocab


def attention_flops_forward(arch: Architecture, s: Shapes, seq_len: int, windowed: bool = True,
                            wider_than: int = 0) -> float:
    """Forward attention FLOPs per token at a sequence length of `seq_len`, all layers (queries times keys at the keys'
    head size, weights times values at the values'): full-attention layers at their own head size where the model has
    one (Gemma 4's global_head_dim); sliding-window layers over the window only when the kernel skips what the window
    masks (`windowed`; eager scores cost the whole square). `wider_than`: only the layers whose heads are wider than
    that."""
    kinds = arch.layer_types or ("full_attention",) * s.layers
    total = 0.0
    for kind in kinds[: s.layers]:
        if kind not in ATTENTION_KINDS:
            continue  # linear attention / Mamba: no quadratic term
        sliding = kind in ("sliding_attention", "local") and arch.sliding_window
        span = min(seq_len, arch.sliding_window) if sliding and windowed else seq_len
        head = arch.global_head_dim if arch.global_head_dim and not sliding else s.head_dim
        value = arch.value_head_dim if arch.is_latent_attention else head  # latent attention: values narrower than keys
        if head > wider_than:
            total += span * s.heads * (head + value)
    return total


def active_lora_params(s: Shapes, rank: int, targets: tuple[str, ...], site: str | None = None) -> int:
    """LoRA parameters one token passes through (routed experts: its top-k); with `site`, only the linears
    reading it (ENCODER_OUT: the cross-attention keys and values a frame passes through)."""
    return sum(rank * (lin.fan_in + lin.fan_out) * lin.per_token * s.held(lin) for lin in s.linears
               if lin.name in targets and (lin.site == site if site else lin.site != ENCODER_OUT))


def step_work(arch: Architecture, seq_len: int, full: bool, checkpointing: bool, lora_rank: int = 0,
              targets: tuple[str, ...] = ALL_LINEAR, windowed: bool = True, wider_than: int | None = None) -> StepWork:
    """FLOPs per token of one training step on sequences of `seq_len` tokens (`windowed`: attention_flops_forward;
    `wider_than`: a head width above which the attention is also counted apart, as `wide_attention`)."""
    s = shapes(arch)
    n = matmul_params(s)
    lora_params = 0 if full else active_lora_params(s, lora_rank, targets)
    cross = 2.0 * s.encoder.frames * s.q_width * s.layers if s.encoder else 0.0  # a token's queries over the frames
    work = _work(n, lora_params, attention_flops_forward(arch, s, seq_len, windowed) + cross, full, checkpointing)
    if wider_than is None:
        return work
    wide = attention_flops_forward(arch, s, seq_len, windowed, wider_than) * _passes(checkpointing)
    return replace(work, wide_attention=wide)


def frame_work(s: Shapes, full: bool, checkpointing: bool, lora_rank: int = 0,
               targets: tuple[str, ...] = ALL_LINEAR) -> StepWork | None:
    """FLOPs per encoder frame of an encoder-decoder's step (None without an encoder): the encoder's layers,
    bidirectional attention over all frames, and the decoder's cross-attention keys and values."""
    if s.encoder is None:
        return None
    blocks, frames = s.encoder.blocks, s.encoder.frames
    cross = sum(lin.fan_in * lin.fan_out * s.held(lin) for lin in s.linears if lin.site == ENCODER_OUT)
    n = blocks.linear_params + cross
    lora = 0 if full else active_lora_params(blocks, lora_rank, targets) + active_lora_params(s, lora_rank, targets, ENCODER_OUT)
    return _work(n, lora, 2.0 * frames * blocks.q_width * blocks.layers, full, checkpointing)


def _work(n: float, lora_params: float, attention: float, full: bool, checkpointing: bool) -> StepWork:
    forward = 2.0 * n
    backward = (4.0 if full else 2.0) * n
    recompute = 2.0 * n if checkpointing else 0.0
    adapters = 6.0 * lora_params  # forward, input gradient and weight gradient of the LoRA matrices
    return StepWork(matmul=forward + backward + recompute + adapters, attention=_passes(checkpointing) * attention,
                    matmul_params=int(n))


def _passes(checkpointing: bool) -> float:
    """Attention passes a step runs, in forward passes' FLOPs: forward, backward and the recomputed forward."""
    return 1.0 + ATTENTION_BACKWARD + (1.0 if checkpointing else 0.0)
