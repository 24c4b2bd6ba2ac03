"""What Unsloth's loader (2026.10.9) and transformers (5.17) do with a checkpoint already quantised in a format other
than bitsandbytes' (pure): FP8, read closely, and the rest, said to be unmeasured.

Read in the unsloth 2026.10.9 wheel on PyPI:
- `load_in_4bit=True` quantises an FP8 checkpoint to NF4 while loading only where its scales come in blocks
  (quantization_config.weight_block_size [m, n]) and the flag was passed explicitly (or UNSLOTH_FP8_TO_NF4=1):
  unsloth/models/fp8_to_nf4.py, `maybe_arm_fp8_to_nf4`.
- Otherwise it prints "Model already quantized with fp8" and drops load_in_4bit (unsloth/models/loader_utils.py,
  `check_and_disable_bitsandbytes_loading`, which does so for most other quantisations too): the FP8
  weights are kept and LoRA trains over them on a GPU with FP8 compute (compute capability 8.9 or higher); below that
  transformers dequantises them to 16 bits on load (unsloth/models/_utils.py, `verify_fp8_support_if_applicable`).
- A 16-bit load dequantises them only when `load_in_16bit=True` is passed (unsloth/models/loader.py,
  `_fp8_dequantize_quantization_config`); with load_in_4bit=False alone they stay FP8 where the GPU computes in it.
Plain transformers (5.17.0) refuses a BitsAndBytesConfig for an FP8 checkpoint: QLoRA needs a 16-bit copy.
None of these runs is measured; the notes say which figure stands for them.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from finetune_advisor.catalog import naming
from finetune_advisor.vocabulary import Fp8Scales

SOURCE = ("unsloth 2026.10.9: unsloth/models/fp8_to_nf4.py maybe_arm_fp8_to_nf4, loader_utils.py "
          "check_and_disable_bitsandbytes_loading, _utils.py verify_fp8_support_if_applicable")
LORA_SOURCE = ("unsloth 2026.10.9: unsloth/models/loader.py _fp8_dequantize_quantization_config, _utils.py "
               "verify_fp8_support_if_applicable")
TRANSFORMERS_SOURCE = "transformers 5.17.0: quantizers/auto.py AutoHfQuantizer.merge_quantization_configs"
TRANSFORMERS_LOAD_SOURCE = ("transformers 5.17.0: quantizers/quantizer_finegrained_fp8.py validate_environment, "
                            "utils/quantization_config.py FineGrainedFP8Config")
FP8_COMPUTE = (8, 9)  # the compute capability from which GPUs compute in FP8 (Ada, Hopper and later)


# Formats the estimator reads closely (bitsandbytes: the 16-bit layers a pre-quantised upload keeps; FP8 here) or that
# the catalog's own families answer for (mxfp4: gpt-oss, measured): no `other_note` for them.
READ_CLOSELY = ("bitsandbytes", "fp8", "mxfp4")


_METHOD = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")  # how transformers spells one: a config's value is quoted back


def _quantization(config: Any) -> dict[str, Any] | None:
    """A config.json's quantization_config (its own, else its text_config's), where it is a table naming a method
    spelled as transformers spells them (anything else from a Hub config is not read)."""
    if not isinstance(config, dict):
        return None
    for holder in (config, config.get("text_config")):
        quant = holder.get("quantization_config") if isinstance(holder, dict) else None
        method = quant.get("quant_method") if isinstance(quant, dict) else None
        if isinstance(method, str) and _METHOD.fullmatch(method.strip().lower()):
            return quant
    return None


def method_in(config: Any) -> str | None:
    """The quantisation a config.json declares ('fp8', 'gptq', 'compressed-tensors'), lower-cased."""
    quant = _quantization(config)
    return quant["quant_method"].strip().lower() if quant else None


def scales_in(config: Any) -> Fp8Scales | None:
    """How a config.json's FP8 weights are scaled; None where the checkpoint is not FP8. Anything malformed reads as
    None."""
    quant = _quantization(config)
    if quant is None or method_in(config) != "fp8":
        return None
    block = quant.get("weight_block_size")
    if block is None:
        return "per-tensor"
    ok = isinstance(block, list) and len(block) == 2 and all(type(b) is int and b > 0 for b in block)
    return "block" if ok else None


def computes_fp8(capability: str | None) -> bool | None:
    """Whether a GPU of this compute capability ('8.9') computes in FP8; None where it is not known."""
    try:
        major, minor = (int(part) for part in (capability or "").split("."))
    except ValueError:
        return None
    return (major, minor) >= FP8_COMPUTE


class OtherRun(NamedTuple):
    """Figures for what the usual QLoRA call trains on a per-tensor FP8 checkpoint: 16-bit LoRA (below compute
    capability 8.9), LoRA over the FP8 weights (from 8.9: counted, not measured), and those FP8 weights alone."""

    lora_gib: float
    fp8_gib: float
    weights_gib: float


def qlora_note(repo_id: str, scales: Fp8Scales, capability: str | None, figures: OtherRun | None = None) -> str:
    """What a QLoRA answer says about an FP8 checkpoint: block-scaled ones quantise only when asked explicitly;
    per-tensor ones never do, so the usual call trains another run than QLoRA (`figures`, where estimated)."""
    if scales == "block":
        return (f"{repo_id} is stored in FP8 with block scales: Unsloth quantises it to 4 bits while it loads only "
                "when load_in_4bit=True is passed explicitly (or UNSLOTH_FP8_TO_NF4=1); left at its default it keeps "
                f"the FP8 weights, and the run is not the QLoRA sized here ({SOURCE}).")
    over_fp8 = ("Unsloth keeps the FP8 weights and trains LoRA over them, dequantising one weight to 16 bits at a time "
                "for its matmul (unsloth/kernels/fp8.py)")
    if figures:
        over_fp8 += (f": about {figures.fp8_gib:.1f} GiB by our count (16-bit LoRA's figure less a byte a linear "
                     f"weight; the FP8 weights alone take {figures.weights_gib:.1f}), a run we have not measured")
    sixteen = f" (about {figures.lora_gib:.1f} GiB here)" if figures else ""
    fp8 = computes_fp8(capability)
    if fp8 is None:
        run = (f"On a GPU with FP8 compute (compute capability 8.9 or higher) {over_fp8}; below 8.9 they are "
               f"dequantised to 16 bits on load, so that call trains 16-bit LoRA{sixteen}.")
    elif fp8:
        run = f"On this GPU (compute capability {capability}) {over_fp8}."
    else:
        run = (f"On this GPU (compute capability {capability}, no FP8 compute) they are dequantised to 16 bits on "
               f"load, so that call trains 16-bit LoRA{sixteen}.")
    return (f"Unsloth does not quantise {repo_id} to 4 bits: its FP8 weights carry one scale per tensor, and Unsloth "
            "quantises FP8 to 4 bits on load only where the scales come in blocks; with load_in_4bit=True it prints "
            f"'Model already quantized with fp8' and drops the flag ({SOURCE}). {run} For the QLoRA sized here, load "
            f"a 16-bit copy of it with {naming.QUANTIZATION_CONFIG} passed to from_pretrained.")


def unsloth_note(repo_id: str, scales: Fp8Scales, method: str, capability: str | None) -> str | None:
    """What an answer on the Unsloth stack says about an FP8 checkpoint loaded as it is, by method (full fine-tuning:
    nothing)."""
    if method == "qlora":
        return qlora_note(repo_id, scales, capability)
    return lora_note(repo_id, capability) if method == "lora" else None


# What each loader does with an FP8 checkpoint loaded for 16-bit LoRA: on a GPU without FP8 compute, and otherwise.
_LORA_LOADS = {
    "unsloth": ("it is dequantised to 16 bits on load",
                "which Unsloth loads when load_in_16bit=True is passed; with load_in_4bit=False alone, {where} it "
                "keeps the FP8 weights and trains LoRA over them, which needs less (not measured)", LORA_SOURCE),
    "transformers": ("transformers dequantises it to 16 bits on load",
                     "which transformers loads with quantization_config=FineGrainedFP8Config(dequantize=True); loaded "
                     "as it is, {where} it keeps FP8 linear layers, and LoRA over them through peft is not measured "
                     "here", TRANSFORMERS_LOAD_SOURCE),
}


def lora_note(repo_id: str, capability: str | None, stack: str = "unsloth") -> str:
    """What a 16-bit LoRA answer on `stack` says about an FP8 checkpoint: it stays FP8 where the GPU computes in FP8
    unless the loader is asked to dequantise it (Unsloth: load_in_16bit=True)."""
    dequantised, kept, source = _LORA_LOADS[stack]
    fp8 = computes_fp8(capability)
    if fp8 is False:
        return (f"{repo_id} is stored in FP8; on this GPU (compute capability {capability}, no FP8 compute) "
                f"{dequantised}, the run sized here ({source}).")
    where = f"on this GPU (compute capability {capability})" if fp8 else \
        "on a GPU with FP8 compute (compute capability 8.9 or higher)"
    return (f"{repo_id} is stored in FP8. This figure is for its weights in 16 bits, {kept.format(where=where)} "
            f"({source}).")


def transformers_qlora_note(repo_id: str) -> str:
    """What a QLoRA answer on the transformers stack says about an FP8 checkpoint: bitsandbytes cannot load it."""
    return (f"{repo_id} is stored in FP8, and transformers refuses a BitsAndBytesConfig for it ('The model is "
            f"quantized with FineGrainedFP8Config but you are passing a BitsAndBytesConfig config', "
            f"{TRANSFORMERS_SOURCE}): this QLoRA run starts from a 16-bit copy of it.")


def transformers_note(repo_id: str, method: str, capability: str | None) -> str | None:
    """What an answer on the transformers stack says about an FP8 checkpoint loaded as it is, by method (full
    fine-tuning: nothing)."""
    if method == "qlora":
        return transformers_qlora_note(repo_id)
    return lora_note(repo_id, capability, "transformers") if method == "lora" else None


def other_note(repo_id: str, method: str) -> str:
    """What an answer says about a checkpoint quantised in a format neither read closely nor measured."""
    return (f"{repo_id}'s config.json declares its weights quantised with {method}. This estimate counts them as if a "
            "16-bit checkpoint were loaded (in NF4 for QLoRA); Unsloth drops load_in_4bit for most non-bitsandbytes "
            "quantisations and trains over the checkpoint's own format (it re-quantises packed compressed-tensors "
            "ones to 4 bits instead; unsloth 2026.10.9, unsloth/models/loader_utils.py "
            "check_and_disable_bitsandbytes_loading), which we have not measured: the figure may be off either way.")
