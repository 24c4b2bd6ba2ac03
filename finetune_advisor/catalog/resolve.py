"""Finding a model in the catalog by any name it goes by, case-insensitively (pure).

A reference may be a catalog id, alias or display name, an original Hugging Face repo id, an
Unsloth id (16-bit, -bnb-4bit, -unsloth-bnb-4bit, with or without the owner) or a Hub URL. An
Unsloth-style id the catalog does not list is read through the naming grammar: its stem names the
entry, its suffixes the variant and quantisation asked for.
"""

from __future__ import annotations

import difflib
import re

from finetune_advisor.catalog import naming
from finetune_advisor.catalog.schema import Catalog, ResolvedModel
from finetune_advisor.errors import UnknownModelError
from finetune_advisor.vocabulary import Variant

_HUB_URL = re.compile(r"^https?://(?:www\.)?huggingface\.co/", re.IGNORECASE)


def normalise(ref: str) -> str:
    """A reference as the index keys it: no Hub URL prefix, no slashes around, lower case."""
    return _HUB_URL.sub("", ref.strip()).strip("/").lower()


def resolve(catalog: Catalog, ref: str) -> ResolvedModel:
    """The entry (and the repo, variant and quantisation) `ref` names; UnknownModelError otherwise."""
    key = normalise(ref)
    if not key:
        raise UnknownModelError(ref, "the reference is empty")  # no id is closer than another to nothing
    index = catalog.index()
    if key in index:
        return index[key]
    derived = _derive(ref, key, index)
    if derived is not None:
        return derived
    raise UnknownModelError(ref, "not in the catalog", suggestions=closest(catalog, ref))


def _derive(ref: str, key: str, index: dict[str, ResolvedModel]) -> ResolvedModel | None:
    """An Unsloth-style id the catalog does not list, whose stem (without the quant suffix and,
    failing that, without -instruct) is a known repo: the entry, with the variant and quant asked for."""
    if "/" in key and not key.startswith(naming.ORG + "/"):
        return None
    stem, quant = naming.split_quant(key)
    hit, variant = (index.get(stem), None) if stem != key else (None, None)
    if hit is None and stem.endswith("-instruct"):
        hit, variant = index.get(stem.removesuffix("-instruct")), "instruct"
    if hit is None or hit.repo_id is None:
        hit = _original_named(stem, index)
    if hit is None or hit.repo_id is None:
        return None
    chosen: Variant | None = variant or hit.variant
    repo = hit.entry.unsloth.get(chosen, quant) if chosen else None
    note = f"{ref.strip()} is not a listed repo; read as {hit.entry.name} ({chosen or 'variant unknown'}, {quant})"
    note += f"; the listed Unsloth id is {repo}" if repo else "; the catalog lists no Unsloth upload of that variant and quantisation"
    return ResolvedModel(entry=hit.entry, repo_id=repo, variant=chosen, quant=quant, note=note)


def _original_named(stem: str, index: dict[str, ResolvedModel]) -> ResolvedModel | None:
    """The original repo of one entry whose name, without its owner, is `stem`'s ('unsloth/Qwen3.5-9B' ->
    Qwen/Qwen3.5-9B): Unsloth re-uploads under the original's name. None where no entry's or several entries' match."""
    name = stem.split("/", 1)[-1]
    found = {r.entry.id: r for k, r in index.items()
             if r.repo_id and r.variant and r.quant == "16bit" and k == r.repo_id.lower() and k.split("/", 1)[-1] == name}
    return next(iter(found.values())) if len(found) == 1 else None


def closest(catalog: Catalog, ref: str, n: int = 3) -> list[str]:
    """The catalog ids closest to `ref` (difflib over ids, names and aliases)."""
    key = naming.stem(normalise(ref))
    names: dict[str, str] = {}
    for m in catalog.models:
        for name in (m.id, m.name.lower(), *m.aliases):
            names.setdefault(name, m.id)
    ids: list[str] = []
    # A name the reference contains ("qwen3-8b" in "someorg/qwen3-8b-finetune") beats a similar spelling.
    contained = sorted((name for name in names if len(name) >= 4 and name in key), key=len, reverse=True)
    for match in contained + difflib.get_close_matches(key, list(names), n=len(names), cutoff=0.5):
        if names[match] not in ids:
            ids.append(names[match])
    return ids[:n]


def model_ids(catalog: Catalog) -> list[str]:
    """Every catalog id, sorted (for completions)."""
    return sorted(m.id for m in catalog.models)
