"""The catalog's data model: one entry per fine-tunable model, validated as it is loaded.

`catalog.json` (next to this module) is validated by `Catalog`; every entry names its sources, and
values that were not verified are listed in `uncertain_fields`. `Catalog.index()` is the lookup
table of every name a model goes by (ids, aliases, original and Unsloth repo ids);
`finetune_advisor.catalog.resolve` reads references through it.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from finetune_advisor.catalog import naming
from finetune_advisor.vocabulary import Domain, Fp8Scales, Method, Quant, Task, Variant
from finetune_advisor.vram.architecture import Architecture

ArchitectureStatus = Literal["verified", "corroborated", "unverified", "unknown"]

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
        """(repo id, variant, quant) for every id that exists, in field order."""
        found = []
        for name, repo in self:
            if repo:
                variant, quant = naming.parse_slot(name)
                found.append((repo, variant, quant))
        return found

    def get(self, variant: Variant, quant: Quant) -> str | None:
        """The id of one variant/quant slot."""
        return getattr(self, naming.slot(variant, quant))

    def for_qlora(self, variant: Variant) -> str | None:
        """The upload QLoRA loads for a variant: the first pre-quantised one in naming.QLORA_PREFERENCE, else the
        16-bit one (quantised on load); None where none is listed."""
        return next(filter(None, (self.get(variant, q) for q in (*naming.QLORA_PREFERENCE, "16bit"))), None)

    @property
    def has_dynamic_4bit(self) -> bool:
        """Unsloth publishes an -unsloth-bnb-4bit upload (its loader takes it for load_in_4bit)."""
        return bool(self.base_unsloth_bnb_4bit or self.instruct_unsloth_bnb_4bit)


class DynamicUpload(BaseModel):
    """What is known of one variant's -unsloth-bnb-4bit upload beyond its name: the layers it keeps in 16-bit, read
    from its config.json, or its size beside the -bnb-4bit upload's, read from the Hub's file lists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skip_modules: list[str] | None = Field(default=None, description="quantization_config.llm_int8_skip_modules of "
                                           "its config.json")
    size_gb: float | None = Field(default=None, gt=0, description="Its safetensors files together, in GB (10^9 "
                                  "bytes) as the Hub lists them")
    bnb_4bit_size_gb: float | None = Field(default=None, gt=0, description="The same variant's -bnb-4bit upload's, "
                                           "listed the same way")

    @model_validator(mode="after")
    def _complete(self) -> DynamicUpload:
        if (self.size_gb is None) != (self.bnb_4bit_size_gb is None):
            raise ValueError("size_gb and bnb_4bit_size_gb go together: the difference is what is counted")
        if self.size_gb is not None and self.bnb_4bit_size_gb is not None and self.size_gb < self.bnb_4bit_size_gb:
            raise ValueError("size_gb is below bnb_4bit_size_gb, but a dynamic upload keeps more in 16-bit")
        if self.skip_modules is None and self.size_gb is None:
            raise ValueError("give skip_modules, or size_gb with bnb_4bit_size_gb")
        return self


