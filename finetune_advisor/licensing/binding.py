"""Which licences bind a model, and the combined verdict for the user's plans (pure).

A catalog entry carries its own licence and the licences of the models it was distilled or
fine-tuned from (`upstream_license_ids`). A repo the catalog does not know is bound by its Hub
card's licence field and, recursively and bounded, by its declared base models: those are looked
up in the catalog first, then through `lookup` (the Hub adapter, passed in by the tool). A licence
the project has no clauses for gives `unknown` with the reason, never a guess. The strictest
verdict wins.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field

from finetune_advisor.catalog.resolve import resolve
from finetune_advisor.catalog.schema import Catalog, CatalogEntry, ResolvedModel
from finetune_advisor.errors import HubError, UnknownModelError
from finetune_advisor.hub_card import HubModel, is_repo_id
from finetune_advisor.licensing.rules import SEVERITY, Assessment, Plans, assess, disclaimer, unknown_assessment, worst
from finetune_advisor.licensing.terms import License, load_licenses
from finetune_advisor.untrusted import quote
from finetune_advisor.vocabulary import LicenseOrigin, Verdict

Lookup = Callable[[str], HubModel]  # repo id -> its Hub card; raises HubError

# Hub pipeline tags of models that take more than text (the Llama EU clause covers multimodal models).
_MULTIMODAL_TAGS = {"image-text-to-text", "image-to-text", "visual-question-answering", "video-text-to-text",
                    "any-to-any", "audio-text-to-text", "automatic-speech-recognition", "text-to-speech"}
_TEXT_TAGS = {"text-generation", "text2text-generation", "fill-mask", "feature-extraction", "text-classification",
              "sentence-similarity", "token-classification", "question-answering", "summarization", "translation"}
_MAX_BASES = 3
_MAX_REPO_CHARS = 200  # a repo id is at most 193 characters: a longer base model value is cut when shown
_MAX_DEPTH = 2


class InheritedLicense(BaseModel):
    """A licence binding the model through what it was built from."""

    license_id: str | None
    verdict: Verdict
    via: str


class LicenseCheck(BaseModel):
    """The verdict over every licence binding the model, with duties and the deciding clauses."""

    model: str | None
    resolved_model: str | None = Field(description="Catalog id or Hub repo the licence came from")
    origin: LicenseOrigin
    license_id: str | None
    name: str | None
    verdict: Verdict
    obligations: list[str]
    restrictions: list[str]
    reasons: list[str]
    license_url: str | None
    gated: bool | None = Field(description="Original HF repo asks to accept terms (null: unknown)")
    inherited_licenses: list[InheritedLicense]
    notes: list[str]
    disclaimer: str


def check_catalog_entry(
    entry: CatalogEntry, plans: Plans, asked: str | None = None, resolved: ResolvedModel | None = None
) -> LicenseCheck:
    """The verdict for a catalog entry (no I/O beyond the packaged data; recommend_model uses it too)."""
    (own, _), *inherited = _entry_assessments(entry, plans)
    return result(asked, entry.id, "catalog", own, inherited, entry.gated, _resolution_notes(entry, asked, resolved))


def _entry_assessments(entry: CatalogEntry, plans: Plans, via_prefix: str = "") -> list[tuple[Assessment, str]]:
    """The entry's own licence, then those of the models it was distilled or fine-tuned from."""
    multimodal = any(m.split("-")[0] != "text" for m in entry.modalities)
    own = _assess_id(entry.license_id, plans, multimodal, f"the catalog records no licence for {entry.name}")
    found = [(own, f"{via_prefix}{entry.name}'s own licence")]
    for up in entry.upstream_license_ids:  # which upstream model (text-only or not) is not recorded
        via = f"{via_prefix}upstream of {entry.name}: it was distilled or fine-tuned from a model under this licence"
        found.append((_assess_id(up, plans, None, ""), via))
    return found


def _assess_id(license_id: str | None, plans: Plans, multimodal: bool | None, missing: str) -> Assessment:
    if license_id is None:
        return unknown_assessment(f"Licence unknown: {missing}; read the model card before any use.")
    lic = load_licenses().find(license_id)
    if lic is None:
        return unknown_assessment(f"Licence {license_id!r} is named, but the project has no clause data for it; read it yourself.")
    return assess(lic, plans, multimodal)


