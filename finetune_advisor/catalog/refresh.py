"""`catalog refresh`: bring a user-cache copy of the catalog up to date from the Hub's `unsloth` org.

Starts from the packaged catalog every time, lists the org's repositories (card licence, dates,
pipeline tag, safetensors parameter count), and for each entry: records which Unsloth ids exist,
the newest lastModified, the card's licence, the parameter count and, from config.json, the
architecture. New models (uploaded after the newest release the packaged catalog knows) become
entries only when their config, licence, size and task could all be read. Every entry is validated
by the catalog's own models and by `catalog check`, as the loader will validate the copy; whatever
fails is kept out and reported (an updated entry then stays as packaged). The packaged file is never
written: the caller (the `catalog refresh` command) writes the result to the user's cache, which
the tools then prefer. Pure: the Hub listing and a config.json fetcher come in as arguments.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from finetune_advisor.catalog import naming
from finetune_advisor.catalog.check import check_entry, params_disagree
from finetune_advisor.catalog.naming import ORG
from finetune_advisor.catalog.schema import Catalog, CatalogEntry
from finetune_advisor.errors import HubError, HubNotFoundError, InvalidInputError
from finetune_advisor.hub_card import HubModel
from finetune_advisor.licensing.terms import load_licenses
from finetune_advisor.untrusted import quote
from finetune_advisor.vram.architecture import Architecture

SAFETENSORS = " (safetensors index)"  # how a parameter count read from the Hub is sourced
MAX_HUB_FAILURES = 3  # consecutive unanswered config requests before the refresh stops asking
MAX_NEW_MODELS = 50
MIN_SEEN_FRACTION = 0.5
_NOT_TRAINABLE = re.compile(r"-(gguf|fp8|fp8-dynamic|fp8-block|nvfp4|mlx|awq|gptq|int4|int8|onnx)\b", re.IGNORECASE)
_PIPELINES: dict[str, tuple[list[str], list[str], list[str]]] = {  # pipeline tag -> tasks, specialised_for, modalities
    "text-generation": (["chat"], [], ["text"]),
    "image-text-to-text": (["chat", "vision"], [], ["text", "image"]),
    "automatic-speech-recognition": (["stt"], ["stt"], ["audio-in", "text-out"]),
    "text-to-speech": (["tts"], ["tts"], ["text", "audio-out"]),
}

Progress = Callable[[str], None]
FetchConfig = Callable[[str], dict[str, Any]]  # repo id -> its config.json; raises HubError


class EntryChange(BaseModel):
    id: str
    changes: list[str]


class KeptOut(BaseModel):
    ref: str
    reason: str


class RefreshReport(BaseModel):
    """What a refresh did: where it wrote, what changed, what it could not verify."""

    path: str = Field(default="", description="Where the refreshed catalog was written")
    endpoint: str
    listed_repos: int
    complete_listing: bool
    models: int
    updated: list[EntryChange]
    added: list[str]
    kept_out: list[KeptOut]
    generated_at: datetime


class _Run:
    """State of one refresh: the listing, the licence ids we know, the report being built."""

    def __init__(self, listing: list[HubModel], complete: bool, progress: Progress, known: Catalog,
                 fetch_config: FetchConfig, endpoint: str) -> None:
        self.repos = {m.repo_id.lower(): m for m in listing}
        ids = [repo.lower() for m in known.models for repo, _, _ in m.unsloth.slots()]
        seen = sum(repo in self.repos for repo in ids)
        # Ids missing from the listing are dropped only when the listing is complete and plausible:
        # a listing that misses most known ids says more about the listing than about the ids.
        self.complete = complete and seen >= MIN_SEEN_FRACTION * len(ids)
        if complete and not self.complete:
            progress(f"Only {seen} of {len(ids)} known Unsloth ids were listed: keeping the ids not seen")
        self.progress = progress
        self.kept_out: list[KeptOut] = []
        self.failures = 0
        self.fetch_config = fetch_config
        self.endpoint = endpoint
        book = load_licenses()
        self.license_ids = set(book.ids())
        self.license_id: Callable[[str], str | None] = lambda name: found.id if (found := book.find(name)) else None

    def keep_out(self, ref: str, reason: str) -> None:
        self.kept_out.append(KeptOut(ref=ref, reason=reason))
        self.progress(f"  kept out {ref}: {reason}")

    def config(self, repo_id: str) -> Architecture | None:
        """The architecture from a repo's config.json, or None (reported) when it cannot be read."""
        if self.failures >= MAX_HUB_FAILURES:
            self.keep_out(repo_id, "config.json not fetched: the Hub stopped answering earlier in this refresh")
            return None
        try:
            config = self.fetch_config(repo_id)
            self.failures = 0
            return Architecture.from_hf_config(config, field="config.json")
        except InvalidInputError as exc:
            self.keep_out(repo_id, f"config.json is not usable ({exc})")
        except HubError as exc:
            if not isinstance(exc, HubNotFoundError):
                self.failures += 1
            self.keep_out(repo_id, f"config.json could not be read ({exc})")
        return None

    def license_of(self, model: HubModel) -> str | None:
        for value in (model.license, model.license_name):
            if value and value.lower() != "other" and (found := self.license_id(value)):
                return found
        return None



