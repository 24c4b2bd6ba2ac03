"""How long one optimizer step takes on a GPU, from the step's work and fitted efficiencies (pure).

A step's time joins two parts. The host's fixed cost (per step, per linear layer the step runs through its
own kernels, and per billion linear parameters: on our H200 cells a step of 512-4096 tokens takes about as
long whatever its length, longer the more adapted linears and parameters the model has) is Python and
kernel launches. The GPU's work is the step's matmul and attention FLOPs at the fraction of the GPU's dense
tensor peak the stack reached in our measurements, plus, for QLoRA, dequantising every 4-bit weight in each
pass at the GPU's memory bandwidth. Launches are asynchronous, so the two overlap: where the fit says so
(`overlap` p > 0) the step takes (host^p + GPU^p)^(1/p), a smooth maximum; with p = 0 their sum. The
fractions were measured on one GPU model; another GPU is scaled by its datasheet peak and bandwidth, which
the answer says. Models with linear-attention or Mamba layers run kernels the model does not see (fla's
gated delta rule, mamba_ssm's scans): their steps are scaled by the measured ratio to the model's time
(`step_scale`), from cells on a user's own kernels where their kinds of layer were measured so
(constants.HYBRID_USER_STEP), else from the cells that ran our torch stand-in for causal-conv1d, about twice the
model's time (constants.HYBRID_STEP); LFM2's short convolutions, unmeasured and light, keep the model's time. On
Unsloth the Gemma families, measured here only with its per-block compile off, keep the model's time, and their range
reaches what those runs took (constants.COMPILE_OFF_STEP); gpt-oss, whose decoder layers that compile always skips,
is scaled by its runs' ratio (constants.UNCOMPILED_STEP); the attention Unsloth runs with slower kernels than the fit's
flash attention (eager scores over the whole square, heads too wide for flash kernels) takes its measured multiple of
the fit's time (`slow_attention`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from finetune_advisor.plan import constants as k
from finetune_advisor.plan.flops import frame_work, step_work
from finetune_advisor.vram.architecture import SHORT_CONV, Architecture
from finetune_advisor.vram.estimator import RunConfig
from finetune_advisor.vram.families import (UNSLOTH_WIDE_HEAD_DIM, block_compile_skipped, compile_off_on_unsloth,
                                            family_of, masked_attention_on_unsloth)
from finetune_advisor.vram.shapes import Shapes, shapes
from finetune_advisor.vram.terms import precision, quantised_params


# StepScale.why, of a whole step
STAND_IN, USER_PATH, COMPILE_OFF, UNCOMPILED = "stand-in", "user-path", "compile-off", "uncompiled"
SHORT_CONV_UNMEASURED = "short-conv"  # of LFM2's step, its convolutions unmeasured (short_conv_scale)
# StepScale.why, of the attention Unsloth runs slower (slow_attention)
MASKED, WIDE_HEADS, CHUNK_MASKED = "masked", "wide-heads", "chunk-masked"


@dataclass(frozen=True)
class StepTime:
    """Seconds per micro-batch (forward and backward) and the range the measured errors give."""

    seconds: float
    low: float
    high: float
    fixed: float
    compute: float
    dequant: float
    scale: StepScale | None = None  # what the step was scaled by, for a model whose step the model does not see
    slow: StepScale | None = None  # attention Unsloth runs slower than the fit's (slow_attention) ...
    slow_seconds: float = 0.0  # ... and what it adds to compute beyond the fit's time

    @property
    def host_set(self) -> bool:
        """Whether the host's fixed cost (launching the step's kernels) outlasts the GPU's work."""
        return self.fixed > self.compute + self.dequant


@dataclass(frozen=True)
class StepScale:
    """Measured time over the model's, where the fitted model does not see what it is spent on: median, least and most,
    over `cells` measured runs of `models`. Of the whole step, `why` STAND_IN (hybrids through our causal-conv1d
    stand-in), USER_PATH (hybrids on a user's own kernels), COMPILE_OFF (the Gemma families on Unsloth, per-block
    compile off), UNCOMPILED (gpt-oss on Unsloth, whose layers its per-block compile skips) or SHORT_CONV_UNMEASURED
    (LFM2: no cells, factor 1, a range reaching what other hybrids took; short_conv_scale); of the attention
    Unsloth runs slower than the fit's flash attention, MASKED (Gemma 2 and 3n's eager scores, every layer over the
    whole square) or WIDE_HEADS (heads wider than flash kernels take, Gemma 4's 512-wide global heads, through
    Unsloth's own kernel; the rest of the attention at the fit's speed)."""

    factor: float
    low: float
    high: float
    cells: int
    models: tuple[str, ...]
    why: str

    @property
    def user_path(self) -> bool:
        return self.why == USER_PATH

    @property
    def reach(self) -> float:
        """The most the range allows. On a user's kernels, measured on few cells (four of three Qwen3.5 models by
        round 24, 1.0-2.0x), it still reaches the slowest the stand-in's cells ran, which a user's kernels should not
        exceed (the stand-in is the slow part), in case another size or shape spends more in these layers."""
        return max(self.high, k.HYBRID_STEP["high"]) if self.user_path else self.high


