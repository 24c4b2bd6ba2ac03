"""The packaged catalog, and the rule that decides between it and a refreshed copy (pure).

`catalog.json` ships inside the package. `catalog refresh` may write a copy to the user's cache
(`finetune_advisor.adapters.cache` reads and writes it); that copy is preferred only when it
validates and is not older than the packaged file, so an upgrade of the package is never shadowed
by a stale copy, and a curated licence of the packaged catalog always wins over the copy's.
"""

from __future__ import annotations

import functools
from importlib.resources import files

from finetune_advisor.catalog.schema import Catalog, CatalogEntry
from finetune_advisor.errors import DataError

FILE_NAME = "catalog.json"


def parse(raw: bytes, where: str) -> Catalog:
    """Validate catalog JSON; DataError naming `where` when it does not validate."""
    try:
        return Catalog.model_validate_json(raw)
    except ValueError as exc:
        raise DataError(f"{where} does not validate: {exc}") from None


@functools.cache
def load_packaged() -> Catalog:
    """The catalog shipped in the package."""
    return parse(files("finetune_advisor.catalog").joinpath(FILE_NAME).read_bytes(), "the packaged catalog.json")


def prefer(packaged: Catalog, copy: Catalog | None) -> tuple[Catalog, list[str]]:
    """The refreshed copy unless there is none or it is older than the packaged catalog, with the ids of the
    entries whose curated licence it changed (the packaged licence is put back: what a cache file or a
    server says never overrides a sourced licence)."""
    if copy is None:
        return packaged, []
    if packaged.generated_at and (copy.generated_at is None or copy.generated_at < packaged.generated_at):
        return packaged, []
    curated = {m.id: m for m in packaged.models if m.license_id and not m.is_uncertain("license_id")}
    kept: list[str] = []
    models = []
    for entry in copy.models:
        source = curated.get(entry.id)
        if source is not None and _licence(entry) != _licence(source):
            kept.append(entry.id)
            entry = entry.model_copy(update={
                "license_id": source.license_id, "upstream_license_ids": source.upstream_license_ids,
                "uncertain_fields": [f for f in entry.uncertain_fields if f != "license_id"],
                "fact_sources": {**entry.fact_sources, "license_id": source.fact_sources.get("license_id", [])},
            })
        models.append(entry)
    return (copy.model_copy(update={"models": models}) if kept else copy), kept


def _licence(entry: CatalogEntry) -> tuple[str | None, list[str]]:
    return entry.license_id, entry.upstream_license_ids