def unconfirmed_licence(entry: CatalogEntry) -> str | None:
    """Where the catalog holds a licence it read only second-hand (`uncertain_fields`), the verdict rests on it: the
    sentence that says so (check_license's notes, recommend_model's caveats); None where it read them first-hand."""
    fields = [f for f in ("license_id", "upstream_license_ids") if f in entry.uncertain_fields and getattr(entry, f)]
    if not fields:
        return None
    what = " and ".join({"license_id": f"its licence ({entry.license_id})",
                         "upstream_license_ids": "the licences it inherits"}[f] for f in fields)
    verb = "were" if len(fields) > 1 else "was"
    return (f"The catalog's record of {what} for {entry.name} {verb} not read from the model's own page (its sources "
            f"are in catalog entry {entry.id}): confirm it there before relying on this verdict.")


def _resolution_notes(entry: CatalogEntry, asked: str | None, resolved: ResolvedModel | None) -> list[str]:
    notes: list[str] = []
    repo = resolved.repo_id if resolved else None
    originals = {r.lower() for r in (entry.base_id, entry.instruct_id) if r}
    if repo and repo.lower() not in originals:
        kind = "an Unsloth re-upload" if repo.lower().startswith("unsloth/") else "another upload"
        quant = f" ({resolved.quant} quantisation)" if resolved and resolved.quant and resolved.quant != "16bit" else ""
        notes.append(f"{repo} is {kind}{quant} of {entry.name}; re-uploads and quantised copies carry the original "
                     "model's licence.")
    elif asked and repo is None and resolved and resolved.note is None and asked.lower() != entry.id:
        notes.append(f"{asked!r} resolved to catalog entry {entry.id} ({entry.name}).")
    if resolved and resolved.note:
        notes.append(resolved.note)
    notes += entry.license_caveats  # terms the licence id does not carry, or a re-upload's card that disagrees
    unconfirmed = unconfirmed_licence(entry)
    if unconfirmed:
        notes.append(unconfirmed)
    if entry.gated:
        notes.append("gated refers to the original repository; the licence binds re-uploads whether or not they are gated.")
    return notes


def check_hub_card(info: HubModel, plans: Plans, catalog: Catalog, lookup: Lookup) -> LicenseCheck:
    """A repo the catalog does not know: its card's licence field and declared base models."""
    multimodal = _hub_multimodal(info.pipeline_tag)
    own = _hub_assessment(info, plans, multimodal)
    inherited = _hub_bases(info, plans, multimodal, catalog, lookup, depth=1, seen={info.repo_id.lower()})
    notes = [f"{info.repo_id} is not in the catalog; its licence was read from its Hugging Face model card."]
    if info.base_models:
        bases = ", ".join(quote(b, _MAX_REPO_CHARS) for b in info.base_models[:_MAX_BASES])
        notes.append(f"Declared base model(s): {bases}; a fine-tune, merge or quantisation "
                     "cannot drop its base model's licence terms.")
    return result(info.repo_id, info.repo_id, "hub", own, inherited, bool(info.gated), notes)


def _hub_multimodal(pipeline_tag: str | None) -> bool | None:
    if pipeline_tag in _MULTIMODAL_TAGS:
        return True
    return False if pipeline_tag in _TEXT_TAGS else None


def _hub_assessment(info: HubModel, plans: Plans, multimodal: bool | None) -> Assessment:
    """The card's licence field, mapped only when it names a licence the project knows, and only one."""
    tag = (info.license or "").strip()
    book = load_licenses()
    if not tag:
        return unknown_assessment(f"The model card of {info.repo_id} states no licence; read the repository's files.")
    other = tag.lower() == "other"
    name = (info.license_name or "") if other else tag
    lic = book.find(name) if name else None
    if lic is not None:
        return assess(lic, plans, multimodal)
    if other:
        named = f" (license_name {quote(info.license_name)})" if info.license_name else " without a license_name"
        said = f"The model card of {info.repo_id} gives the licence as 'other'{named}"
    else:
        said = f"The model card of {info.repo_id} names the licence {quote(tag)}"
    link = f"; its text is at {quote(info.license_link, 200)}" if info.license_link else ""
    if sharing := book.sharing(name):
        return unknown_assessment(f"{said}, a name different publishers give different terms ({_named(sharing)}, "
                                  f"among others){link}. Read it before any use.")
    return unknown_assessment(f"{said}, which the project has no clause data for{link}. Read it before any use.")