def mixer_key(arch: Architecture) -> str:
    """How constants.HYBRID_USER_STEP names a model's kinds of non-attention layer: sorted and '+'-joined."""
    return "+".join(sorted(arch.mixer_kinds))


def step_scale(arch: Architecture, stack: str) -> StepScale | None:
    """The measured ratio behind a step: for LFM2, none (short_conv_scale); for another hybrid, that of the cells
    measured on a user's own kernels for the same kinds of layer (Qwen3.5's Gated DeltaNet), else that of the stand-in's
    cells, which scales the step; on Unsloth, for a Gemma family, what its cells (all with the per-block compile off)
    spent on the host, which only the range reaches (micro_step), and for gpt-oss, whose layers Unsloth's per-block
    compile always skips, its cells' ratio, which scales the step; None for any other model."""
    if arch.mixer_kinds == {SHORT_CONV}:
        return short_conv_scale()
    if arch.is_hybrid:
        user = k.HYBRID_USER_STEP.get(mixer_key(arch))
        if user is None:
            return _scale(k.HYBRID_STEP, k.HYBRID_MODELS, STAND_IN)
        return _scale(user, tuple(user["models"]), USER_PATH)
    if stack == "unsloth" and compile_off_on_unsloth(arch.model_type):
        return _scale(k.COMPILE_OFF_STEP, k.COMPILE_OFF_MODELS, COMPILE_OFF)
    if stack == "unsloth" and block_compile_skipped(arch.model_type):
        return _scale(k.UNCOMPILED_STEP, k.UNCOMPILED_MODELS, UNCOMPILED)
    return None


def short_conv_scale() -> StepScale:
    """LFM2's short convolutions, measured in no model: the step keeps the model's time (their projections are counted;
    the 3-tap depthwise convolution between them, transformers' torch conv1d without the causal-conv1d package, is a
    few elementwise passes over the tokens), and its range reaches the median the hybrids with heavier mixers took
    through our stand-in (constants.HYBRID_STEP: Mamba-2 scans, Gated DeltaNet), what this model was given before."""
    return StepScale(1.0, 1.0, k.HYBRID_STEP["factor"], 0, (), SHORT_CONV_UNMEASURED)


def windowed(arch: Architecture, stack: str) -> bool:
    """Whether sliding-window layers attend over their window only (flops.attention_flops_forward): not for the
    families whose attention Unsloth runs with a masked or eager kernel (families.masked_attention_on_unsloth)."""
    return not (stack == "unsloth" and masked_attention_on_unsloth(arch.model_type))


def slow_attention(arch: Architecture, stack: str, tokens_per_row: float = 0.0) -> StepScale | None:
    """On Unsloth, the model's attention that runs slower than the fit's, with its measured ratio
    (constants.MASKED_ATTENTION_STEP; for wide heads, the family's own WIDE_HEAD_BY_FAMILY where it was measured,
    else the pooled WIDE_HEAD_STEP); None for any other model or stack. Llama 4's chunked layers are plain causal
    attention within one chunk; rows longer than the chunk take an explicit chunked mask, which flash kernels do not
    run: counted as the masked kernel over the whole square (CHUNK_MASKED; Llama 4 Scout cut to 8 layers took 1.27 s
    a step at 16,384 tokens on an H100, 0.84 counted without it and 1.22 with it, round 62; 0.47 at 8,192)."""
    if stack != "unsloth":
        return None
    if masked_attention_on_unsloth(arch.model_type):
        return _scale(k.MASKED_ATTENTION_STEP, k.MASKED_ATTENTION_MODELS, MASKED)
    if arch.attention_chunk_size and tokens_per_row > arch.attention_chunk_size:
        return _scale(k.MASKED_ATTENTION_STEP, k.MASKED_ATTENTION_MODELS, CHUNK_MASKED)
    if max(arch.global_head_dim or 0, arch.attention_head_dim) > UNSLOTH_WIDE_HEAD_DIM:
        own = k.WIDE_HEAD_BY_FAMILY.get(family_of(arch.model_type))  # the families run different attention code
        if own is not None:
            return _scale(own, tuple(own["models"]), WIDE_HEADS)
        return _scale(k.WIDE_HEAD_STEP, k.WIDE_HEAD_MODELS, WIDE_HEADS)
    return None


