"""The catalog of fine-tunable models: schema, loading and name resolution.

`tools/catalog.json` is packaged data validated by these models (`Catalog.model_validate_json`).
`catalog refresh` may write a copy to `<cache_dir>/catalog.json`; `load_catalog()` prefers that
copy only when it validates and its `generated_at` is not older than the packaged file's, so an
upgrade of the package is never shadowed by a stale cache and a corrupted copy is ignored (with a
logged warning). Reading these two files is this module's only I/O.
"""

from __future__ import annotations

import difflib
import functools
import logging
import re
from datetime import date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from finetune_advisor import settings
from finetune_advisor.errors import DataError, UnknownModelError
from finetune_advisor.vocabulary import Quant, Task, Variant
from finetune_advisor.vram.architecture import Architecture

logger = logging.getLogger(__name__)

ArchitectureStatus = Literal["verified", "corroborated", "unverified", "unknown"]

CACHE_FILE_NAME = "catalog.json"

_SLUG = r"^[a-z0-9][a-z0-9._-]*$"
_UNSLOTH_ID = r"^unsloth/[A-Za-z0-9][A-Za-z0-9._-]*$"
_REPO_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$"


class UnslothIds(BaseModel):
    """Every id that exists on the Hub in the unsloth org for this model (None where none does)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str | None = Field(default=None, pattern=_UNSLOTH_ID)
    base_bnb_4bit: str | None = Field(default=None, pattern=_UNSLOTH_ID)
    base_unsloth_bnb_4bit: str | None = Field(default=None, pattern=_UNSLOTH_ID)
    instruct: str | None = Field(default=None, pattern=_UNSLOTH_ID)
    instruct_bnb_4bit: str | None = Field(default=None, pattern=_UNSLOTH_ID)
    instruct_unsloth_bnb_4bit: str | None = Field(default=None, pattern=_UNSLOTH_ID)

    def slots(self) -> list[tuple[str, Variant, Quant]]:
        """(repo id, variant, quant) for every id that exists."""
        table: list[tuple[str | None, Variant, Quant]] = [
            (self.base, "base", "16bit"),
            (self.base_bnb_4bit, "base", "bnb-4bit"),
            (self.base_unsloth_bnb_4bit, "base", "unsloth-bnb-4bit"),
            (self.instruct, "instruct", "16bit"),
            (self.instruct_bnb_4bit, "instruct", "bnb-4bit"),
            (self.instruct_unsloth_bnb_4bit, "instruct", "unsloth-bnb-4bit"),
        ]
        return [(repo, variant, quant) for repo, variant, quant in table if repo]

    def get(self, variant: Variant, quant: Quant) -> str | None:
        """The id of one variant/quant slot."""
        suffix = {"16bit": "", "bnb-4bit": "_bnb_4bit", "unsloth-bnb-4bit": "_unsloth_bnb_4bit"}[quant]
        return getattr(self, variant + suffix)


class CatalogEntry(BaseModel):
    """One fine-tunable model; unverified values are named in `uncertain_fields`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_SLUG)
    name: str = Field(min_length=1)
    family: str = Field(pattern=_SLUG)
    aliases: list[str] = []
    tasks: list[Task] = Field(min_length=1)
    specialised_for: list[Task] = []
    base_id: str | None = Field(default=None, pattern=_REPO_ID)
    instruct_id: str | None = Field(default=None, pattern=_REPO_ID)
    unsloth: UnslothIds = UnslothIds()
    other_ids: list[str] = Field(default=[], description="Other Hub repos of this model (old names, FP8, thinking variants)")
    params_total_b: float | None = Field(default=None, gt=0)
    params_active_b: float | None = Field(default=None, gt=0)
    architecture: Architecture | None = None
    architecture_status: ArchitectureStatus = "unknown"
    modalities: list[str] = Field(min_length=1)
    context_length: int | None = Field(default=None, gt=0)
    languages: list[str] = []
    release_date: date | None = None
    license_id: str | None = None
    upstream_license_ids: list[str] = []
    gated: bool | None = None
    chat_template: str | None = None
    strengths: list[str] = []
    uncertain_fields: list[str] = []
    notes: str | None = None
    last_modified: date | None = Field(default=None, description="Newest lastModified of its unsloth repos at the last refresh")
    sources: list[str] = Field(min_length=1)

    @field_validator("aliases")
    @classmethod
    def _aliases_lowercase(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a != a.lower() or not a.strip()]
        if bad:
            raise ValueError(f"aliases must be lowercase and non-empty: {bad}")
        return value

    @field_validator("uncertain_fields")
    @classmethod
    def _uncertain_fields_exist(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f.split(".")[0] not in cls.model_fields]
        if unknown:
            raise ValueError(f"uncertain_fields names no field: {unknown}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CatalogEntry:
        if self.architecture is None and self.architecture_status != "unknown":
            raise ValueError("architecture_status must be 'unknown' when architecture is null")
        if self.architecture is not None and self.architecture_status == "unknown":
            raise ValueError("architecture_status 'unknown' needs architecture null")
        if self.params_active_b is not None and self.params_total_b is not None and self.params_active_b > self.params_total_b:
            raise ValueError("params_active_b exceeds params_total_b")
        if not self.base_id and not self.instruct_id:
            raise ValueError("an entry needs base_id or instruct_id")
        return self

    def is_uncertain(self, field: str) -> bool:
        return any(f == field or f.startswith(field + ".") for f in self.uncertain_fields)

    def summary(self) -> str:
        """One line: name, size, tasks, licence."""
        size = f"{self.params_total_b:g}B" if self.params_total_b else "size unknown"
        if self.params_active_b:
            size += f" ({self.params_active_b:g}B active)"
        return f"{self.name}: {size}; {', '.join(self.tasks)}; licence {self.license_id or 'unknown'}"


class ResolvedModel(BaseModel):
    """A catalog entry plus what a reference named: a repo, its variant and quantisation."""

    model_config = ConfigDict(frozen=True)

    entry: CatalogEntry
    repo_id: str | None = None
    variant: Variant | None = None
    quant: Quant | None = None
    note: str | None = None


class Catalog(BaseModel):
    """The whole catalog; `generated_at` orders the packaged file and the refreshed cache copy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    generated_at: datetime | None = None
    generated_by: str | None = None
    models: list[CatalogEntry]
    _index: dict[str, ResolvedModel] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _unique_ids(self) -> Catalog:
        ids = [m.id for m in self.models]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"duplicate model ids: {sorted(dupes)}")
        return self

    def get(self, model_id: str) -> CatalogEntry | None:
        return next((m for m in self.models if m.id == model_id.lower()), None)

    def index(self) -> dict[str, ResolvedModel]:
        """Lower-cased reference -> resolution; earlier (more specific) keys win."""
        if self._index is None:
            self._index = _build_index(self.models)
        return self._index


def _build_index(models: list[CatalogEntry]) -> dict[str, ResolvedModel]:
    index: dict[str, ResolvedModel] = {}

    def add(key: str | None, resolved: ResolvedModel) -> None:
        if key and key.lower() not in index:
            index[key.lower()] = resolved

    for m in models:  # names first: a display name beats a bare repo name of another entry
        for key in (m.id, m.name, *m.aliases):
            add(key, ResolvedModel(entry=m))
    repos: list[tuple[str, ResolvedModel]] = []
    for m in models:
        if m.base_id:
            repos.append((m.base_id, ResolvedModel(entry=m, repo_id=m.base_id, variant="base", quant="16bit")))
        if m.instruct_id:
            repos.append((m.instruct_id, ResolvedModel(entry=m, repo_id=m.instruct_id, variant="instruct", quant="16bit")))
        for repo, variant, quant in m.unsloth.slots():
            repos.append((repo, ResolvedModel(entry=m, repo_id=repo, variant=variant, quant=quant)))
        for repo in m.other_ids:
            repos.append((repo, ResolvedModel(entry=m, repo_id=repo, note=f"{repo} is another release of {m.name}")))
    for repo, resolved in repos:
        add(repo, resolved)
    for repo, resolved in repos:  # "Qwen3-8B-bnb-4bit" without the owner
        add(repo.split("/", 1)[1], resolved)
    return index


def load_packaged() -> Catalog:
    """The catalog shipped in the package, ignoring any refreshed copy."""
    raw = files("finetune_advisor.catalog").joinpath(CACHE_FILE_NAME).read_bytes()
    try:
        return Catalog.model_validate_json(raw)
    except ValueError as exc:
        raise DataError(f"the packaged catalog.json does not validate: {exc}") from None


def cache_path() -> Path:
    """Where `catalog refresh` writes its copy."""
    return settings.cache_dir() / CACHE_FILE_NAME


def _read_cache() -> Catalog | None:
    path = cache_path()
    if not path.is_file():
        return None
    try:
        return Catalog.model_validate_json(path.read_bytes())
    except (OSError, ValueError) as exc:
        logger.warning("Ignoring the cached catalog %s: it does not validate (%s)", path, str(exc).splitlines()[0])
        return None


@functools.cache
def load_catalog() -> Catalog:
    """The catalog: the user-cache copy from `catalog refresh` when valid and not older, else the packaged one."""
    packaged = load_packaged()
    cached = _read_cache()
    if cached is None:
        return packaged
    if packaged.generated_at and (cached.generated_at is None or cached.generated_at < packaged.generated_at):
        logger.info("Ignoring the cached catalog %s: older than the packaged one", cache_path())
        return packaged
    return cached


_QUANT_SUFFIXES: tuple[tuple[str, Quant], ...] = (("-unsloth-bnb-4bit", "unsloth-bnb-4bit"), ("-bnb-4bit", "bnb-4bit"))
_HUB_URL = re.compile(r"^https?://(?:www\.)?huggingface\.co/", re.IGNORECASE)


def _normalise(ref: str) -> str:
    return _HUB_URL.sub("", ref.strip()).strip("/").lower()


def resolve(ref: str) -> ResolvedModel:
    """Find a model by catalog id, alias, name, HF repo id or Unsloth id (case-insensitive)."""
    key = _normalise(ref)
    if not key:
        raise UnknownModelError(ref, "the reference is empty", suggestions=model_ids()[:3])
    index = load_catalog().index()
    if key in index:
        return index[key]
    derived = _derive(ref, key, index)
    if derived is not None:
        return derived
    raise UnknownModelError(ref, "not in the catalog", suggestions=closest(ref))


def _derive(ref: str, key: str, index: dict[str, ResolvedModel]) -> ResolvedModel | None:
    """An Unsloth-style id the catalog does not list, whose stem (without the quant suffix and,
    failing that, without -instruct) is a known repo: the entry, with the variant and quant asked for."""
    if "/" in key and not key.startswith("unsloth/"):
        return None
    quant: Quant = "16bit"
    stem = key
    for suffix, name in _QUANT_SUFFIXES:
        if stem.endswith(suffix):
            stem, quant = stem[: -len(suffix)], name
            break
    hit, variant = (index.get(stem), None) if stem != key else (None, None)
    if hit is None and stem.endswith("-instruct"):
        hit, variant = index.get(stem.removesuffix("-instruct")), "instruct"
    if hit is None or hit.repo_id is None:
        return None
    variant = variant or hit.variant
    repo = hit.entry.unsloth.get(variant, quant) if variant else None
    note = f"{ref.strip()} is not a listed repo; read as {hit.entry.name} ({variant or 'variant unknown'}, {quant})"
    note += f"; the listed Unsloth id is {repo}" if repo else "; the catalog lists no Unsloth upload of that variant and quantisation"
    return ResolvedModel(entry=hit.entry, repo_id=repo, variant=variant, quant=quant, note=note)


def closest(ref: str, n: int = 3) -> list[str]:
    """The catalog ids closest to `ref` (difflib over ids, names and aliases)."""
    key = _normalise(ref)
    key = key.split("/", 1)[1] if "/" in key else key
    for suffix in ("-unsloth-bnb-4bit", "-bnb-4bit", "-instruct"):
        key = key.removesuffix(suffix)
    names: dict[str, str] = {}
    for m in load_catalog().models:
        for name in (m.id, m.name.lower(), *m.aliases):
            names.setdefault(name, m.id)
    ids: list[str] = []
    for match in difflib.get_close_matches(key, list(names), n=n * 4, cutoff=0.5):
        if names[match] not in ids:
            ids.append(names[match])
    return ids[:n]


def model_ids() -> list[str]:
    """Every catalog id, sorted (for completions)."""
    return sorted(m.id for m in load_catalog().models)
