"""The one verdict on whether a run fits a GPU, used by every tool (pure).

The driver keeps part of every GPU's memory for itself (measured: `constants.DRIVER_RESERVED_GIB`),
so the room left is the GPU's memory minus that share minus the estimated peak. A run fits when
that room is not negative. A fit with less room than `TIGHT_FRACTION` of the estimate is *tight*:
the estimator's measured errors reach about that much, so such a fit may still run out of memory.
recommend_model, estimate_vram and the planner all ask `judge`, so they never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from finetune_advisor.vocabulary import GPU_32BIT_STATE_OPTIMIZERS
from finetune_advisor.vram.constants import DRIVER_RESERVED_GIB

GB_PER_GIB = 1024**3 / 1e9

# About the p90 of |error| measured against real GPUs (bench/vram_accuracy/README.md: 8.4 % leaving one
# architecture out on the transformers stack; 6.7 % leaving one architecture out on Unsloth's, 7.4 % and 6.7 %
# on rounds 4 and 5's held-out cells): a fit with less headroom than this is a gamble.
TIGHT_FRACTION = 0.10
# A family we measured, on a path or at a length we did not: full fine-tuning or no gradient checkpointing where
# only LoRA/QLoRA with Unsloth's checkpointing was measured, a step longer than any we measured for the family
# (ground.longest_measured): the worst miss leaving one measured architecture out (10.3 %), with room to spare.
BEYOND_TIGHT_FRACTION = 0.15
# Unsloth families we have not measured, but built like the measured dense ones: the first cells of the families
# measured last came in up to 25 % of the estimate above it (OLMo 3 7B QLoRA, 8.61 GiB against 6.89, round 47; ERNIE
# 4.5 0.3B LoRA 24 % and SmolLM3 3B 18 %, round 53), each for something of its own the count did not hold. No room to
# spare beyond the worst seen: a wider margin would call most small-card fits of such families tight.
UNMEASURED_TIGHT_FRACTION = 0.25
# Far from measured ground: hybrid linear-attention / Mamba models, encoder-decoders (Whisper), MoE families
# we have not measured, and params-only stand-ins. At their own settings, Unsloth's published notebooks for hybrids
# peaked above our estimate by up to a third of their peak (Granite 4.0-H Micro LoRA, Unsloth 2025.9: ours 32 % under;
# Qwen3.5-27B LoRA, Unsloth 2026.2: 13 % under; bench/vram_accuracy/README.md, public figures). Falcon-H1 3B's first
# cells (round 56h) peaked 33 % and 44 % above the estimate of the day, beyond this, for two things the count has held
# since (mamba_ssm's kernels' stack, local_memory; the Mamba-2 backward, unsloth_stack.mamba_backward_bytes).
FAR_TIGHT_FRACTION = 0.30
_FAR = ("hybrid linear-attention or Mamba models", "encoder-decoders", "unmeasured MoE families")
FAR_MODELS = ", ".join(_FAR[:-1]) + f" and {_FAR[-1]}"
FAR_KINDS = ", ".join(_FAR) + " and size-only estimates"  # the last with a why of its own (COARSE_WHY)

RULE = (
    f"A run fits when its estimated peak plus what the driver keeps ({DRIVER_RESERVED_GIB:.2f} GiB measured on "
    "H100/H200; the share measured for the GPU where the GPU table has it) is within the GPU's memory; a fit that "
    f"leaves less than {TIGHT_FRACTION:.0%} of the estimate free is tight, because measured errors reach about that "
    f"much ({BEYOND_TIGHT_FRACTION:.0%} for paths and steps longer than we measured for the family, "
    f"{UNMEASURED_TIGHT_FRACTION:.0%} for Unsloth families we have not measured, {FAR_TIGHT_FRACTION:.0%} for "
    f"{FAR_KINDS})."
)


@dataclass(frozen=True)
class Fit:
    """The verdict for one estimate on one GPU."""

    fits: bool
    headroom_gib: float  # GiB left after the driver's share and the run's peak (negative: short by that much)
    tight: bool  # fits, but with less room than the expected error
    margin: float = TIGHT_FRACTION  # the expected error, as a share of the estimate
    near: bool = False  # does not fit, but short by less than the estimate may be over the real peak
    over: float = TIGHT_FRACTION  # how far over the real peak the estimate may be, as a share of it

    @property
    def comfortable(self) -> bool:
        return self.fits and not self.tight


# A step shorter than this holds little more than a prompt: "the longest seq_len that fits" below it (or below half
# the asked length, for a short one) is no advice (Mistral NeMo 12B LoRA on 24 GiB: 17 tokens), from estimate_vram's
# suggestions or from the planner.
USEFUL_SEQ_LEN = 256


def too_short(seq_len: int, asked: int) -> bool:
    """True where `seq_len` is too short to train on in place of the `asked` length (USEFUL_SEQ_LEN)."""
    return seq_len < min(USEFUL_SEQ_LEN, asked // 2)


def judge(total_gib: float, memory_gib: float, reserved_gib: float = DRIVER_RESERVED_GIB,
          margin: float = TIGHT_FRACTION, over: float | None = None) -> Fit:
    """Whether an estimated peak of `total_gib` fits a GPU of `memory_gib` (as the driver reports it, of which
    the driver keeps `reserved_gib`: measured per GPU where the table has it), and how tightly: `margin` is the
    estimate's expected error (`CoreEstimate.margin`), `over` how far above the real peak it may be, for a near
    miss (`CoreEstimate.over_margin`; `margin` when not given). Judged on the figure as answers show it (to 0.01
    GiB), so a tool holding the estimate to more places gives the same verdict as one holding it to fewer."""
    shown = round(total_gib, 2)
    left = round(memory_gib - reserved_gib - shown, 2)
    over = margin if over is None else over
    return Fit(fits=left >= 0, headroom_gib=left, tight=0 <= left < margin * shown, margin=margin,
               near=-over * shown < left < 0, over=over)


def memory_needed(total_gib: float, reserved_gib: float = DRIVER_RESERVED_GIB, margin: float = TIGHT_FRACTION) -> float:
    """The smallest GPU memory that fits an estimate of `total_gib` comfortably (not tight)."""
    return total_gib * (1 + margin) + reserved_gib


NEAR_NOTE_START = "Close:"


def near_note(short_gib: float, margin: float = TIGHT_FRACTION) -> str:
    return (f"{NEAR_NOTE_START} the estimate is {short_gib:.2f} GiB over, less than it may be above the real peak "
            f"({margin:.0%} of the estimate), so the run may still fit. Try it watching the peak (nvidia-smi) before "
            "committing to a long run, or take one of the suggested changes to be sure.")


# Why a margin is what it is, by its value (the constants above say where each comes from).
_WHY = {
    TIGHT_FRACTION: "measured errors reach about that much",
    BEYOND_TIGHT_FRACTION: ("our Unsloth runs measured this family, but not on this path (full fine-tuning, no "
                            "gradient checkpointing, or a step longer than any we ran), so its estimate may miss by "
                            "about that much"),
    UNMEASURED_TIGHT_FRACTION: ("our Unsloth runs did not measure this family (the first runs of the families we "
                                "measured most recently came in up to about that much above the estimate)"),
    FAR_TIGHT_FRACTION: (f"models of this kind ({FAR_MODELS}) can miss by about that much: even where our own runs "
                         "agree, our figure was up to 32% under the peak Unsloth's notebooks printed for hybrids on "
                         "older Unsloth versions"),
}


# Why a size-only estimate (no layout known: a dense stand-in scaled to the size) takes the far margin.
COARSE_WHY = ("this is a size-only estimate: with no layout known for the model, a dense stand-in of its size is "
              "counted, and the model's own layout (experts, a wider vocabulary, its attention) can need that much more")


def tight_note(left_gib: float, margin: float = TIGHT_FRACTION, optimizer: str = "adamw_8bit",
               coarse: bool = False) -> str:
    """Why a fit is tight and how to leave more room (an 8-bit optimizer only where the run keeps 32-bit states on the
    GPU: a paged optimizer's are counted outside it); `coarse`: a size-only estimate, whose margin has its own why."""
    why = COARSE_WHY if coarse else (
        _WHY.get(margin) or _WHY[TIGHT_FRACTION if margin <= TIGHT_FRACTION else FAR_TIGHT_FRACTION])
    room = "a shorter seq_len" + (", an 8-bit optimizer" if optimizer in GPU_32BIT_STATE_OPTIMIZERS else "")
    room += " or a GPU with more memory"  # where the weights alone fill the card, the only way
    return (f"Tight fit: {left_gib:.2f} GiB to spare is less than {margin:.0%} of the estimate, and {why}: leave "
            f"more room ({room}) before a long run.")


# --- Unsloth Studio's method rule (recommend_model and the planner both choose by it) -------------


def studio_context_scale(seq_len: int) -> float:
    if seq_len >= 32768:
        return 4.0
    if seq_len >= 16384:
        return 2.0
    if seq_len > 8192:
        return 1.7
    return 1.0


def studio_prefers_lora(params_b: float | None, seq_len: int, memory_gib: float) -> bool:
    """Unsloth Studio's LoRA-vs-QLoRA rule (model size in GB x 1.5 x context scale <= memory)."""
    if params_b is None:
        return False
    return params_b * 2 * 1.5 * studio_context_scale(seq_len) <= memory_gib * GB_PER_GIB


@dataclass(frozen=True)
class AutoMethod:
    """Method auto's choice, as recommend_model and plan_training both make it; `case` says why, for their wording:
    "lora" (Studio's rule and our estimate both leave room), "lora_advised" (Unsloth advises against QLoRA for the
    family and LoRA fits comfortably), "lora_aux_off" (the same, once trl's router aux loss no longer keeps the first
    step's trial forwards), "qlora_lora_fits_too" (Studio's rule picks QLoRA; LoRA would fit), "qlora_lora_tight"
    (Studio's rule allows LoRA, our estimate leaves it too little room) or "qlora" (neither allows LoRA)."""

    method: str
    case: str

    @property
    def router_aux_loss(self) -> bool:
        return self.case != "lora_aux_off"


def auto_method(studio_lora: bool, lora_roomy: bool, qlora_advised_against: bool, lora_roomy_aux_off: bool = False
                ) -> AutoMethod:
    """LoRA (16-bit, faster) where Unsloth Studio's rule allows it and our estimate leaves it room (`lora_roomy`:
    fits comfortably), else QLoRA; for a family Unsloth advises QLoRA against, LoRA wherever it fits comfortably,
    with the router aux loss off if only that makes it fit (`lora_roomy_aux_off`)."""
    if lora_roomy:
        if studio_lora:
            return AutoMethod("lora", "lora")
        return AutoMethod("lora", "lora_advised") if qlora_advised_against else AutoMethod("qlora", "qlora_lora_fits_too")
    if qlora_advised_against and lora_roomy_aux_off:
        return AutoMethod("lora", "lora_aux_off")
    return AutoMethod("qlora", "qlora_lora_tight" if studio_lora else "qlora")