def _scale(entry: dict, models: tuple[str, ...], why: str) -> StepScale:
    return StepScale(entry["factor"], entry["low"], entry["high"], int(entry["cells"]), models, why)


@dataclass(frozen=True)
class FirstStep:
    """What the first two steps of a fresh Unsloth process took beyond later ones on our H200 (compiling the model's
    layers, autotuning Triton kernels), over `cells` measured runs of models of `kind`: median, least and most."""

    kind: str
    seconds: float
    low: float
    high: float
    cells: int


def startup_kind(arch: Architecture) -> str:
    """How constants.FIRST_STEP groups models: "gemma" (the families measured with Unsloth's per-block compile off,
    whose first step still takes a minute or more), "hybrid" (linear-attention or Mamba layers, whose fla and
    mamba_ssm Triton kernels autotune on first use; not LFM2's short convolutions), "moe" (routed experts) or "dense"."""
    if compile_off_on_unsloth(arch.model_type):
        return "gemma"
    triton = arch.mixer_kinds - {SHORT_CONV}  # LFM2's convolutions run torch's conv1d: nothing to autotune
    return "hybrid" if triton else "moe" if arch.is_moe else "dense"


def first_step(arch: Architecture, run: RunConfig) -> FirstStep | None:
    """The first steps' extra time for this model on Unsloth (constants.FIRST_STEP: the first two, since Mamba-2's
    kernels tune into the second); None on the transformers stack, which compiles nothing (its first step took at
    most 2.1 s more than later ones on 31 H200 cells)."""
    kind = startup_kind(arch)
    entry = k.FIRST_STEP.get(kind) if run.stack == "unsloth" else None
    if entry is None:
        return None
    return FirstStep(kind, entry["seconds"], entry["low"], entry["high"], int(entry["cells"]))


def overlap(host: float, gpu: float, p: float) -> float:
    """The step's time from the host's fixed cost and the GPU's work: their sum when p is 0, else the smooth
    maximum (host^p + gpu^p)^(1/p) (one profiled step: the GPU busy 15-36 % of it, the rest launches)."""
    if p <= 0:
        return host + gpu
    return (max(host, 0.0) ** p + max(gpu, 0.0) ** p) ** (1 / p)


def fitted(stack: str, method: str) -> bool:
    return (stack, method) in k.STEP


def timed_stack(stack: str, method: str) -> str:
    """The stack whose measurements time this method: its own, else the transformers stack's (which has all three)."""
    return stack if fitted(stack, method) else "transformers"


def linear_passes(s: Shapes, run: RunConfig) -> int:
    """Linear layers (one per layer that holds it) a step runs through their own kernels: every one under full
    fine-tuning, the adapted ones under LoRA and QLoRA, each with its dequantisation and adapter matmuls. Short
    steps take about as long whatever their length, longer the more of these a model has: launching their
    kernels is the floor (bench/throughput/README.md)."""
    unsloth = run.stack == "unsloth"
    chosen = s.linears if run.method == "full" else s.lora_linears(run.target_modules, experts=unsloth, by_kind=unsloth)
    return sum(s.held(lin) for lin in chosen)


def dequant_seconds(arch: Architecture, run: RunConfig, bandwidth_gbs: float) -> float:
    """QLoRA's dequantisation: each weight stored in NF4 (terms.quantised_params: not the expert stacks or Mamba
    sites a load leaves 16-bit) read once in the forward, once in the backward, and once more when recomputed."""
    if run.method != "qlora":
        return 0.0
    passes = 3 if run.gradient_checkpointing else 2
    nf4 = quantised_params(shapes(arch), precision(arch, run, None))
    return passes * k.DEQUANT_BYTES_PER_PARAM * nf4 / (bandwidth_gbs * 1e9)


