"""Build tools/catalog.json from the researched reference (models.json).

    python scripts/build_catalog.py [--reference PATH] [--output tools/catalog.json]

Every value comes from the reference entry (or, for rows the reference marks `same_as`, from the
named entry, flagged as unverified). Nothing is invented: a value the reference lacks stays null.
Skipped rows (embedding-only models, rows with no usable facts) are printed on stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from finetune_advisor.tools.architecture import Architecture
from finetune_advisor.tools.catalog import Catalog, CatalogEntry

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = Path("/work/shared/reference/models.json")

# Rows left out, with the reason.
SKIP = {
    "embeddinggemma-300m": "embedding model, not a generative fine-tune target",
    "Muse-Glimmer-30B": "the reference found no architecture, licence or modality facts",
}

# `same_as` targets the reference names, mapped to the row whose architecture they mean.
SAME_AS = {
    "Qwen/Qwen2.5-0.5B": "Qwen2.5-0.5B",
    "Qwen/Qwen2.5-1.5B": "Qwen2.5-1.5B",
    "Qwen/Qwen2.5-3B": "Qwen2.5-3B",
    "Qwen/Qwen2.5-7B": "Qwen2.5-7B",
    "Qwen/Qwen2.5-14B": "Qwen2.5-14B",
    "Qwen/Qwen2.5-32B": "Qwen2.5-32B",
    "Qwen2.5-14B": "Qwen2.5-14B",
    "Qwen2.5-32B": "Qwen2.5-32B",
    "language model ~ Qwen/Qwen2.5-3B": "Qwen2.5-3B",
    "language model ~ Qwen/Qwen2.5-7B": "Qwen2.5-7B",
    "language model ~ Qwen/Qwen2.5-32B": "Qwen2.5-32B",
    "language model ~ Qwen/Qwen2.5-72B": "Qwen2.5-72B",
    "Qwen/Qwen3-30B-A3B (48 layers, 128 experts, top-8)": "Qwen3-30B-A3B",
    "Qwen/Qwen3-8B-Base": "Qwen3-8B",
    "Llama-3.1-8B (base)": "Llama-3.1-8B",
    "Llama-3.3-70B-Instruct": "Llama-3.3-70B-Instruct",
    "text decoder ~ Mistral-Nemo-12B": "Mistral-Nemo-12B-2407",
    "text ~ Mistral-Small-24B-2501 + Pixtral-style vision encoder": "Mistral-Small-24B-2501",
    "Mistral-Small-3.1-24B text decoder": "Mistral-Small-3.1-24B-2503",
    "Mistral-Small-3.x 24B": "Mistral-Small-24B-2501",
    "Phi-4-mini-instruct": "Phi-4-mini-instruct",
    "DeepSeek-V3": "DeepSeek-V3 / V3-0324",
    # Not mapped on purpose: Qwen2.5-Math-* (not in the reference) and Orpheus (extended vocabulary).
}

# Unsloth chat template names (unsloth/chat_templates.py keys, reference unsloth-docs.md 1.6).
CHAT_TEMPLATES = {
    "llama-3.1": "llama-3.1",
    "llama-3.2": "llama-3.2",
    "llama-3.2-vision": "llama-3.2",
    "llama-3.3": "llama-3.3",
    "qwen2.5": "qwen-2.5",
    "qwen2.5-coder": "qwen-2.5",
    "qwen3": "qwen3",
    "qwen3-moe": "qwen3",
    "gemma-2": "gemma2",
    "gemma-3": "gemma-3",
    "gemma-3n": "gemma-3n",
    "gemma-4": "gemma-4",
    "phi-3.5": "phi-3.5",
    "gpt-oss": "gpt-oss",
}
TEMPLATE_BY_NAME = {"Qwen3-4B-2507": "qwen3-instruct", "phi-4": "phi-4", "Mistral-7B-v0.3": "mistral",
                    "Phi-4-mini-instruct": None, "Phi-4-reasoning": None, "Phi-4-mini-reasoning": None}

CODE_FAMILIES = {"qwen2.5-coder", "qwen3-coder", "devstral"}
REASONING_SPECIALISTS = {"deepseek-r1-distill", "deepseek-r1", "magistral"}
REASONING_GENERAL = {"qwen3", "qwen3-moe", "gpt-oss"}  # hybrid thinking / reasoning effort
TTS_FAMILIES = {"orpheus-tts", "sesame-csm"}
STT_FAMILIES = {"whisper"}

UNCERTAIN_NAMES = {
    "has_base": "base_id",
    "unsloth_ids": "unsloth",
    "gated_on_hf": "gated",
    "modality": "modalities",
    "max_position_embeddings": "architecture.max_position_embeddings",
    "tie_word_embeddings": "architecture.tie_word_embeddings",
    "vocab_size": "architecture.vocab_size",
}
EVERYTHING = ["architecture", "params_total_b", "context_length", "release_date", "license_id", "modalities"]
_QUANT = (("-unsloth-bnb-4bit", "unsloth_bnb_4bit"), ("-bnb-4bit", "bnb_4bit"))
_LICENSES = {x["id"] for x in json.loads((DEFAULT_REFERENCE.parent / "licenses.json").read_text())}


def slug(name: str) -> str:
    name = name.split(" / ")[0].lower()
    return re.sub(r"-instruct(?=-|$)", "", name)


def architecture(row: dict[str, Any]) -> Architecture | None:
    fields = {k: v for k, v in (row.get("architecture") or {}).items() if k in Architecture.model_fields and v is not None}
    if isinstance(fields.get("model_type"), str):  # "gemma3 (text_config)": values read from the text config
        fields["model_type"] = fields["model_type"].split(" (")[0]
    try:
        return Architecture.model_validate(fields)
    except ValueError:
        return None


def release(value: str | None) -> tuple[date | None, bool, str | None]:
    """(date, is_approximate, note) from the reference's release string."""
    if not value:
        return None, False, None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return date.fromisoformat(value), False, None
    if re.fullmatch(r"\d{4}-\d{2}", value):
        return date.fromisoformat(value + "-01"), True, f"Released {value} (month only; day set to 1)."
    return None, False, f"Released {value}."


