"""How far a model is from what we measured: the error to expect from an estimate (`error_margin`, which
`fit.judge` takes) and the sentence that says it (`measured_ground`)."""

from __future__ import annotations

import re

from finetune_advisor.vocabulary import METHOD_NAMES
from finetune_advisor.vram import constants as k
from finetune_advisor.vram import fit
from finetune_advisor.vram.architecture import SHORT_CONV, Architecture
from finetune_advisor.vram.families import (COMPILE_OFF_RUNS, LINEAR_MIXER_FAMILIES, compile_off_on_unsloth, family_of,
                                           router_trial_kept)
from finetune_advisor.vram.run import RunConfig
from finetune_advisor.vram.terms import text_tokens


def by_family(table: dict[str, float], model_type: str) -> float:
    """A per-family measured value; a multimodal model's language model is measured under its text config's
    type (Qwen2.5-VL's qwen2_5_vl_text), which a catalog entry may name without the suffix."""
    if model_type in table:
        return table[model_type]
    return next((v for t, v in table.items() if family_of(t) == family_of(model_type)), 0)


def measured_cells(model_type: str, method: str | None = None) -> int:
    """Measured Unsloth cells of this family, of one method when given."""
    return int(by_family(_cells_by_family(method), model_type))


def _cells_by_family(method: str | None = None) -> dict[str, float]:
    return {t: m.get(method, 0) if method else sum(m.values()) for t, m in k.UNSLOTH_MEASURED_METHODS.items()}


def _measured(arch: Architecture, run: RunConfig) -> bool:
    """Whether the run is one our cells measured for this family: on Unsloth, LoRA and QLoRA per family (full
    fine-tuning on six dense models only); the transformers stack's figures are counted from the architecture."""
    fitted_path = run.gradient_checkpointing and run.method != "full"
    return run.stack != "unsloth" or (fitted_path and bool(measured_cells(arch.model_type)))


def error_margin(arch: Architecture, run: RunConfig) -> float:
    """The error to expect from how far the model is from what we measured (fit.py says why each value): a family
    never measured on Unsloth, one measured but not on this path, or a step longer than any we measured for it
    (`longest_measured`)."""
    measured = _measured(arch, run)
    if arch.is_hybrid or arch.encoder_layers or (arch.is_moe and not measured):
        return fit.FAR_TIGHT_FRACTION
    if run.stack == "unsloth" and not measured_cells(arch.model_type):
        return fit.UNMEASURED_TIGHT_FRACTION
    return fit.TIGHT_FRACTION if measured and not longest_measured(arch, run) else fit.BEYOND_TIGHT_FRACTION


def longest_measured(arch: Architecture, run: RunConfig) -> int | None:
    """On Unsloth, the most tokens a step held in the runs we measured of this family and kind (dense or MoE:
    Gemma 4 has both) with this run's method, or with any where this method was not measured, when this run's step
    holds more, else None. Beyond it the per-token terms are extrapolated, at no less than the rate our runs grew
    over their last stretch (`tail_growth`): Granite 4.0-H's QLoRA was measured to 8,192 tokens and its LoRA to
    16,384, and its QLoRA at 16,384 keeps the growth its own runs showed."""
    if run.stack != "unsloth":
        return None
    by_method = _longest_by_method(arch)
    most = by_method.get(run.method) or max(by_method.values(), default=0)
    return most if 0 < most < text_tokens(arch, run) else None


def _longest_by_method(arch: Architecture) -> dict[str, int]:
    """The most tokens a step held in our Unsloth runs of this family and kind, by method (constants)."""
    longest = by_family(k.UNSLOTH_LONGEST_TOKENS, arch.model_type)
    return longest.get(length_kind(arch), {}) if longest else {}


def tail_rate(arch: Architecture, method: str) -> float:
    """Bytes a token by which this family's measured peaks outgrew the estimate over their last measured stretch
    (constants.UNSLOTH_TAIL_GROWTH, written by the fit): of this method where it was measured at two lengths, else
    the fastest of the family's methods. Gemma 4 26B-A4B QLoRA's peak grew 0.57 GiB per 1,000 tokens from 8,192 to
    16,384 tokens (rounds 34-39) where the estimate then grew 0.37; refitted on its 24,576-token cell (round 40), it
    keeps to the estimate there, and its LoRA's 8,192 to 16,384 sets the family's rate."""
    by_method = _by_method(k.UNSLOTH_TAIL_GROWTH, arch)
    return by_method.get(method, max(by_method.values(), default=0.0))