def _gpu_seconds(arch: Architecture, run: RunConfig, tokens_per_row: float, tflops: float, c: dict[str, float],
                 slow: StepScale | None) -> tuple[float, float, float]:
    """The GPU's matmul and attention seconds of one micro-batch at the fitted efficiencies (`c`: a STEP entry), a
    speech encoder's frames included, and of the attention the part `slow` runs slower (all of it for MASKED, whose
    sliding layers are counted over the whole square; the wide heads' for WIDE_HEADS)."""
    s = shapes(arch)
    wide = slow is not None and slow.why == WIDE_HEADS
    work = step_work(arch, max(1, round(tokens_per_row)), run.method == "full", run.gradient_checkpointing,
                     run.lora_rank, run.target_modules, windowed=windowed(arch, run.stack),
                     wider_than=UNSLOTH_WIDE_HEAD_DIM if wide else None)
    peak, tokens = tflops * 1e12, run.batch_size * tokens_per_row
    k_attention = c.get("k_fp32_attention", c["k_attention"]) if run.fp32_stream else c["k_attention"]
    matmul, attention = tokens * work.matmul * c["k_matmul"] / peak, tokens * work.attention * k_attention / peak
    frames = frame_work(s, run.method == "full", run.gradient_checkpointing, run.lora_rank, run.target_modules)
    if frames is not None and s.encoder is not None:  # a speech encoder runs over every frame of every row
        matmul += run.batch_size * s.encoder.frames * frames.matmul * c["k_matmul"] / peak
        attention += run.batch_size * s.encoder.frames * frames.attention * c["k_attention"] / peak
    if wide:
        return matmul, attention, tokens * work.wide_attention * k_attention / peak
    return matmul, attention, 0.0 if slow is None else attention


def micro_step(arch: Architecture, run: RunConfig, tokens_per_row: float, tflops: float, bandwidth_gbs: float) -> StepTime:
    """One micro-batch of `run.batch_size` rows of `tokens_per_row` tokens each (padding-free)."""
    s = shapes(arch)
    stack = timed_stack(run.stack, run.method)
    c = k.STEP[(stack, run.method)]
    slow = slow_attention(arch, run.stack, tokens_per_row)
    matmul, attention, part = _gpu_seconds(arch, run, tokens_per_row, tflops, c, slow)
    compute = matmul + attention + (part * (slow.factor - 1.0) if slow else 0.0)
    linears = linear_passes(s, run) + (linear_passes(s.encoder.blocks, run) if s.encoder is not None else 0)
    # c_moe: each routed layer's routing, grouped expert kernels, gather and scatter, host work a dense layer lacks.
    fixed = c["c0"] + c["c_linear"] * linears + c["c_param"] * s.linear_params / 1e9 + c["c_moe"] * s.routed_layers
    dequant = dequant_seconds(arch, run, bandwidth_gbs)
    base = overlap(fixed, compute + dequant, c.get("overlap", 0.0))
    scale = step_scale(arch, run.stack)
    # With the compile off, more and smaller kernels to launch: the host's cost grows, the GPU's FLOPs do not; with it
    # on (Unsloth's notebooks) Gemma ran near the model's time, which stays the figure. Where a hybrid's extra time
    # goes was not profiled: its parts are scaled alike, so that they add up.
    host_only = scale is not None and scale.why == COMPILE_OFF
    at = (lambda f: overlap(fixed * f, compute + dequant, c.get("overlap", 0.0))) if host_only else (lambda f: base * f)
    factor = 1.0 if scale is None or host_only else scale.factor
    total = at(factor)
    p10, p90 = k.SPREAD[(stack, run.method)]
    low, high = total * (1 + p10), total * (1 + p90)
    if scale:  # the measured models' own spread, where it reaches further
        low, high = min(low, at(scale.low)), max(high, at(scale.reach))
    if slow:  # ... and the slow attention's
        low = min(low, total - part * (slow.factor - slow.low))
        high = max(high, at(scale.reach if scale else 1.0) + part * (slow.high - slow.factor))
    extra = part * (slow.factor - 1.0) * factor if slow else 0.0
    step = StepTime(total, low, high, fixed * factor, compute * factor, dequant * factor, scale, slow, extra)
    if step.host_set:  # such steps moved further between runs than the fit's spread (HOST_STEP_SPREAD)
        return replace(step, low=min(low, total / k.HOST_STEP_SPREAD), high=max(high, total * k.HOST_STEP_SPREAD))
    return step