def _day(iso: str | None) -> date | None:
    return datetime.fromisoformat(iso).date() if iso else None


def _hub_url(run: _Run, repo_id: str, path: str = "") -> str:
    return f"{run.endpoint}/{repo_id}{path}"


def _update(entry: CatalogEntry, run: _Run) -> tuple[CatalogEntry, list[str], set[str]]:
    """The entry brought up to date from the listing; (entry, changes, repo ids it matched)."""
    data = entry.model_dump()
    changes: list[str] = []
    matched: dict[str, HubModel] = {}
    for slot, current in entry.unsloth.model_dump().items():
        variant, quant = naming.parse_slot(slot)
        candidates = [current] if current else _candidates(entry, variant, quant)
        found = next((run.repos[c.lower()] for c in candidates if c and c.lower() in run.repos), None)
        if found:
            matched[slot] = found
            if found.repo_id != current:
                data["unsloth"][slot] = found.repo_id
                changes.append(f"{slot}: {found.repo_id} found on the Hub")
        elif current and run.complete:
            data["unsloth"][slot] = None
            changes.append(f"{slot}: {current} is no longer on the Hub")
    for other in entry.other_ids:
        if other.lower() in run.repos:
            matched[other] = run.repos[other.lower()]
    if not matched and not changes:
        return entry, [], set()
    newest = max((d for m in matched.values() if (d := _day(m.last_modified))), default=None)
    stale = entry.last_modified is None or (newest is not None and newest > entry.last_modified)
    if newest and newest != entry.last_modified:
        data["last_modified"] = newest
        changes.append(f"last modified {newest}")
    primary = next((matched[s] for s in ("instruct", "base") if s in matched), None)
    if primary is not None:
        _apply_card(entry, primary, data, changes, run)
        if entry.architecture is None or entry.architecture_status in ("unverified", "unknown") or stale:
            run.progress(f"  config of {primary.repo_id}")
            arch = run.config(primary.repo_id)
            if arch is not None and (arch != entry.architecture or entry.architecture_status != "verified"):
                data["architecture"], data["architecture_status"] = arch.model_dump(), "verified"
                data["uncertain_fields"] = [f for f in data["uncertain_fields"] if not f.startswith("architecture")]
                data["fact_sources"]["architecture"] = [_hub_url(run, primary.repo_id, "/blob/main/config.json")]
                changes.append(f"architecture read from {primary.repo_id} config.json")
    if entry.release_date is None:
        created = min((d for m in matched.values() if (d := _day(m.extra.get("created_at")))), default=None)
        if created:
            data["release_date"] = created
            data["uncertain_fields"].append("release_date")
            data["notes"] = ((entry.notes or "") + f" Release date approximated by the first Unsloth upload ({created}).").strip()
            changes.append(f"release date approximated as {created} (first Unsloth upload)")
    repos = {m.repo_id for m in matched.values()}
    if not changes:
        return entry, [], repos
    data["uncertain_fields"] = list(dict.fromkeys(data["uncertain_fields"]))
    data["sources"] = list(dict.fromkeys(data["sources"]))
    updated = _checked(run, entry.id, data, "the refreshed entry", "; kept the packaged one")
    return (updated, changes, repos) if updated else (entry, [], repos)


def _candidates(entry: CatalogEntry, variant: str, quant: str) -> list[str]:
    """Unsloth ids an entry's slot would have if Unsloth uploaded it (the naming of its mapper)."""
    stems = []
    sixteen = getattr(entry.unsloth, variant)
    if sixteen:
        stems.append(sixteen)
    original = entry.base_id if variant == "base" else entry.instruct_id
    if original:
        stems.append(f"{ORG}/{original.split('/', 1)[1]}")
    return [stem + naming.suffix(quant) for stem in stems]