def tail_bend(arch: Architecture, method: str) -> tuple[float, float]:
    """Where this family's residual (measured less estimated) bent upward over a wide span of lengths: its fitted
    quadratic's (bytes a token, bytes a token squared), constants.UNSLOTH_TAIL_BEND; of this method where it was
    fitted, else the family's strongest bend; (0, 0) where none was."""
    by_method = _by_method(k.UNSLOTH_TAIL_BEND, arch)
    linear, square = by_method.get(method) or max(by_method.values(), key=lambda bend: bend[1], default=(0.0, 0.0))
    return linear, square


def _by_method(table: dict, arch: Architecture) -> dict:
    """A fitted table's entries for this family and kind (dense or MoE), by method; empty where none were fitted."""
    family = by_family(table, arch.model_type)
    return family.get(length_kind(arch), {}) if family else {}


def tail_growth(arch: Architecture, run: RunConfig) -> float:
    """Bytes the peak adds beyond the longest step measured of its family, kind and method (`longest_measured`), so
    that an extrapolated figure grows at least as fast as the measurements did: the tokens beyond it at `tail_rate`,
    or, where the measurements bent upward (`tail_bend`), that bend continued from the longest step, whichever adds
    more."""
    most = longest_measured(arch, run)
    return 0.0 if most is None else max(_tails(arch, run, most))


def _tails(arch: Architecture, run: RunConfig, most: int) -> tuple[float, float]:
    """Bytes beyond `most` tokens: (at the straight `tail_rate`, along the `tail_bend`)."""
    tokens = text_tokens(arch, run)
    linear, square = tail_bend(arch, run.method)
    return tail_rate(arch, run.method) * (tokens - most), linear * (tokens - most) + square * (tokens**2 - most**2)


def length_kind(arch: Architecture) -> str:
    """The kind constants.UNSLOTH_LONGEST_TOKENS keeps a family's longest steps by: "moe" or "dense"."""
    return "moe" if arch.is_moe else "dense"


def _kind_said(arch: Architecture) -> str:
    """`length_kind` as an answer writes it: "MoE" or "dense"."""
    return {"moe": "MoE"}.get(length_kind(arch), "dense")


def ground_notes(arch: Architecture, run: RunConfig) -> list[str]:
    """What an Unsloth answer says of how far its memory figure is from measured ground: how few runs its family
    rests on (`ground_said`) and a step longer than any measured (`length_ground`); none on the transformers stack."""
    if run.stack != "unsloth":
        return []
    length = length_ground(arch, run)
    return [*([measured_ground(arch, run.method)] if ground_said(arch, run.method) else []), *([length] if length else [])]


def length_ground(arch: Architecture, run: RunConfig) -> str | None:
    """The sentence that says a step is longer than we measured for its family (`longest_measured`), or None."""
    most = longest_measured(arch, run)
    if most is None:
        return None
    kind = _kind_said(arch)
    straight, bent = _tails(arch, run, most)
    added = max(straight, bent)
    how = (f"grew beyond them faster the longer the step (fitted over our runs' lengths, the excess bends upward by "
           f"{tail_bend(arch, run.method)[1]:.2f} bytes a token squared)" if added > straight else
           f"outgrew them by {tail_rate(arch, run.method) * 1000 / k.GIB:.2f} GiB per 1,000 tokens over their last "
           "measured stretch")
    growth = (f"; our runs of this family {how}, so {added / k.GIB:.2f} GiB is added for the tokens beyond, and memory "
              "can grow faster still" if added else
              ", and memory can grow faster than they do (Gemma 4 26B-A4B's did from 8,192 to 16,384 tokens)")
    runs = f"Unsloth {METHOD_NAMES[run.method]} runs" if run.method in _longest_by_method(arch) else "Unsloth runs"
    return (f"This step holds {text_tokens(arch, run):,} tokens; the longest step of this family's {kind} models "
            f"({arch.model_type}) in our {runs} held {most:,}. Beyond that the per-token terms are extrapolated"
            f"{growth}: a fit counts as comfortable only with {error_margin(arch, run):.0%} of the estimate to spare.")


