"""The packaged catalog, and the rule that decides between it and a refreshed copy (pure).

`catalog.json` ships inside the package. `catalog refresh` may write a copy to the user's cache
(`finetune_advisor.adapters.cache` reads and writes it); that copy is preferred only when it
validates and is not older than the packaged file, so an upgrade of the package is never shadowed
by a stale copy.
"""

from __future__ import annotations

import functools
from importlib.resources import files

from finetune_advisor.catalog.schema import Catalog
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


def prefer(packaged: Catalog, copy: Catalog | None) -> Catalog:
    """The refreshed copy unless there is none or it is older than the packaged catalog."""
    if copy is None:
        return packaged
    if packaged.generated_at and (copy.generated_at is None or copy.generated_at < packaged.generated_at):
        return packaged
    return copy