def unsloth_slots(row: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Split the reference's unsloth ids into the six slots and other ids."""
    names = {"base": row["base_model_id"], "instruct": row["instruct_model_id"]}
    stems = {}
    for variant, repo in names.items():
        if repo:
            short = repo.split("/")[1].lower().removesuffix("-bf16")
            stems[short] = variant
            stems["meta-" + short] = variant  # unsloth/Meta-Llama-3.1-70B
            stems[short.removeprefix("nvidia-")] = variant  # unsloth/Nemotron-3-Nano-30B-A3B
    slots: dict[str, str] = {}
    others: list[str] = []
    for raw in row["unsloth_ids"]:
        if " " in raw or "(" in raw:
            continue  # prose in the reference ("... (aliases)"), expanded by OTHER_IDS below
        if "/-" in raw:  # "unsloth/X-FP8-Block/-Dynamic"
            head, tail = raw.rsplit("/-", 1)
            others += [head, head.rsplit("-", 1)[0] + "-" + tail]
            continue
        stem, quant = raw.split("/")[1].lower(), ""
        for suffix, name in _QUANT:
            if stem.endswith(suffix):
                stem, quant = stem[: -len(suffix)], "_" + name
                break
        variant = stems.get(stem)
        if variant is None and stem.endswith("-base") and stem[:-5] in stems:
            variant = "base"
        if variant is None and "pixtral" in stem and stem.endswith("-base"):
            variant = "base"  # unsloth/Pixtral-12B-2409-Base-bnb-4bit
        if variant is None:
            others.append(raw)
        else:
            slots.setdefault(variant + quant, raw)
    return slots, others


OTHER_IDS = {
    "Llama-3.1-8B": ["unsloth/Meta-Llama-3.1-8B", "unsloth/Meta-Llama-3.1-8B-Instruct",
                     "unsloth/Meta-Llama-3.1-8B-bnb-4bit", "unsloth/Meta-Llama-3.1-8B-Instruct-bnb-4bit"],
}


def tasks_for(row: dict[str, Any], name: str) -> tuple[list[str], list[str]]:
    family, modality = row["family"], row["modality"]
    if family in TTS_FAMILIES:
        return ["tts"], ["tts"]
    if family in STT_FAMILIES:
        return ["stt"], ["stt"]
    tasks, special = ["chat"], []
    if family in CODE_FAMILIES:
        tasks.append("code")
        special.append("code")
    if "image" in modality:
        tasks.append("vision")
        if family not in {"gemma-3", "gemma-3n", "gemma-4", "ministral-3", "mistral-small-3", "magistral", "qwen3.5", "qwen3.6", "llama-4"}:
            special.append("vision")  # a vision-specific line (VL, Vision, Pixtral)
    reasoning_name = "reasoning" in name.lower()
    if family in REASONING_SPECIALISTS or reasoning_name:
        tasks.append("reasoning")
        special.append("reasoning")
    elif family in REASONING_GENERAL:
        tasks.append("reasoning")
    return tasks, special


def strengths(row: dict[str, Any], entry: dict[str, Any]) -> list[str]:
    support = (row["unsloth_support"] or "").lower()
    tags = []
    if "priority" in support:
        tags.append("unsloth-studio-priority")
    if "notebook" in support:
        tags.append("unsloth-notebook")
    if entry["params_active_b"]:
        tags.append("moe")
    if (entry["context_length"] or 0) >= 131072:
        tags.append("long-context")
    if any("audio" in m for m in row["modality"]) and row["family"] not in TTS_FAMILIES | STT_FAMILIES:
        tags.append("audio-input")
    if "video" in row["modality"]:
        tags.append("video-input")
    if row["family"] in {"qwen3", "qwen3-moe"}:
        tags.append("hybrid-thinking")
    return tags


def aliases(full_name: str, ident: str) -> list[str]:
    """Lower-case names users type: the display name(s), with spaces for dashes."""
    first, *others = [n.strip() for n in full_name.split(" / ")]
    names = [first, *(first.rsplit("-", 1)[0] + "-" + other for other in others)]  # "DeepSeek-V3 / V3-0324"
    out: list[str] = []
    for name in names:
        for candidate in (name.lower(), name.lower().replace("-", " "), slug(name).replace("-", " ")):
            if candidate != ident and candidate not in out:
                out.append(candidate)
    return out


def notes(row: dict[str, Any], extra: list[str]) -> str | None:
    parts = list(extra)
    for label, key in (("Parameters", "params_note"), ("Architecture", "architecture_note"), ("Context", "context_note"),
                       ("Licence", "license_notes"), ("Unsloth", "unsloth_support"), ("Unsloth notes", "unsloth_notes")):
        if row.get(key):
            parts.append(f"{label}: {row[key]}.".replace("..", "."))
    return " ".join(parts) or None


def build_entry(row: dict[str, Any], by_name: dict[str, dict[str, Any]]) -> dict[str, Any]:
    name = row["name"].split(" / ")[0]
    ident = slug(row["name"])
    uncertain = []
    for f in row["uncertain_fields"]:
        uncertain += EVERYTHING if f == "everything" else [UNCERTAIN_NAMES.get(f, f)]
    if row["license_status"] != "verified" and "license_id" not in uncertain:
        uncertain.append("license_id")
    sources = list(row["sources"])
    extra_notes: list[str] = []
    arch = architecture(row)
    status = {"verified": "verified", "corroborated": "corroborated", "unverified": "unverified"}.get(row["architecture_status"], "unknown")
    params = row["params_total_b"]
    same_as = (row["architecture"] or {}).get("same_as")
    if arch is None and same_as in SAME_AS:
        target = by_name[SAME_AS[same_as]]
        arch = architecture(target) or architecture(by_name[SAME_AS.get((target["architecture"] or {}).get("same_as"), "")])
        if arch is not None:
            status = "unverified"
            extra_notes.append(f"Architecture assumed equal to {target['name']} (the reference marks it same_as; not checked against this model's config).")
            sources += [s for s in target["sources"] if s not in sources]
            if params is None and row["modality"] == ["text"] and target["params_total_b"]:
                params = target["params_total_b"]
                extra_notes.append(f"Parameter count taken from {target['name']}.")
                uncertain.append("params_total_b")
    if arch is None:
        status = "unknown"
        known = {k: v for k, v in (row["architecture"] or {}).items() if v is not None and k != "same_as"}
        if len(known) > 1:
            extra_notes.append("Partial architecture in the reference: " + ", ".join(f"{k}={v}" for k, v in known.items()) + ".")
    elif status not in ("verified", "corroborated") and "architecture" not in uncertain:
        uncertain.append("architecture")
    released, approx, release_note = release(row["release_date"])
    if release_note:
        extra_notes.insert(0, release_note)
    if approx and "release_date" not in uncertain:
        uncertain.append("release_date")
    slots, others = unsloth_slots(row)
    others = [o for o in [*others, *OTHER_IDS.get(row["name"], [])] if o.lower() not in {s.lower() for s in slots.values()}]
    others += [o for o in row["other_variant_ids"] if " " not in o]
    others += [o.split(" ")[0] for o in row["other_variant_ids"] if o.endswith("(old alias)")]
    license_id = row["license_id"] if row["license_id"] in _LICENSES else None
    tasks, special = tasks_for(row, name)
    entry = {
        "id": ident,
        "name": name,
        "family": row["family"],
        "aliases": aliases(row["name"], ident),
        "tasks": tasks,
        "specialised_for": special,
        "base_id": row["base_model_id"],
        "instruct_id": row["instruct_model_id"],
        "unsloth": slots,
        "other_ids": sorted(set(others), key=others.index),
        "params_total_b": params,
        "params_active_b": row["params_active_b"],
        "architecture": arch.model_dump(exclude_defaults=True) if arch else None,
        "architecture_status": status,
        "modalities": row["modality"],
        "context_length": row["context_length"],
        "languages": [],
        "release_date": released.isoformat() if released else None,
        "license_id": license_id,
        "upstream_license_ids": [u for u in row["upstream_licenses"] if u in _LICENSES],
        "gated": row["gated_on_hf"],
        "chat_template": TEMPLATE_BY_NAME.get(name, CHAT_TEMPLATES.get(row["family"])),
        "uncertain_fields": list(dict.fromkeys(uncertain)),
        "sources": sources,
    }
    entry["strengths"] = strengths(row, entry)
    entry["notes"] = notes(row, extra_notes)
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--output", type=Path, default=ROOT / "tools" / "catalog.json")
    parser.add_argument("--only", nargs="*", help="reference names to include (default: all)")
    args = parser.parse_args(argv)
    rows = json.loads(args.reference.read_text())
    by_name = {r["name"]: r for r in rows}
    entries = []
    for row in rows:
        if row["name"] in SKIP:
            print(f"skipped {row['name']}: {SKIP[row['name']]}", file=sys.stderr)
            continue
        if args.only and row["name"] not in args.only:
            continue
        entries.append(CatalogEntry.model_validate(build_entry(row, by_name)))
    catalog = Catalog(
        generated_at=datetime.now(timezone.utc).replace(microsecond=0),
        generated_by="scripts/build_catalog.py from the reference models.json",
        models=sorted(entries, key=lambda e: e.id),
    )
    text = json.dumps(catalog.model_dump(mode="json", exclude_none=False), indent=1, ensure_ascii=False)
    args.output.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} entries to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