def over_margin(arch: Architecture, run: RunConfig) -> float:
    """How far above the real peak the estimate may be, which a near miss is judged by (`fit.judge`): for a family
    our Unsloth cells measured, whatever its kind, TIGHT_FRACTION (the worst over-estimate in sample is 10.2 %, held
    out on hybrids +7.9 %, round 24); otherwise `error_margin`. The hybrids' wider margin is for under-estimates
    (our figure up to 32 % under the peaks Unsloth's older notebooks printed), which a near miss does not need."""
    if run.stack == "unsloth" and _measured(arch, run):
        return fit.TIGHT_FRACTION
    return error_margin(arch, run)


# Below this many measured runs a family's answer says how little its figure rests on (issue 11 item 7): one or two
# runs pin the family's own terms at one or two shapes; every other shape, rank or method carries over the rest.
FEW_RUNS = 3


def method_said(arch: Architecture, method: str) -> bool:
    """Whether a MoE family whose first step keeps its layers' trials (families.router_trial_kept), measured in
    FEW_RUNS runs or more, was measured in fewer with this method: the share of each layer a trial keeps can differ by
    method (Granite 4.0-H: QLoRA keeps the routers' path, 16-bit LoRA the whole layers, round 24), where a dense
    model's methods differ in what is counted exactly (the weights)."""
    trials = arch.is_moe and router_trial_kept(arch.model_type, arch.router_aux_loss_coef)
    return trials and measured_cells(arch.model_type) >= FEW_RUNS and measured_cells(arch.model_type, method) < FEW_RUNS


def ground_said(arch: Architecture, method: str) -> bool:
    """Whether an answer should say how little its Unsloth figure rests on: a family measured in fewer than FEW_RUNS
    runs, or in none, or a MoE family with few runs of this method (`method_said`), or one measured only as a cut copy
    (MEASURED_AS_CUT_COPY)."""
    cut = family_of(arch.model_type) in MEASURED_AS_CUT_COPY
    return measured_cells(arch.model_type) < FEW_RUNS or method_said(arch, method) or cut


# Families measured only as a copy of a published config cut to fewer layers, every other field as published (too
# large for one GPU whole): what was cut, said beside their measured ground (bench/vram_calibration/configs/*-8L.json,
# *-4L.json).
MEASURED_AS_CUT_COPY = {
    "mixtral": "Mixtral 8x7B cut to 8 of its 32 layers",
    "deepseek_v3": "DeepSeek-V3 cut to 4 of its 61 layers (its 3 dense layers and one MoE layer of 256 experts)",
    "llama4": "Llama 4 Scout cut to 8 of its 48 layers (every layer MoE, its vision tower whole)",
}


def measured_ground(arch: Architecture, method: str) -> str:
    """How much of the Unsloth figure for this family, and for this method, rests on our own measurements, and how
    those runs differ from a user's (a copy cut to fewer layers; the per-block compile off)."""
    said = _measured_said(arch, method)
    if not measured_cells(arch.model_type):
        return said
    if cut := MEASURED_AS_CUT_COPY.get(family_of(arch.model_type)):
        said += f" Those runs were of {cut}, on one GPU."
    if compile_off_on_unsloth(arch.model_type):
        said += f" They ran with {COMPILE_OFF_RUNS}; the memory of a run with it on, Unsloth's default, is not measured."
    return said


