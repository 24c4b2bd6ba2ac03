"""The packaged catalog, and the rule that decides between it and a refreshed copy (pure but for a warning).

`catalog.json` ships inside the package. `catalog refresh` may write a copy to the user's cache
(`finetune_advisor.adapters.cache` reads and writes it); that copy is preferred only when it
validates, was refreshed from this package's catalog (`built_from`: its facts' digest), is not older
than it and was not generated in the future, so an upgrade of the package is never shadowed by a
stale copy, and a curated licence of the packaged catalog always wins over the copy's: under the
entry's own id, and under every name the packaged entry goes by (aliases, original, Unsloth and
other repo ids), so renaming an entry does not change its licence.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta, timezone
from importlib.resources import files

from finetune_advisor.catalog.schema import Catalog, CatalogEntry
from finetune_advisor.errors import DataError

FILE_NAME = "catalog.json"
CLOCK_SKEW = timedelta(minutes=5)  # a copy stamped further in the future than this was not written by a refresh

logger = logging.getLogger(__name__)

Licence = tuple[str | None, tuple[str, ...]]


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


def prefer(packaged: Catalog, copy: Catalog | None, now: datetime | None = None) -> tuple[Catalog, list[str]]:
    """The refreshed copy unless there is none, it is older than the packaged catalog or stamped in the future,
    with the entries whose curated licence it changed (the packaged licence is put back: what a cache file or
    a server says never overrides a sourced licence). A copy in which a name of a curated entry would still
    resolve to another licence is ignored, with a warning."""
    if copy is None or _outdated(packaged, copy, now or datetime.now(timezone.utc)):
        return packaged, []
    owners = {name: hit.entry for name, hit in packaged.index().items() if _curated(hit.entry)}
    kept: list[str] = []
    models = []
    for entry in copy.models:
        sources = _sources(packaged, owners, entry)
        names = ", ".join(sorted({s.id for s in sources.values()}))
        if len(sources) > 1:
            kept.append(f"{entry.id} (named like {names}, whose licences differ: left out)")
            continue
        source = next(iter(sources.values()), None)
        if source is not None and _licence(entry) != _licence(source):
            kept.append(entry.id if source.id == entry.id else f"{entry.id} (named like {source.id})")
            entry = _with_licence_of(entry, source)
        models.append(entry)
    # A new Catalog, not model_copy: that would carry over the index of the entries before the change.
    preferred = Catalog.model_validate({**dict(copy), "models": models}) if kept else copy
    return (packaged, []) if _misresolves(preferred, owners) else (preferred, kept)


def _misresolves(catalog: Catalog, owners: dict[str, CatalogEntry]) -> bool:
    """A name of a curated packaged entry resolves to another licence in `catalog` (said in a warning): an entry
    left out or moved lets another one that shares the name (a fine-tune naming its base) take it."""
    for name, hit in catalog.index().items():
        if name in owners and _licence(hit.entry) != _licence(owners[name]):
            logger.warning("Ignoring the cached catalog: %r would resolve to %s, not to the curated licence of %s",
                           name, hit.entry.id, owners[name].id)
            return True
    return False


def _outdated(packaged: Catalog, copy: Catalog, now: datetime) -> bool:
    """The copy was refreshed from another packaged catalog than this package's (an upgrade's facts would be
    shadowed: said in a warning), is older than it, or (said in a warning) is stamped in the future."""
    if copy.built_from != packaged.content_digest():
        logger.warning("Ignoring the cached catalog: it was refreshed from another version of the packaged catalog "
                       "than this package ships; run `finetune-advisor catalog refresh` again to update this one")
        return True
    made, shipped = _utc(copy.generated_at), _utc(packaged.generated_at)
    if made is not None and made > now + CLOCK_SKEW:
        logger.warning("Ignoring the cached catalog: it says it was generated at %s UTC, later than now (%s UTC); "
                       "run `finetune-advisor catalog refresh` again", f"{made:%Y-%m-%d %H:%M}", f"{now:%Y-%m-%d %H:%M}")
        return True
    return shipped is not None and (made is None or made < shipped)


def _utc(stamp: datetime | None) -> datetime | None:
    """A stamp without a zone read as UTC (how the catalog's dates are written)."""
    return stamp.replace(tzinfo=timezone.utc) if stamp is not None and stamp.tzinfo is None else stamp


def _sources(packaged: Catalog, owners: dict[str, CatalogEntry], entry: CatalogEntry) -> dict[Licence, CatalogEntry]:
    """The curated packaged entries whose licence a copy entry must carry, by licence: the one of its own id; for
    an id the packaged catalog does not curate, those whose names (as the packaged index resolves them) it
    goes by and did not already go by there."""
    own = packaged.get(entry.id)
    if own is not None and _curated(own):
        return {_licence(own): own}
    shared = _names(own) if own is not None else set()  # names it already shared in the packaged catalog
    found: dict[Licence, CatalogEntry] = {}
    for name in _names(entry) - shared:
        if name in owners:
            found.setdefault(_licence(owners[name]), owners[name])
    return found


def _names(entry: CatalogEntry) -> set[str]:
    """Every name an entry goes by, as the catalog index keys it."""
    return set(Catalog(models=[entry]).index())


def _with_licence_of(entry: CatalogEntry, source: CatalogEntry) -> CatalogEntry:
    return entry.model_copy(update={
        "license_id": source.license_id, "upstream_license_ids": source.upstream_license_ids,
        "uncertain_fields": [f for f in entry.uncertain_fields if f != "license_id"],
        "fact_sources": {**entry.fact_sources, "license_id": source.fact_sources.get("license_id", [])},
    })


def _curated(entry: CatalogEntry) -> bool:
    return bool(entry.license_id) and not entry.is_uncertain("license_id")


def _licence(entry: CatalogEntry) -> Licence:
    return entry.license_id, tuple(entry.upstream_license_ids)