def _named(licences: list[License]) -> str:
    return "; ".join(f"{lic.name} [{lic.id}]" for lic in licences)


def _hub_bases(
    info: HubModel, plans: Plans, multimodal: bool | None, catalog: Catalog, lookup: Lookup, depth: int, seen: set[str]
) -> list[tuple[Assessment, str]]:
    """Licences of the declared base models: catalog first, then (bounded) the Hub."""
    found: list[tuple[Assessment, str]] = []
    for base in info.base_models[:_MAX_BASES]:
        if base.lower() in seen:
            continue
        seen.add(base.lower())
        shown = f"base model {quote(base, _MAX_REPO_CHARS)}"  # card text: quoted and cut short wherever shown
        if not is_repo_id(base):
            found.append((unknown_assessment(f"The {shown} is not a Hugging Face repo id; check its licence."), shown))
            continue
        try:
            entry = resolve(catalog, base).entry
        except UnknownModelError:
            entry = None
        if entry is not None:
            found += _entry_assessments(entry, plans, via_prefix=f"{shown} (catalog entry {entry.id}): ")
            continue
        if depth >= _MAX_DEPTH:
            found.append((unknown_assessment(f"The {shown} was not followed further; check its licence."), shown))
            continue
        try:
            base_info = lookup(base)
        except HubError as exc:
            found.append((unknown_assessment(f"The {shown} could not be looked up ({exc})."), shown))
            continue
        found.append((_hub_assessment(base_info, plans, multimodal), f"{shown} (Hub card)"))
        found += _hub_bases(base_info, plans, multimodal, catalog, lookup, depth + 1, seen)
    return found


def result(
    asked: str | None, resolved_model: str | None, origin: LicenseOrigin, own: Assessment,
    inherited: list[tuple[Assessment, str]], gated: bool | None, notes: list[str],
) -> LicenseCheck:
    """Combine the model's own licence with the inherited ones: the strictest verdict wins."""
    known = {own.license_id}
    kept: list[tuple[Assessment, str]] = []
    for a, via in inherited:  # one licence binds once, whichever way it arrives
        if a.license_id is None or a.license_id not in known:
            known.add(a.license_id)
            kept.append((a, via))
    inherited = kept
    several = bool(inherited)

    def tag(a: Assessment, line: str) -> str:
        return f"[{a.license_id or 'unknown licence'}] {line}" if several else line

    everything = [own, *(a for a, _ in inherited)]
    obligations = [tag(a, x) for a in everything for x in a.obligations]
    restrictions = [tag(a, x) for a in everything for x in a.restrictions]
    # reasons of the strictest licence first: they decided the verdict
    reasons = [tag(a, x) for a in sorted(everything, key=lambda a: -SEVERITY[a.verdict]) for x in a.reasons]
    reasons += [f"{a.name or 'An unknown licence'} also binds this model ({via}); on its own it gives {a.verdict}."
                for a, via in inherited]
    return LicenseCheck(
        model=asked, resolved_model=resolved_model, origin=origin, license_id=own.license_id, name=own.name,
        verdict=worst([own.verdict, *(a.verdict for a, _ in inherited)]),
        obligations=_unique(obligations), restrictions=_unique(restrictions), reasons=_unique(reasons),
        license_url=own.license_url, gated=gated,
        inherited_licenses=[
            InheritedLicense(license_id=a.license_id, verdict=a.verdict, via=via) for a, via in inherited
        ],
        notes=notes, disclaimer=disclaimer(own.license_url),
    )


def _unique(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(lines))