def _apply_card(entry: CatalogEntry, primary: HubModel, data: dict[str, Any], changes: list[str], run: _Run) -> None:
    """Licence from the card and parameter count from the safetensors index of the 16-bit repo."""
    license_id = run.license_of(primary)
    curated = entry.license_id and not entry.is_uncertain("license_id")
    if license_id and curated and license_id != entry.license_id:
        # A re-upload's card is not the licensor: the curated, sourced licence stays; the disagreement is told.
        note = f"The card of {primary.repo_id} names licence {license_id}; the curated {entry.license_id} is kept."
        data["license_caveats"] = list(dict.fromkeys([*entry.license_caveats, note]))
        changes.append(note)
    elif license_id and not curated:
        was = entry.license_id or "unknown"
        data["license_id"] = license_id
        data["uncertain_fields"] = [f for f in data["uncertain_fields"] if f != "license_id"]
        data["fact_sources"]["license_id"] = [_hub_url(run, primary.repo_id)]
        changes.append(f"licence {license_id} read from the card of {primary.repo_id} (was {was})")
    elif primary.license and not license_id:
        run.keep_out(primary.repo_id, f"card licence {quote(primary.license_name or primary.license)} has no terms in our "
                     f"licence data; kept {entry.license_id or 'unknown'}")
    total = primary.extra.get("parameters")
    if total and (entry.params_total_b is None or entry.is_uncertain("params_total_b")) and not primary.repo_id.endswith("4bit"):
        data["params_total_b"] = _billions(total)
        data["uncertain_fields"] = [f for f in data["uncertain_fields"] if f != "params_total_b"]
        data["fact_sources"]["params_total_b"] = [_hub_url(run, primary.repo_id) + SAFETENSORS]
        changes.append(f"parameters {data['params_total_b']}B from the safetensors index of {primary.repo_id}")


def _billions(total: int) -> float:
    return round(total / 1e9, 3 if total < 1e9 else 2)


def _discover(run: _Run, matched: set[str], known: Catalog) -> list[CatalogEntry]:
    """Entries for Unsloth uploads newer than anything the packaged catalog knows."""
    newest = max((m.release_date for m in known.models if m.release_date), default=date.min)
    taken = {i.lower() for m in known.models for i in (m.id, *m.other_ids, m.base_id or "", m.instruct_id or "")}
    groups: dict[str, dict[str, HubModel]] = {}
    for key, model in run.repos.items():
        created = _day(model.extra.get("created_at"))
        if model.repo_id in matched or key in taken or _NOT_TRAINABLE.search(key) or not created or created <= newest:
            continue
        stem, slot = _slot_of(model.repo_id)
        groups.setdefault(stem, {})[slot] = model
    added: list[CatalogEntry] = []
    for stem, slots in sorted(groups.items()):
        if len(added) >= MAX_NEW_MODELS:
            run.keep_out(stem, f"more than {MAX_NEW_MODELS} new models in one refresh; run it again later")
            continue
        entry = _new_entry(stem, slots, run, {m.id for m in known.models} | {a.id for a in added})
        if entry is not None:
            added.append(entry)
    return added


def _slot_of(repo_id: str) -> tuple[str, str]:
    """(stem, slot) of an Unsloth repo id: 'unsloth/Foo-8B-Base-bnb-4bit' -> ('unsloth/Foo-8B', 'base_bnb_4bit')."""
    name, quant = naming.split_quant(repo_id)
    stem, variant = naming.split_variant(name)
    return stem, naming.slot(variant or "instruct", quant)


