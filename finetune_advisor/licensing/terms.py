"""Licence knowledge and the rules that turn a licence plus the user's plans into a verdict. Pure.

`tools/licenses.json` is packaged data validated by these models: per licence, structured facts
the rules decide on (commercial use, user threshold, EU exclusion, outputs, redistribution) and
the clauses behind them, each in our own words with its source URL and a verified marker. Every
structured fact must be backed by a clause of its topic, so every verdict can name its clause.
Loading that file through importlib.resources is this module's only I/O.
"""

from __future__ import annotations

import functools
import re
from importlib.resources import files
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from finetune_advisor.errors import DataError, UnknownLicenseError
from finetune_advisor.vocabulary import Verdict

Topic = Literal[
    "commercial_use", "user_threshold", "attribution", "naming", "acceptable_use",
    "outputs", "redistribution", "regional", "gating", "other",
]
Trigger = Literal["always", "commercial", "distribute", "outputs"]

DISCLAIMER = (
    "Information, not legal advice: a plain-words reading of the licence text as this project recorded it. "
    "Read the licence itself (license_url) and ask a lawyer before decisions that matter."
)
SEVERITY: dict[Verdict, int] = {"allowed": 0, "allowed_with_conditions": 1, "unknown": 2, "not_allowed": 3}
_TOPIC_LABEL: dict[str, str] = {
    "commercial_use": "Commercial use", "user_threshold": "User threshold", "regional": "EU clause",
    "outputs": "Training on outputs", "redistribution": "Redistribution",
}


def normalise(name: str) -> str:
    """Licence names as users and model cards spell them: case, spaces and underscores ignored."""
    return re.sub(r"[\s_]+", "-", name.strip().lower())


class Clause(BaseModel):
    """One clause in our own words; `duty` is what it asks of the user, `when` which plans trigger it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: Topic
    text: str = Field(min_length=10)
    source: str = Field(pattern=r"^https://\S+$")
    verified: bool
    duty: str | None = None
    kind: Literal["obligation", "restriction"] | None = None
    when: list[Trigger] = []

    @model_validator(mode="after")
    def _duty_complete(self) -> Clause:
        if bool(self.duty) != bool(self.kind) or bool(self.duty) != bool(self.when):
            raise ValueError("a clause with a duty needs kind and when; one without has neither")
        return self


class License(BaseModel):
    """A licence: the facts the rules use (None = not known) and the clauses they come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    name: str
    short_name: str
    url: str = Field(pattern=r"^https://\S+$")
    aliases: list[str] = []
    commercial_use: bool | None = None
    mau_limit: int | None = Field(default=None, gt=0)
    mau_applies_to: Literal["any_use", "commercial_use"] = "any_use"
    eu_exclusion: Literal["none", "multimodal_models", "all_models"] | None = None
    models_multimodal: bool | None = Field(default=None, description="Every model under this licence is multimodal")
    outputs_training: Literal["allowed", "prohibited"] | None = None
    redistribution: Literal["allowed", "prohibited"] | None = None
    gated_on_hf: bool | None = None
    clauses: list[Clause] = Field(min_length=1)

    @model_validator(mode="after")
    def _facts_have_clauses(self) -> License:
        topics = {c.topic for c in self.clauses}
        needed = {
            "commercial_use": self.commercial_use is not None,
            "user_threshold": self.mau_limit is not None,
            "regional": self.eu_exclusion not in (None, "none"),
            "outputs": self.outputs_training is not None,
            "redistribution": self.redistribution is not None,
            "gating": self.gated_on_hf is not None,
        }
        missing = [topic for topic, is_set in needed.items() if is_set and topic not in topics]
        if missing:
            raise ValueError(f"{self.id}: facts without a clause to back them: {missing}")
        return self

    def clause(self, topic: str) -> Clause | None:
        return next((c for c in self.clauses if c.topic == topic), None)

    @property
    def verification(self) -> Literal["verified", "partial", "unverified"]:
        checked = [c.verified for c in self.clauses]
        return "verified" if all(checked) else "unverified" if not any(checked) else "partial"


