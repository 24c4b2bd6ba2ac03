"""The catalog's source of truth: hand-edited TOML files in `catalog/data/`, built into `catalog.json`.

    data/catalog.toml          when the data was last reviewed (the built file's `generated_at`)
    data/families.toml         Unsloth's advice per family: [[family]] tables
    data/models/<group>.toml   one [[model]] table per model, its facts and, in [model.sources],
                               where each fact comes from

A contributor edits the TOML; `finetune-advisor catalog build` writes `catalog.json` (sorted,
validated by `schema.Catalog`), and a test proves the committed file is what the build gives.
Reading TOML needs Python 3.11's `tomllib`; the tools read only the built JSON.
"""

from __future__ import annotations

import tomllib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from finetune_advisor.catalog.schema import Catalog
from finetune_advisor.errors import DataError

DATA = Path(__file__).with_name("data")
BUILT = Path(__file__).with_name("catalog.json")


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DataError(f"{path}: {exc}") from None


def _entry(table: dict[str, Any]) -> dict[str, Any]:
    """A [[model]] table as the schema's fields: [model.sources] holds the facts' sources, `general`
    the sources of the entry as a whole."""
    entry = dict(table)
    sources = entry.pop("sources", {})
    entry["sources"] = sources.get("general", [])
    entry["fact_sources"] = {k: v for k, v in sources.items() if k != "general"}
    return entry


def load(folder: Path = DATA) -> Catalog:
    """Every model and family table under `folder`, validated and sorted by id."""
    header = _read(folder / "catalog.toml").get("catalog", {})
    reviewed = header.get("reviewed")
    if isinstance(reviewed, datetime) and reviewed.tzinfo is None:
        reviewed = reviewed.replace(tzinfo=timezone.utc)
    models = []
    for path in sorted((folder / "models").glob("*.toml")):
        models += [_entry(t) for t in _read(path).get("model", [])]
    families = _read(folder / "families.toml").get("family", [])
    try:
        return Catalog.model_validate({
            "generated_at": reviewed,
            "generated_by": "finetune-advisor catalog build (finetune_advisor/catalog/data)",
            "models": sorted(models, key=lambda m: m.get("id", "")),
            "families": sorted(families, key=lambda f: f.get("family", "")),
        })
    except ValueError as exc:
        raise DataError(f"the catalog source in {folder} does not validate: {exc}") from None


def render(catalog: Catalog) -> str:
    """The text of catalog.json for a catalog (stable: the same data gives the same bytes)."""
    return catalog.model_dump_json(indent=1, exclude_defaults=False) + "\n"


def build(folder: Path = DATA, out: Path = BUILT) -> Path:
    """Write catalog.json from the TOML source."""
    out.write_text(render(load(folder)), encoding="utf-8")
    return out
