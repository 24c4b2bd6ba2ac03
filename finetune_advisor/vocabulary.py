"""The words and the bounds every part of finetune-advisor shares, each declared once.

A `Literal` here is the one definition of its set of values: the tools' input schemas, the core's
models and the CLI's choices all use it (its values as a tuple are `values(T)`). `LIMITS` is the
one table of numeric bounds: the tools' `Field`s take them with `bounds(name)`, the core checks
them with `check_range(name, value)`, and the CLI prints them from the same place.
"""

from __future__ import annotations

from typing import Literal, get_args

from finetune_advisor.errors import InvalidInputError

# What a model is fine-tuned for, and which checkpoint of it.
Task = Literal["chat", "code", "vision", "reasoning", "tts", "stt"]
Variant = Literal["base", "instruct"]
# How a checkpoint stores its weights: 16-bit, bitsandbytes 4-bit, or Unsloth's dynamic 4-bit.
Quant = Literal["16bit", "bnb-4bit", "unsloth-bnb-4bit"]

# How the run trains.
Method = Literal["qlora", "lora", "full"]
MethodRequest = Literal["auto", "qlora", "lora", "full"]  # what a user may ask recommend_model for
Optimizer = Literal["adamw_8bit", "adamw_torch", "adamw_torch_fused", "paged_adamw_8bit", "paged_adamw_32bit"]
Stack = Literal["unsloth", "transformers"]
Sharding = Literal["ddp", "fsdp", "zero3"]
Attention = Literal["sdpa", "eager"]
TargetModule = Literal["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# What a licence allows for the user's plans.
Verdict = Literal["allowed", "allowed_with_conditions", "not_allowed", "unknown"]

# Where an answer came from.
ModelSource = Literal["catalog", "hub", "architecture", "params_b"]
LicenseOrigin = Literal["catalog", "hub", "license_id", "unresolved"]
DocsOrigin = Literal["live", "cache", "offline"]
MemorySource = Literal["named", "argument", "detected", "unknown"]  # where a tool took the GPU memory from
InventorySource = Literal["nvml", "none"]  # whether detect_gpus could ask NVML
DocsLanguage = Literal["en", "zh", "de", "fr", "jp"]


def values(literal: object) -> tuple[str, ...]:
    """The values of a Literal, in their declared order."""
    return tuple(get_args(literal))


TASKS = values(Task)
METHODS = values(Method)
OPTIMIZERS = values(Optimizer)
STACKS = values(Stack)
SHARDINGS = values(Sharding)
ATTENTIONS = values(Attention)
ALL_LINEAR = values(TargetModule)

# Accepted ranges, inclusive: (lowest, highest). The same quantity has the same bounds everywhere.
LIMITS: dict[str, tuple[float, float]] = {
    "seq_len": (1, 1_048_576),
    "batch_size": (1, 1024),
    "lora_rank": (1, 4096),
    "lora_dropout": (0.0, 0.9),
    "num_gpus": (1, 512),
    "gpu_memory_gib": (0.25, 4096),
    "params_b": (0.01, 10_000),
    "max_params_b": (0.01, 10_000),
    "dataset_rows": (0, 10**12),
    "monthly_active_users": (0, 10**11),
    "top_k": (1, 10),
    "tokens_per_row": (1, 1_048_576),
    "epochs": (0.01, 1000),
    "effective_batch": (1, 65_536),
    "price_per_hour": (0, 10_000),
}
INTEGER_LIMITS = frozenset({"seq_len", "batch_size", "lora_rank", "num_gpus", "dataset_rows", "monthly_active_users", "top_k",
                            "effective_batch"})


def bounds(name: str) -> dict[str, float]:
    """`ge`/`le` keyword arguments for a pydantic Field of this quantity."""
    low, high = LIMITS[name]
    return {"ge": low, "le": high}


def show_number(value: float) -> str:
    """A number as a person writes it: whole numbers without a decimal point or exponent
    (1048576, not 1.04858e+06), others in their shortest form (0.25)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e18:
        return str(int(value))
    return f"{value:g}"


def describe_range(name: str) -> str:
    """'1 to 1048576': the bounds as a person reads them."""
    low, high = LIMITS[name]
    return f"{show_number(low)} to {show_number(high)}"


def check_range(name: str, value: float) -> None:
    """Raise InvalidInputError naming `name` when `value` is outside its bounds."""
    low, high = LIMITS[name]
    if not low <= value <= high:
        raise InvalidInputError(name, f"{show_number(value)} is out of range", describe_range(name))
