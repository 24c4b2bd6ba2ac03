"""The grammar of Unsloth's repo ids, written once.

Unsloth re-uploads a model as `unsloth/<Name>` (16-bit), `unsloth/<Name>-bnb-4bit` (bitsandbytes
NF4) and `unsloth/<Name>-unsloth-bnb-4bit` (its dynamic 4-bit, which keeps some layers in 16-bit).
A base or an instruct checkpoint shows in the name (`-Base`, `-pt`, `-Instruct`, `-it`, ...). The
catalog stores the ids in six slots, `<variant>[_<quant>]`, e.g. `instruct_unsloth_bnb_4bit`.

Also what Unsloth's loader (2026.10.9) does with a name: the uploads it redirects to another repo
(`LOADER_REDIRECTS`), and the `-bf16` names it loads in 16 bits whatever load_in_4bit says.
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

# Uploads Unsloth's loader does not load: it takes the second id instead, whether the first was named or its mapper
# swapped it in for load_in_4bit. BAD_MAPPINGS in unsloth/models/loader_utils.py (lines 58-70) of the unsloth 2026.10.9
# wheel on PyPI, the version the estimates are calibrated for (github unslothai/unsloth@015bdef0d94a, 2026-08-22, had
# the first five), spelled as Unsloth spells them, with its own reason where its code gives one.
REDIRECT_SOURCE = "unsloth 2026.10.9, unsloth/models/loader_utils.py BAD_MAPPINGS"
LOADER_REDIRECTS: dict[str, tuple[str, str | None]] = {
    "unsloth/Qwen3-32B-unsloth-bnb-4bit": ("unsloth/Qwen3-32B-bnb-4bit", "32B dynamic quant is way too big"),
    "unsloth/Qwen3-30B-A3B-unsloth-bnb-4bit": ("unsloth/Qwen3-30B-A3B", "HF loads MoEs too slowly"),
    "unsloth/Qwen3-30B-A3B-bnb-4bit": ("unsloth/Qwen3-30B-A3B", "We rather do it on the fly"),
    "unsloth/Qwen3-30B-A3B-Base-unsloth-bnb-4bit": ("unsloth/Qwen3-30B-A3B-Base", "HF loads MoEs too slowly"),
    "unsloth/Qwen3-30B-A3B-Base-bnb-4bit": ("unsloth/Qwen3-30B-A3B-Base", "We rather do it on the fly"),
    "unsloth/solar-10.7b-bnb-4bit": ("upstage/SOLAR-10.7B-v1.0", None),
    "unsloth/Hermes-3-Llama-3.1-405B-bnb-4bit": ("NousResearch/Hermes-3-Llama-3.1-405B", None),
    "unsloth/Pixtral-12B-2409-Base-bnb-4bit": ("unsloth/Pixtral-12B-Base-2409-bnb-4bit", None),
    "unsloth/Llama-3.1-Tulu-3-8B-bnb-4bit": ("unsloth/Llama-3.1-Tulu-3-8B", None),
    "unsloth/Llama-3.1-Tulu-3-70B-bnb-4bit": ("allenai/Llama-3.1-Tulu-3-70B", None),
    "unsloth/OpenThinker-7B-unsloth-bnb-4bit": ("open-thoughts/OpenThinker-7B", None),
}
_REDIRECTS = {k.lower(): v for k, v in LOADER_REDIRECTS.items()}  # Unsloth's loader compares lower-cased ids


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


def redirected(repo_id: str) -> bool:
    """Whether Unsloth's loader takes another repo when `repo_id` is named (LOADER_REDIRECTS)."""
    return repo_id.lower() in _REDIRECTS


def loaded_by_unsloth(repo_id: str) -> str:
    """The repo Unsloth's loader takes when `repo_id` is named (LOADER_REDIRECTS); `repo_id` itself for most."""
    return _REDIRECTS.get(repo_id.lower(), (repo_id, None))[0]


def redirect_note(repo_id: str) -> str | None:
    """What the answer says where Unsloth's loader takes another repo than `repo_id`; None where it does not."""
    if not redirected(repo_id):
        return None
    target, reason = _REDIRECTS[repo_id.lower()]
    how = (f"{target} for {repo_id} and quantises it on load (load_in_4bit=True)" if split_quant(target)[1] == "16bit"
           else f"{target} instead of {repo_id}")
    why = f": '{reason}'" if reason else ""
    return f"Unsloth's loader takes {how} ({REDIRECT_SOURCE}{why})."


# Unsloth 2026.10.9's loader loads a Hub repo whose name ends in -bf16 in 16 bits even with load_in_4bit=True (the
# default), unless a quantization_config is passed; it prints a warning (unsloth/models/loader.py:1491-1514, FastModel
# at 2453-2476).
BF16_SUFFIX = "-bf16"
QUANTIZATION_CONFIG = ("quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type='nf4', "
                       "bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16)")


def loads_16bit_for_qlora(repo_id: str | None) -> bool:
    """Whether Unsloth's loader loads `repo_id` in 16 bits though load_in_4bit=True (its name ends in -bf16)."""
    return repo_id is not None and repo_id.lower().endswith(BF16_SUFFIX)


def bf16_note(repo_id: str, instead: str | None = None, lora_gib: float | None = None) -> str:
    """What a QLoRA answer says about a -bf16 repo: Unsloth trains it in 16 bits unless told otherwise, and how not to."""
    other = f"load {instead} instead, or " if instead else ""
    cost = f" (about {lora_gib:.1f} GiB here)" if lora_gib is not None else ""
    return (f"Unsloth loads {repo_id} in 16 bits even with load_in_4bit=True, because its name ends in -bf16 "
            f"(unsloth 2026.10.9, loader.py; it prints a warning), so that call trains 16-bit LoRA{cost}, not the QLoRA "
            f"sized here. For QLoRA, {other}pass {QUANTIZATION_CONFIG} to from_pretrained.")


def stem(ref: str) -> str:
    """A reference without owner, quantisation and -instruct, for fuzzy matching."""
    key = ref.split("/", 1)[1] if "/" in ref else ref
    key = split_quant(key)[0]
    return key.removesuffix("-instruct")
