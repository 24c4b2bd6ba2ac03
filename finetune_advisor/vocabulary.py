"""The words and the bounds every part of finetune-advisor shares, each declared once.

A `Literal` here is the one definition of its set of values: the tools' input schemas, the core's
models and the CLI's choices all use it (its values as a tuple are `values(T)`). `LIMITS` is the
one table of numeric bounds: the tools' `Field`s take them with `bounds(name)`, the core checks
them with `check_range(name, value)`, and the CLI prints them from the same place. `MAX_CHARS`
and `MAX_ITEMS` bound every free text and list argument the same way (`text_bounds`,
`list_bounds`, `check_text`, `check_list`): nothing a client sends is unbounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from finetune_advisor.errors import InvalidInputError

# What a model is fine-tuned for, and which checkpoint of it.
Task = Literal["chat", "code", "vision", "reasoning", "tts", "stt"]
Variant = Literal["base", "instruct"]
Domain = Literal["medical"]  # a field a model was specialised for that is not a task (recommend: use_case.DOMAIN_WORDS)
# How a checkpoint stores its weights: 16-bit, bitsandbytes 4-bit, or Unsloth's dynamic 4-bit.
Quant = Literal["16bit", "bnb-4bit", "unsloth-bnb-4bit"]
# How an FP8 checkpoint lays out its scales (config.json quantization_config.weight_block_size: null, or [m, n]).
Fp8Scales = Literal["per-tensor", "block"]

# How the run trains.
Method = Literal["qlora", "lora", "full"]
METHOD_NAMES: dict[str, str] = {"qlora": "QLoRA", "lora": "LoRA", "full": "Full fine-tuning"}
MethodRequest = Literal["auto", "qlora", "lora", "full"]  # what a user may ask recommend_model for
Optimizer = Literal["adamw_8bit", "adamw_torch", "adamw_torch_fused", "paged_adamw_8bit", "paged_adamw_32bit"]
GPU_32BIT_STATE_OPTIMIZERS = ("adamw_torch", "adamw_torch_fused")  # keep fp32 Adam states on the GPU (paged: off it)
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
Machine = Literal["local", "server"]  # whose GPUs detect_gpus lists: the user's computer, or an HTTP server's
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
ATTENTION_ONLY = ALL_LINEAR[:4]  # q_proj, k_proj, v_proj, o_proj

# Accepted ranges, inclusive: (lowest, highest). The same quantity has the same bounds everywhere.
LIMITS: dict[str, tuple[float, float]] = {
    "seq_len": (1, 1_048_576),
    "batch_size": (1, 1024),
    "lora_rank": (1, 4096),
    "lora_dropout": (0.0, 0.9),
    "num_gpus": (1, 512),
    "images_per_row": (0, 64),
    "gpu_memory_gib": (0.25, 4096),
    "params_b": (0.01, 10_000),
    "max_params_b": (0.01, 10_000),
    "dataset_rows": (0, 10**12),
    "monthly_active_users": (0, 10**11),
    "top_k": (1, 10),
    # config.json fields (vram.Architecture): physical bounds, far above any real model (the largest
    # catalog values are 126 layers, hidden 16384, vocab 262400, 512 experts, 1M positions), so that a
    # mistyped or hostile config is refused by name instead of sizing a trillion-layer model.
    "num_hidden_layers": (1, 2048),
    "hidden_size": (1, 262_144),
    "intermediate_size": (1, 1_048_576),
    "num_attention_heads": (1, 4096),
    "num_key_value_heads": (1, 4096),
    "head_dim": (1, 16_384),
    "vocab_size": (1, 16_777_216),
    "max_position_embeddings": (1, 1 << 30),
    "sliding_window": (1, 1 << 30),
    "attention_chunk_size": (1, 1 << 30),
    "num_experts": (1, 16_384),
    "num_experts_per_tok": (1, 1024),
    "moe_intermediate_size": (1, 1_048_576),
    "num_shared_experts": (0, 1024),
    "first_dense_layers": (0, 2048),
    "moe_layer_step": (1, 2048),
    "intermediate_size_mlp": (1, 1_048_576),
    "block_multiple_of": (1, 1_048_576),
    "shared_expert_intermediate_size": (1, 1_048_576),
    "hidden_size_per_layer_input": (1, 262_144),
    "vocab_size_per_layer_input": (1, 16_777_216),
    "num_kv_shared_layers": (0, 2048),
    "global_head_dim": (1, 16_384),
    "num_global_key_value_heads": (1, 4096),
    "mamba_d_ssm": (1, 1_048_576),
    "mamba_n_heads": (1, 65_536),
    "mamba_d_head": (1, 65_536),
    "mamba_n_groups": (1, 65_536),
    "mamba_d_state": (1, 65_536),
    "mamba_chunk_size": (1, 65_536),
    "linear_num_key_heads": (1, 65_536),
    "linear_key_head_dim": (1, 65_536),
    "linear_num_value_heads": (1, 65_536),
    "linear_value_head_dim": (1, 65_536),
    "q_lora_rank": (1, 1_048_576),
    "kv_lora_rank": (1, 1_048_576),
    "qk_nope_head_dim": (1, 16_384),
    "qk_rope_head_dim": (1, 16_384),
    "v_head_dim": (1, 16_384),
    # the speech encoder of an encoder-decoder model (Whisper): its depth, heads, MLP width, the frames it
    # runs over (1500 for 30 s of audio), its input channels (mel bins), and the decoder's token limit (448)
    "encoder_layers": (1, 2048),
    "encoder_attention_heads": (1, 4096),
    "encoder_ffn_dim": (1, 1_048_576),
    "max_source_positions": (1, 1_048_576),
    "num_mel_bins": (1, 4096),
    "max_target_positions": (1, 1_048_576),
    # plan_training's data and money. A row may be longer than any context (the trainer cuts it): up to 16 Mi tokens,
    # what a line of the 16 MiB a dataset file may hold (adapters.dataset_file.MAX_LINE_BYTES) has at one byte a token
    "tokens_per_row": (1, 16_777_216),
    "longest_row": (1, 16_777_216),
    "epochs": (0.01, 1000),
    "effective_batch": (1, 65_536),
    "price_per_hour": (0, 10_000),
}
_FLOAT_LIMITS = frozenset({"lora_dropout", "gpu_memory_gib", "params_b", "max_params_b", "tokens_per_row", "epochs",
                           "price_per_hour"})
INTEGER_LIMITS = frozenset(LIMITS) - _FLOAT_LIMITS

# Longest accepted text, in characters, per free-text argument (for a list: per item), and most items
# per list argument. Catalog ids and repo ids are far shorter; a question has its own limit
# (unsloth_docs.pages.MAX_QUESTION_CHARS).
MAX_CHARS: dict[str, int] = {
    "model": 300,
    "gpu": 80,
    "license_id": 100,
    "use_case": 2000,
    "page": 300,
    "allowed_licenses": 100,
    "languages": 50,
    "model_type": 100,
    "layer_types": 64,
    "prompt_argument": 2000,  # any argument of an MCP prompt: the user's words, rendered into the prompt's text
    "resource_uri": 400,  # an MCP resource's URI: the longest real one is catalog://models/ and a 300-character id
}
MAX_ITEMS: dict[str, int] = {
    "allowed_licenses": 50,
    "languages": 50,
    "target_modules": len(ALL_LINEAR),
    "layer_types": LIMITS["num_hidden_layers"][1],
}


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
    """Raise InvalidInputError naming `name` when `value` is not a number within its bounds (a boolean
    is not a number, though Python counts True as 1)."""
    low, high = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(name, f"{_shown(value)} is not a number", describe_range(name))
    if not low <= value <= high:
        raise InvalidInputError(name, f"{_shown(value)} is out of range", describe_range(name))


def text_bounds(name: str) -> dict[str, int]:
    """`max_length` for a pydantic Field of this text argument."""
    return {"max_length": MAX_CHARS[name]}


def list_bounds(name: str) -> dict[str, int]:
    """`max_length` (most items) for a pydantic Field of this list argument."""
    return {"max_length": MAX_ITEMS[name]}


def check_text(name: str, value: str, limit: str | None = None) -> None:
    """Raise InvalidInputError naming `name` when `value` is longer than its limit (`limit`'s, where the same text
    goes by another name)."""
    most = MAX_CHARS[limit or name]
    if len(value) > most:
        raise InvalidInputError(name, f"it is {len(value)} characters long", f"at most {most} characters")


def check_list(name: str, values: Sequence[str]) -> None:
    """Raise InvalidInputError naming `name` when the list or one of its items is too long."""
    if len(values) > MAX_ITEMS[name]:
        raise InvalidInputError(name, f"it has {len(values)} items", f"at most {MAX_ITEMS[name]} items")
    if name in MAX_CHARS:
        for value in values:
            if len(value) > MAX_CHARS[name]:
                raise InvalidInputError(
                    name, f"an item is {len(value)} characters long", f"items of at most {MAX_CHARS[name]} characters"
                )


def cut_short(text: str) -> str:
    """Text as an error message echoes it: at most 40 characters, a longer one cut with '...'."""
    return text if len(text) <= 40 else text[:37] + "..."


def _shown(value: object) -> str:
    """A value as an error message shows it: numbers in short form, anything else cut short."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return show_number(value)
    return cut_short(repr(value))