def _new_entry(stem: str, slots: dict[str, HubModel], run: _Run, ids: set[str]) -> CatalogEntry | None:
    primary = slots.get("instruct") or slots.get("base")
    if primary is None:
        run.keep_out(stem, "only quantised uploads; no 16-bit repository to read the facts from")
        return None
    ident = stem.split("/", 1)[1].lower()
    if ident in ids:
        run.keep_out(primary.repo_id, f"its id {ident!r} is taken by another catalog entry")
        return None
    pipeline = _PIPELINES.get(primary.pipeline_tag or "")
    license_id = run.license_of(primary)
    total = primary.extra.get("parameters")
    missing = [what for what, ok in (("a known task (pipeline tag)", pipeline), ("a licence we have terms for", license_id), ("a parameter count", total)) if not ok]
    if missing:
        run.keep_out(primary.repo_id, "new model without " + ", ".join(missing))
        return None
    run.progress(f"  new model {primary.repo_id}: config")
    arch = run.config(primary.repo_id)
    if arch is None:
        return None
    tasks, special, modalities = pipeline
    originals = [b for b in primary.base_models if not b.lower().startswith(ORG + "/")]
    variant_key = "instruct" if "instruct" in slots else "base"
    data = {
        "id": ident,
        "name": stem.split("/", 1)[1],
        "family": arch.model_type.replace("_", "-").lower(),
        "tasks": tasks,
        "specialised_for": special,
        f"{variant_key}_id": originals[0] if originals else primary.repo_id,
        "unsloth": {slot: model.repo_id for slot, model in slots.items()},
        "params_total_b": _billions(total),
        "architecture": arch.model_dump(),
        "architecture_status": "verified",
        "modalities": modalities,
        "release_date": _day(primary.extra.get("created_at")),
        "license_id": license_id,
        "uncertain_fields": ["release_date", "tasks"],
        "notes": f"Added by catalog refresh: tasks follow the Hub pipeline tag {primary.pipeline_tag!r}; "
        "the release date is the first Unsloth upload.",
        "sources": [_hub_url(run, primary.repo_id)],
        "fact_sources": {"architecture": [_hub_url(run, primary.repo_id, "/blob/main/config.json")],
                         "license_id": [_hub_url(run, primary.repo_id)],
                         "params_total_b": [_hub_url(run, primary.repo_id) + SAFETENSORS]},
    }
    return _checked(run, primary.repo_id, data, "the new entry")


def _checked(run: _Run, ref: str, data: dict[str, Any], what: str, outcome: str = "") -> CatalogEntry | None:
    """The entry validated by the schema and by `catalog check` (as the loader will check the copy); None
    (kept out, reported) when it fails. A parameter count read from the safetensors index that the
    architecture does not add up to is explained in params_note, with both numbers."""
    try:
        entry = CatalogEntry.model_validate(data)
    except ValidationError as exc:
        run.keep_out(ref, f"{what} does not validate ({exc.errors()[0]['msg']}){outcome}")
        return None
    counted = params_disagree(entry)
    read = " ".join(entry.fact_sources.get("params_total_b", [])).endswith(SAFETENSORS)
    if counted is not None and read and not entry.params_note:
        entry = entry.model_copy(update={"params_note": (
            f"The safetensors index counts {entry.params_total_b:g}B parameters, the architecture in config.json "
            f"{counted:.3g}B: weights outside the language model (a vision or audio tower), or an error in either; "
            "catalog refresh did not check which.")})
    problems = check_entry(entry, run.license_ids)
    if problems:
        run.keep_out(ref, f"{what} fails catalog check ({problems[0].field}: {problems[0].text}){outcome}")
        return None
    return entry


def refresh(packaged: Catalog, listing: list[HubModel], complete: bool, fetch_config: FetchConfig, endpoint: str,
            progress: Progress) -> tuple[Catalog, RefreshReport]:
    """The packaged catalog brought up to date from the org's listing; the report says what changed."""
    run = _Run(listing, complete, progress, packaged, fetch_config, endpoint)
    entries: list[CatalogEntry] = []
    updated: list[EntryChange] = []
    matched: set[str] = set()
    for i, entry in enumerate(packaged.models, 1):
        progress(f"[{i}/{len(packaged.models)}] {entry.id}")
        new, changes, repos = _update(entry, run)
        entries.append(new)
        matched |= repos
        if changes:
            updated.append(EntryChange(id=entry.id, changes=changes))
    added = _discover(run, matched, packaged)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    # Unsloth's advice per family is curated, not refreshed: the copy carries it over as it is.
    catalog = Catalog(generated_at=now, generated_by=f"finetune-advisor catalog refresh from {endpoint}",
                      built_from=packaged.content_digest(), models=sorted([*entries, *added], key=lambda m: m.id),
                      families=packaged.families)
    report = RefreshReport(
        endpoint=endpoint, listed_repos=len(listing), complete_listing=run.complete, models=len(catalog.models),
        updated=updated, added=[a.id for a in added], kept_out=run.kept_out, generated_at=now,
    )
    return catalog, report
