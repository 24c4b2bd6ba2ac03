"""The rules that turn a licence plus the user's plans into a verdict, each reason naming its clause (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from finetune_advisor.licensing.terms import License
from finetune_advisor.vocabulary import Verdict

_DISCLAIMER = (
    "Information, not legal advice: a plain-words reading of the licence text as this project recorded it. "
    "Read the licence itself ({where}) and ask a lawyer before decisions that matter."
)


def disclaimer(license_url: str | None) -> str:
    """The disclaimer every licence answer ends with, pointing at the licence text where one is known."""
    return _DISCLAIMER.format(where="license_url" if license_url else "from the model's page")
SEVERITY: dict[Verdict, int] = {"allowed": 0, "allowed_with_conditions": 1, "unknown": 2, "not_allowed": 3}
_TOPIC_LABEL: dict[str, str] = {
    "commercial_use": "Commercial use", "user_threshold": "User threshold", "regional": "EU clause",
    "outputs": "Training on outputs", "redistribution": "Redistribution",
}


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
    found = _Findings()
    if plans.commercial_use:
        allowed = lic.commercial_use
        found.by_stance(lic, "commercial_use", None if allowed is None else "allowed" if allowed else "prohibited")
    _users(lic, plans, found)
    eu = _eu_applies(lic, multimodal)
    if plans.eu_entity:
        _regional(lic, eu, found)
    # Plans that a single clause allows, forbids or leaves unsettled.
    for planned, stance, clause in ((plans.train_other_models_on_outputs, lic.outputs_training, "outputs"),
                                    (plans.distribute_weights, lic.redistribution, "redistribution")):
        if planned:
            found.by_stance(lic, clause, stance)
    obligations, restrictions = _duties(lic, plans, eu)
    verdict: Verdict = (
        "not_allowed" if found.blockers else "unknown" if found.unknowns
        else "allowed_with_conditions" if obligations or restrictions else "allowed"
    )
    return Assessment(
        license_id=lic.id, name=lic.name, verdict=verdict, obligations=obligations, restrictions=restrictions,
        reasons=[*found.blockers, *found.unknowns, *found.reasons], license_url=lic.url,
    )


@dataclass
class _Findings:
    """What the licence says of each plan, by weight: what forbids it, what leaves it unsettled, what allows it."""

    blockers: list[str] = field(default_factory=list)
    unknowns: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def by_stance(self, lic: License, clause: str, stance: str | None) -> None:
        """A clause that forbids ('prohibited'), leaves unsettled (None) or otherwise allows the plan."""
        if stance == "prohibited":
            self.blockers.append(_cite(lic, clause))
        elif stance is None:
            self.unknowns.append(_unsettled(lic, clause))
        else:
            self.reasons.append(_cite(lic, clause))


def _users(lic: License, plans: Plans, found: _Findings) -> None:
    """The monthly-active-user threshold, where it applies to the plans."""
    if lic.mau_limit is None or not (lic.mau_applies_to == "any_use" or plans.commercial_use):
        return
    users, limit = plans.monthly_active_users, lic.mau_limit
    terms = lic.clause("user_threshold")
    if users > limit and lic.mau_counted_at_release:  # the users of one past month decide, which the plans do not give
        found.unknowns.append(_cite(lic, "user_threshold", f"{users:,} monthly active users is above the {limit:,} "
                                    "threshold, but this licence counts users only in the month before the version's "
                                    "release: users gained after it do not trigger the clause. "
                                    f"{terms.text if terms else ''}".strip()))
    elif users > limit:
        found.blockers.append(_cite(lic, "user_threshold", f"{users:,} monthly active users is above the {limit:,} "
                                    f"threshold. {terms.text if terms else ''}".strip()))
    elif users:
        found.reasons.append(_cite(lic, "user_threshold", f"{users:,} monthly active users is within the {limit:,} threshold"))


def _regional(lic: License, eu: bool | None, found: _Findings) -> None:
    """For an EU user: the regional clause, where it covers this model (`eu`; None: not known for this model)."""
    regional = lic.clause("regional")
    if eu is True:
        found.blockers.append(_cite(lic, "regional"))
    elif eu is None and regional is not None:
        found.reasons.append(_cite(lic, "regional", "applies to multimodal models only, and the model was not named, "
                                   f"so check which one you use. {regional.text}"))
    elif eu is None:
        found.unknowns.append(_unsettled(lic, "regional"))
    elif regional is not None:
        found.reasons.append(_cite(lic, "regional", f"does not cover this model. {regional.text}"))


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
