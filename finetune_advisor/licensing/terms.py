"""What each licence says: the packaged licence data and the models that validate it (pure).

`licenses.json` (next to this module) holds, per licence, the structured facts the rules decide
on (commercial use, user threshold, EU exclusion, outputs, redistribution) and the clauses behind
them, each in our own words with its source URL and a verified marker. Every structured fact must
be backed by a clause of its topic, so every verdict can name its clause.
"""

from __future__ import annotations

import functools
import re
from importlib.resources import files
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from finetune_advisor.errors import DataError, UnknownLicenseError

Topic = Literal[
    "commercial_use", "user_threshold", "attribution", "naming", "acceptable_use",
    "outputs", "redistribution", "regional", "gating", "other",
]
Trigger = Literal["always", "commercial", "distribute", "outputs"]

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
    shared_names: list[str] = Field(default=[], description="Names model cards give this licence that other "
                                    "publishers give different terms too: they resolve to no licence")
    commercial_use: bool | None = None
    mau_limit: int | None = Field(default=None, gt=0)
    mau_applies_to: Literal["any_use", "commercial_use"] = "any_use"
    mau_counted_at_release: bool = Field(default=False, description="The licence counts users only in the month "
                                         "before the version's release (Llama), not at any time (Qwen)")
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
    _shared: dict[str, list[License]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique_names(self) -> LicenseBook:
        index: dict[str, License] = {}
        shared: dict[str, list[License]] = {}
        for lic in self.licenses:
            for name in (lic.id, *lic.aliases):
                key = normalise(name)
                if key in index:
                    raise ValueError(f"licence name {name!r} is used twice ({index[key].id}, {lic.id})")
                index[key] = lic
            for name in lic.shared_names:
                shared.setdefault(normalise(name), []).append(lic)
        clash = sorted(set(index) & set(shared))
        if clash:
            raise ValueError(f"licence names both unique and shared: {clash}")
        self._index, self._shared = index, shared
        return self

    def find(self, name: str) -> License | None:
        """The licence with this id or alias, else None (a shared name included: see `sharing`)."""
        return self._index.get(normalise(name))

    def sharing(self, name: str) -> list[License]:
        """The licences that carry this name beside other publishers' different terms (empty for any other name)."""
        return list(self._shared.get(normalise(name), ()))

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
