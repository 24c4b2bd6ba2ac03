"""The grammar of Unsloth's repo ids, written once.

Unsloth re-uploads a model as `unsloth/<Name>` (16-bit), `unsloth/<Name>-bnb-4bit` (bitsandbytes
NF4) and `unsloth/<Name>-unsloth-bnb-4bit` (its dynamic 4-bit, which keeps some layers in 16-bit).
A base or an instruct checkpoint shows in the name (`-Base`, `-pt`, `-Instruct`, `-it`, ...). The
catalog stores the ids in six slots, `<variant>[_<quant>]`, e.g. `instruct_unsloth_bnb_4bit`.
"""

from __future__ import annotations

from finetune_advisor.vocabulary import Quant, Variant

ORG = "unsloth"
# Longest first: "-unsloth-bnb-4bit" also ends with "-bnb-4bit".
QUANT_SUFFIXES: tuple[tuple[str, Quant], ...] = (("-unsloth-bnb-4bit", "unsloth-bnb-4bit"), ("-bnb-4bit", "bnb-4bit"))
VARIANT_SUFFIXES: tuple[tuple[str, Variant], ...] = (
    ("-base", "base"), ("-pt", "base"), ("-pretrained", "base"), ("-instruct", "instruct"), ("-it", "instruct"),
)
# QLoRA loads the first of these that exists: the dynamic 4-bit, then plain bnb 4-bit.
QLORA_PREFERENCE: tuple[Quant, ...] = ("unsloth-bnb-4bit", "bnb-4bit")


def suffix(quant: Quant) -> str:
    """The repo-name suffix of a quantisation ('' for 16-bit)."""
    return next((s for s, q in QUANT_SUFFIXES if q == quant), "")


def split_quant(name: str) -> tuple[str, Quant]:
    """('unsloth/Qwen3-8B', 'bnb-4bit') for 'unsloth/Qwen3-8B-bnb-4bit'; case-insensitive match."""
    for end, quant in QUANT_SUFFIXES:
        if name.lower().endswith(end):
            return name[: -len(end)], quant
    return name, "16bit"


def split_variant(name: str) -> tuple[str, Variant | None]:
    """('unsloth/Foo-8B', 'base') for 'unsloth/Foo-8B-Base'; None when the name does not say."""
    for end, variant in VARIANT_SUFFIXES:
        if name.lower().endswith(end):
            return name[: -len(end)], variant
    return name, None


def slot(variant: Variant, quant: Quant) -> str:
    """The catalog field holding that id: 'instruct', 'base_bnb_4bit', 'instruct_unsloth_bnb_4bit'."""
    return variant if quant == "16bit" else f"{variant}_{quant.replace('-', '_')}"


def parse_slot(name: str) -> tuple[Variant, Quant]:
    """The inverse of `slot`."""
    variant: Variant = "base" if name.startswith("base") else "instruct"
    rest = name[len(variant):].lstrip("_").replace("_", "-")
    return variant, rest or "16bit"  # type: ignore[return-value]


def is_quantised_upload(repo_id: str) -> bool:
    """True for a -bnb-4bit or -unsloth-bnb-4bit repo."""
    return split_quant(repo_id)[1] != "16bit"


def stem(ref: str) -> str:
    """A reference without owner, quantisation and -instruct, for fuzzy matching."""
    key = ref.split("/", 1)[1] if "/" in ref else ref
    key = split_quant(key)[0]
    return key.removesuffix("-instruct")