def _measured_said(arch: Architecture, method: str) -> str:
    cells = measured_cells(arch.model_type)
    if method_said(arch, method):
        runs = measured_cells(arch.model_type, method)
        return (f"This family ({arch.model_type}) was measured on Unsloth in {cells} runs, "
                f"{'none' if not runs else f'only {runs}'} of them with {method}: its first step's trials can keep "
                "a different share of each layer by method (Granite 4.0-H: QLoRA keeps its routers' path, 16-bit LoRA "
                "whole layers, which peaked 21.5 % above the estimate made from QLoRA's count), so expect a larger "
                f"error for {method} here.")
    if cells and cells < FEW_RUNS:
        return (f"This family ({arch.model_type}) was measured on Unsloth in only {cells} run{'s' if cells > 1 else ''}: "
                "other shapes, ranks and methods carry over what the other families showed.")
    if cells:
        return f"This family ({arch.model_type}) was measured on Unsloth in {cells} runs."
    kind = _kind_said(arch)
    # The families with measured cells of this kind (Gemma 4 has both: dense E2B/E4B, MoE 26B).
    moe = k.UNSLOTH_MEASURED_MOE
    nearest = sorted(t for t, n in _cells_by_family().items() if (moe.get(t, 0) if arch.is_moe else n - moe.get(t, 0)))
    unlike = (_mixers_said(arch) if arch.is_hybrid else
              " It is an encoder-decoder; they are decoder-only." if arch.encoder_layers else "") + _latent_said(arch)
    probe = PROBED.get(family_of(arch.model_type))
    kin = [t for t in nearest if _stem(t) == _stem(arch.model_type)]
    return (f"This family ({arch.model_type}) {'has no calibration cell' if probe else 'was not measured'} on Unsloth: "
            f"the figure carries over the {len(nearest)} {kind} families we measured"
            f"{f' (of its line: {_listed(kin)})' if kin else ''}.{unlike}"
            f"{' ' + probe if probe else ''} Expect a larger error: a fit counts as comfortable only with "
            f"{error_margin(arch, RunConfig()):.0%} of the estimate to spare.")


def _stem(model_type: str) -> str:
    """A model_type's line, its leading letters (cohere2 and cohere: cohere; qwen3_vl_text: qwen)."""
    return re.match(r"[a-z]*", model_type).group()


def _listed(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]


# Measured families whose attention is latent (their configs' kv_lora_rank; shapes._latent_attention).
_LATENT_ATTENTION_FAMILIES = ("deepseek_v3", "glm4_moe_lite")


def _latent_said(arch: Architecture) -> str:
    """For an unmeasured model with latent attention, which measured families have it."""
    if not arch.is_latent_attention:
        return ""
    measured = [t for t in _LATENT_ATTENTION_FAMILIES if t in k.UNSLOTH_MEASURED_METHODS]
    return (f" Its latent attention was measured only in {_listed(measured)}." if measured else
            " Its latent attention was measured in none of them.")


# How an answer names a hybrid's kinds of non-attention layer (Architecture.mixer_kinds), and the input site of their
# projections (shapes) by which families.LINEAR_MIXER_FAMILIES lists the families that hold them.
_MIXER_NAMES = {"mamba": "Mamba-2 mixers", "linear_attention": "Gated DeltaNet layers", SHORT_CONV: "short convolutions"}
_MIXER_SITES = {"mamba": "mamba_in", "linear_attention": "deltanet_in", SHORT_CONV: "conv_in"}


def _mixers_said(arch: Architecture) -> str:
    """Which of an unmeasured hybrid's non-attention layer kinds a measured family holds, and which none does."""
    measured = {kind for kind, site in _MIXER_SITES.items()
                if any(family_of(t) in LINEAR_MIXER_FAMILIES[site] for t in k.UNSLOTH_MEASURED_METHODS)}
    seen, unseen = arch.mixer_kinds & measured, arch.mixer_kinds - measured
    return ((f" Its {_mixer_names(seen)} were measured in other families." if seen else "")
            + (f" Its {_mixer_names(unseen)} were measured in none." if unseen else ""))


def _mixer_names(kinds: frozenset[str]) -> str:
    return " and ".join(_MIXER_NAMES.get(kind, kind) for kind in sorted(kinds))


# Families with no calibration cell that notebook probes ran through Unsloth 2026.10.9 (rounds 13-15; the records are
# bench/vram_accuracy/data/csm_probe.jsonl and whisper_probe.jsonl): what those runs measured, and with which settings.
PROBED = {
    "csm": ("Four runs outside the fit: csm-1b with Unsloth's TTS notebook settings (r32, 2 rows) peaked at 7.40 GiB "
            "on LoRA and 5.45 on QLoRA with 10 s of audio in 256 positions, 4.46 with 4 s, and 7.64 with 20 s in 512 "
            "(NVML, one H200)."),
    "whisper": ("One run outside the fit: Whisper large-v3 with Unsloth's notebook settings (LoRA r64 on q_proj and "
                "v_proj, 64-token labels, evaluation off) peaked at 4.38 GiB (NVML, one H200)."),
}