class CatalogEntry(BaseModel):
    """One fine-tunable model; unverified values are named in `uncertain_fields`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_SLUG)
    name: str = Field(min_length=1)
    family: str = Field(pattern=_SLUG)
    aliases: list[str] = []
    tasks: list[Task] = Field(min_length=1)
    specialised_for: list[Task] = []
    domain: Domain | None = Field(default=None, description="The field it was specialised for where that is no task "
                                  "(MedGemma: medical): ranked below general models unless the use case names it")
    base_id: str | None = Field(default=None, pattern=_REPO_ID)
    instruct_id: str | None = Field(default=None, pattern=_REPO_ID)
    unsloth: UnslothIds = UnslothIds()
    unsloth_layout: Literal["llama", "mistral"] | None = Field(
        default=None, description="The model_type of the unsloth org's uploads where Unsloth converted the weights to "
        "another layout (phi-4: Llama's split projections); None: the original's")
    other_ids: list[str] = Field(default=[], description="Other Hub repos of this model (old names, FP8, thinking variants)")
    load_caveat: str | None = Field(default=None, description="What fine-tuning it needs beyond loading the repo named "
                                    "(FP8-only weights, no 16-bit copy): said with every estimate and pick of it")
    fp8_checkpoints: dict[str, Fp8Scales] = Field(
        default={}, description="Its repos whose weights are stored in FP8, by their scales (config.json "
        "quantization_config.weight_block_size: null, one per tensor; [m, n], in blocks): catalog.quantised says what "
        "Unsloth's loader does with each")
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
    params_note: str | None = Field(default=None, description="Why params_total_b differs from what the architecture adds up to")
    dynamic_4bit: dict[Variant, DynamicUpload] = Field(default={}, description="What is known of each variant's "
                                                       "-unsloth-bnb-4bit upload (the layers it keeps in 16-bit)")
    license_caveats: list[str] = Field(default=[], description="What the licence id alone does not say: a source that adds terms (LLaVA's README: the data's terms), or a re-upload's Hub card that disagrees with the curated licence (catalog refresh)")
    sources: list[str] = Field(min_length=1, description="What backs the entry as a whole")
    fact_sources: dict[str, list[str]] = Field(default={}, description="Where each fact comes from, by field name")

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
        if self.unsloth_layout and not self.fact_sources.get("unsloth_layout"):
            raise ValueError("unsloth_layout needs a source in fact_sources")
        if self.fp8_checkpoints and not self.fact_sources.get("fp8_checkpoints"):
            raise ValueError("fp8_checkpoints needs a source in fact_sources")
        strangers = sorted(set(self.fp8_checkpoints) - {self.base_id, self.instruct_id, *self.other_ids,
                                                        *(repo for repo, _, _ in self.unsloth.slots())})
        if strangers:
            raise ValueError(f"fp8_checkpoints names repos that are not this model's: {strangers}")
        return self

    def is_uncertain(self, field: str) -> bool:
        return any(f == field or f.startswith(field + ".") for f in self.uncertain_fields)

    def summary(self) -> str:
        """One line: name, size, tasks, licence."""
        size = f"{self.params_total_b:g}B" if self.params_total_b else "size unknown"
        if self.params_active_b:
            size += f" ({self.params_active_b:g}B active)"
        return f"{self.name}: {size}; {', '.join(self.tasks)}; licence {self.license_id or 'unknown'}"


class FamilyGuidance(BaseModel):
    """What Unsloth advises for a model family, with where it says so."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str = Field(pattern=_SLUG)
    avoid_methods: list[Method] = Field(default=[], description="Methods Unsloth advises against for this family")
    avoid_reason: str | None = None
    float32_without_bf16: bool = Field(default=False, description="Unsloth loads it in float32 on GPUs without bf16")
    min_transformers: str | None = None
    chat_template_base: str | None = None
    chat_template_instruct: str | None = None
    fact_sources: dict[str, list[str]] = {}

    @model_validator(mode="after")
    def _advice_is_sourced(self) -> FamilyGuidance:
        unsourced = [name for name in ("avoid_methods", "float32_without_bf16", "min_transformers")
                     if getattr(self, name) and not self.fact_sources.get(name)]
        if unsourced:
            raise ValueError(f"{self.family}: guidance without a source: {unsourced}")
        return self


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
    built_from: str | None = Field(default=None, description="A refreshed copy's: the `content_digest` of the packaged "
                                   "catalog it was refreshed from; a package that ships another one sets the copy aside")
    models: list[CatalogEntry]
    families: list[FamilyGuidance] = []
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

    def content_digest(self) -> str:
        """A digest of the facts (models and families, not the stamps): another digest, other facts."""
        facts = self.model_dump_json(include={"models", "families"})
        return hashlib.sha256(facts.encode()).hexdigest()[:16]

    def guidance(self, family: str) -> FamilyGuidance | None:
        """Unsloth's advice for a family, when the catalog records any."""
        return next((g for g in self.families if g.family == family), None)

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
    listed = {repo.lower(): resolved for repo, resolved in repos}
    for source, (target, _) in naming.LOADER_REDIRECTS.items():  # Unsloth's loader takes target for source: one entry
        for named, other in ((target, source), (source, target)):
            if other.lower() in listed and listed[other.lower()].variant:
                add(named, listed[other.lower()].model_copy(
                    update={"repo_id": named, "quant": naming.split_quant(named)[1], "note": None}))
    for repo, resolved in repos:  # "Qwen3-8B-bnb-4bit" without the owner
        add(repo.split("/", 1)[1], resolved)
    return index