class LicenseBook(BaseModel):
    """Every licence the project knows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    reviewed: str
    licenses: list[License]
    _index: dict[str, License] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique_names(self) -> LicenseBook:
        index: dict[str, License] = {}
        for lic in self.licenses:
            for name in (lic.id, *lic.aliases):
                key = normalise(name)
                if key in index:
                    raise ValueError(f"licence name {name!r} is used twice ({index[key].id}, {lic.id})")
                index[key] = lic
        self._index = index
        return self

    def find(self, name: str) -> License | None:
        """The licence with this id or alias, else None."""
        return self._index.get(normalise(name))

    def ids(self) -> list[str]:
        return sorted(lic.id for lic in self.licenses)


@functools.cache
def load_licenses() -> LicenseBook:
    """The packaged licence data, parsed once."""
    raw = files("finetune_advisor.licensing").joinpath("licenses.json").read_bytes()
    try:
        return LicenseBook.model_validate_json(raw)
    except ValueError as exc:
        raise DataError(f"the packaged licenses.json does not validate: {exc}") from None


def license_ids() -> list[str]:
    """Every known licence id (for completions)."""
    return load_licenses().ids()


def get_license(license_id: str, field: str = "license_id") -> License:
    """The licence with this id or alias; UnknownLicenseError naming the field otherwise."""
    found = load_licenses().find(license_id)
    if found is None:
        raise UnknownLicenseError(
            f"Unknown '{field}' {license_id!r}: the project has no clause data for it. "
            f"Accepted: {', '.join(license_ids())}."
        )
    return found


class Plans(BaseModel):
    """What the user intends to do with the model."""

    model_config = ConfigDict(frozen=True)

    commercial_use: bool = True
    monthly_active_users: int = Field(default=0, ge=0)
    eu_entity: bool = False
    distribute_weights: bool = False
    train_other_models_on_outputs: bool = False

    def triggers(self) -> set[str]:
        active = {"always"}
        if self.commercial_use:
            active.add("commercial")
        if self.distribute_weights:
            active.add("distribute")
        if self.train_other_models_on_outputs:
            active.add("outputs")
        return active


class Assessment(BaseModel):
    """One licence measured against the plans."""

    license_id: str | None
    name: str | None
    verdict: Verdict
    obligations: list[str] = []
    restrictions: list[str] = []
    reasons: list[str] = []
    license_url: str | None = None


def _cite(lic: License, topic: str, text: str | None = None) -> str:
    """A reason naming the deciding clause, flagged when that clause was not verified."""
    clause = lic.clause(topic)
    label = _TOPIC_LABEL.get(topic, topic.replace("_", " ").capitalize())
    body = text or (clause.text if clause else "no clause recorded")
    flag = "" if clause is None or clause.verified else " (this clause was not verified against the licence text)"
    return f"{label} ({lic.short_name}): {body}{flag}"


def _eu_applies(lic: License, multimodal: bool | None) -> bool | None:
    """Whether the EU exclusion covers this model (None: it depends on something we do not know)."""
    if lic.eu_exclusion is None:
        return None
    if lic.eu_exclusion != "multimodal_models":
        return lic.eu_exclusion == "all_models"
    return multimodal if multimodal is not None else lic.models_multimodal


def _unsettled(lic: License, topic: str) -> str:
    clause = lic.clause(topic)
    return _cite(lic, topic, "not settled by the recorded terms" + (f": {clause.text}" if clause else "; read the licence"))


def assess(lic: License, plans: Plans, multimodal: bool | None = None) -> Assessment:
    """Apply the licence to the plans. `multimodal`: whether the model takes images/audio (None: unknown)."""
    blockers: list[str] = []
    unknowns: list[str] = []
    reasons: list[str] = []

    if plans.commercial_use:
        if lic.commercial_use is False:
            blockers.append(_cite(lic, "commercial_use"))
        elif lic.commercial_use is None:
            unknowns.append(_unsettled(lic, "commercial_use"))
        else:
            reasons.append(_cite(lic, "commercial_use"))

    if lic.mau_limit is not None and (lic.mau_applies_to == "any_use" or plans.commercial_use):
        users, limit = plans.monthly_active_users, lic.mau_limit
        if users > limit:
            terms = lic.clause("user_threshold")
            blockers.append(_cite(lic, "user_threshold", f"{users:,} monthly active users is above the {limit:,} "
                                  f"threshold. {terms.text if terms else ''}".strip()))
        elif users:
            reasons.append(_cite(lic, "user_threshold", f"{users:,} monthly active users is within the {limit:,} threshold"))

    eu = _eu_applies(lic, multimodal)
    regional = lic.clause("regional")
    if plans.eu_entity:
        if eu is True:
            blockers.append(_cite(lic, "regional"))
        elif eu is None and regional is not None:
            reasons.append(_cite(lic, "regional", "applies to multimodal models only, and the model was not named, "
                                 f"so check which one you use. {regional.text}"))
        elif eu is None:
            unknowns.append(_unsettled(lic, "regional"))
        elif regional is not None:
            reasons.append(_cite(lic, "regional", f"does not cover this model. {regional.text}"))

    # Plans that a single clause allows, forbids or leaves unsettled.
    for planned, stance, clause in ((plans.train_other_models_on_outputs, lic.outputs_training, "outputs"),
                                    (plans.distribute_weights, lic.redistribution, "redistribution")):
        if not planned:
            continue
        if stance == "prohibited":
            blockers.append(_cite(lic, clause))
        elif stance is None:
            unknowns.append(_unsettled(lic, clause))
        else:
            reasons.append(_cite(lic, clause))

    obligations, restrictions = _duties(lic, plans, eu)
    verdict: Verdict = (
        "not_allowed" if blockers else "unknown" if unknowns
        else "allowed_with_conditions" if obligations or restrictions else "allowed"
    )
    return Assessment(
        license_id=lic.id, name=lic.name, verdict=verdict, obligations=obligations, restrictions=restrictions,
        reasons=[*blockers, *unknowns, *reasons], license_url=lic.url,
    )


def _duties(lic: License, plans: Plans, eu: bool | None) -> tuple[list[str], list[str]]:
    """The duties the plans trigger; the regional one only when it may cover this model."""
    active = plans.triggers()
    obligations: list[str] = []
    restrictions: list[str] = []
    for clause in lic.clauses:
        if not clause.duty or not active.intersection(clause.when):
            continue
        if clause.topic == "regional" and eu is False:
            continue
        if clause.topic == "user_threshold" and lic.mau_applies_to == "commercial_use" and not plans.commercial_use:
            continue
        (obligations if clause.kind == "obligation" else restrictions).append(clause.duty)
    return obligations, restrictions


def unknown_assessment(reason: str) -> Assessment:
    """A licence the project cannot name or has no clauses for: never guessed."""
    return Assessment(license_id=None, name=None, verdict="unknown", reasons=[reason])


def worst(verdicts: list[Verdict]) -> Verdict:
    """The combined verdict of several licences binding the same model: the strictest wins."""
    return max(verdicts, key=SEVERITY.__getitem__) if verdicts else "unknown"
