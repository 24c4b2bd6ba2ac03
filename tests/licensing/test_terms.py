"""The packaged licence data and the pure rules engine (licence + plans -> verdict).

If a data test fails, fix finetune_advisor/licensing/licenses.json: every structured fact (commercial use, user
threshold, EU exclusion, outputs, redistribution, gating) needs a clause of its topic with an
https source, and every clause says whether it was verified against the licence text.
"""

from __future__ import annotations

import json
from importlib.resources import files

import pytest
from pydantic import ValidationError

from finetune_advisor.adapters.cache import load_catalog
from finetune_advisor.errors import UnknownLicenseError
from finetune_advisor.licensing.rules import Plans, assess, worst
from finetune_advisor.licensing.terms import License, LicenseBook, get_license, license_ids, load_licenses

REQUIRED = {
    "apache-2.0", "mit", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma", "qwen", "qwen-research",
    "mrl", "mnpl", "deepseek", "nvidia-open-model-license", "gpt-oss-usage-policy", "cc-by-nc-4.0", "cc-by-nc-sa-4.0",
    "cc-by-4.0",
}


def _lic(license_id: str) -> License:
    return get_license(license_id)


# --- the packaged data -------------------------------------------------------------------------


def test_packaged_file_validates_through_the_runtime_model() -> None:
    raw = files("finetune_advisor.licensing").joinpath("licenses.json").read_bytes()
    book = LicenseBook.model_validate_json(raw)
    assert book.ids() == load_licenses().ids()
    assert REQUIRED <= set(book.ids())


def test_every_clause_has_a_source_and_a_verified_marker() -> None:
    raw = json.loads(files("finetune_advisor.licensing").joinpath("licenses.json").read_text())
    for lic in raw["licenses"]:
        for clause in lic["clauses"]:
            assert clause["source"].startswith("https://"), (lic["id"], clause["topic"])
            assert isinstance(clause["verified"], bool), (lic["id"], clause["topic"])


def test_every_fact_is_backed_by_a_clause_of_its_topic() -> None:
    for lic in load_licenses().licenses:
        topics = {c.topic for c in lic.clauses}
        assert lic.commercial_use is None or "commercial_use" in topics, lic.id
        assert lic.mau_limit is None or "user_threshold" in topics, lic.id
        assert lic.eu_exclusion in (None, "none") or "regional" in topics, lic.id
        assert lic.gated_on_hf is None or "gating" in topics, lic.id


def test_every_catalog_licence_is_known() -> None:
    """The catalog names licences by id; each must have clause data (None means unknown, on purpose)."""
    known = set(license_ids())
    for entry in load_catalog().models:
        for license_id in (entry.license_id, *entry.upstream_license_ids):
            assert license_id is None or license_id in known, (entry.id, license_id)


def test_thresholds_are_numbers_from_the_text() -> None:
    for llama in ("llama3", "llama3.1", "llama3.2", "llama3.3", "llama4"):
        assert _lic(llama).mau_limit == 700_000_000
    assert _lic("qwen").mau_limit == 100_000_000
    assert _lic("qwen").mau_applies_to == "commercial_use"


def test_a_threshold_counted_at_release_names_the_release_date_it_counts_from() -> None:
    """A Llama licence counts users in the month before the version's release: the clause says which date that is,
    the same date the catalog gives for the version's models, so a reader can check their own figure."""
    import re
    from datetime import datetime

    catalog = load_catalog()
    for lic in load_licenses().licenses:
        if not lic.mau_counted_at_release:
            continue
        clause = next(c for c in lic.clauses if c.topic == "user_threshold")
        dates = re.findall(r"\d{4}-\d{2}-\d{2}", clause.text) + [
            datetime.strptime(d, "%d %B %Y").date().isoformat() for d in re.findall(r"\d{1,2} [A-Z][a-z]+ \d{4}", clause.text)]
        assert dates, lic.id
        released = {str(e.release_date) for e in catalog.models if e.license_id == lic.id and e.release_date}
        assert not released or set(dates) & released, (lic.id, dates, released)


def test_unverified_clauses_are_marked_and_counted() -> None:
    assert _lic("mnpl").verification == "unverified"  # read only through quotations so far
    assert _lic("apache-2.0").verification == "verified"
    assert _lic("mrl").verification == "partial"  # the text was read; the gating clause was not


def test_a_fact_without_a_clause_is_rejected() -> None:
    data = _lic("qwen").model_dump()
    data["clauses"] = [c for c in data["clauses"] if c["topic"] != "user_threshold"]
    with pytest.raises(ValidationError, match="user_threshold"):
        License.model_validate(data)


def test_a_duty_without_its_trigger_is_rejected() -> None:
    data = _lic("mit").model_dump()
    data["clauses"][1]["when"] = []
    with pytest.raises(ValidationError, match="duty"):
        License.model_validate(data)


def test_a_clause_without_an_https_source_is_rejected() -> None:
    data = _lic("mit").model_dump()
    data["clauses"][0]["source"] = "analyst knowledge"
    with pytest.raises(ValidationError):
        License.model_validate(data)


def test_a_name_used_twice_is_rejected() -> None:
    book = load_licenses().model_dump()
    book["licenses"][1]["aliases"] = ["Apache 2.0"]  # normalises to apache-2.0, another licence's id
    with pytest.raises(ValidationError, match="used twice"):
        LicenseBook.model_validate(book)


def test_a_shared_name_finds_no_licence_and_may_not_also_be_a_unique_one() -> None:
    book = load_licenses()
    assert book.find("Modified MIT") is None
    assert [lic.id for lic in book.sharing("modified_mit")] == ["mistral-modified-mit", "kimi-k2-modified-mit"]
    assert book.sharing("mit") == []
    data = book.model_dump()
    data["licenses"][1]["shared_names"] = ["apache 2.0"]  # another licence's id
    with pytest.raises(ValidationError, match="both unique and shared"):
        LicenseBook.model_validate(data)


def test_lookup_by_alias_ignores_case_and_spacing() -> None:
    assert load_licenses().find("Llama 3.1").id == "llama3.1"
    assert load_licenses().find("gpt-oss").id == "gpt-oss-usage-policy"
    assert load_licenses().find("tongyi-qianwen").id == "tongyi-qianwen"
    assert load_licenses().find("tongyi-qianwen-research") is None  # a different licence: never mapped by guess


def test_unknown_licence_id_names_the_field_and_lists_known_ids() -> None:
    with pytest.raises(UnknownLicenseError) as err:
        get_license("llama1")
    assert "'license_id'" in str(err.value) and "llama3.1" in str(err.value) and "apache-2.0" in str(err.value)


# --- the rules ---------------------------------------------------------------------------------


def test_permissive_licence_without_duties_is_allowed() -> None:
    result = assess(_lic("apache-2.0"), Plans())
    assert result.verdict == "allowed" and result.obligations == [] and result.restrictions == []


def test_distribution_triggers_notice_duties() -> None:
    result = assess(_lic("apache-2.0"), Plans(distribute_weights=True))
    assert result.verdict == "allowed_with_conditions"
    assert any("NOTICE" in o for o in result.obligations)


@pytest.mark.parametrize(
    ("users", "verdict"),
    [(0, "allowed_with_conditions"), (700_000_000, "allowed_with_conditions"), (700_000_001, "unknown")],
)
def test_llama_user_threshold_is_strictly_above_700m(users: int, verdict: str) -> None:
    """Above it, the verdict turns on the users of the month before the release, which the plans do not give: a
    company that grew past 700M afterwards is not caught, so the answer is not a flat no."""
    result = assess(_lic("llama3.1"), Plans(monthly_active_users=users))
    assert result.verdict == verdict
    if verdict == "unknown":
        assert "month before the version's release" in result.reasons[0] and "2024-07-23" in result.reasons[0]


def test_only_llama_licences_count_users_at_the_release() -> None:
    counted_at_release = {lic.id for lic in load_licenses().licenses if lic.mau_counted_at_release}
    assert counted_at_release == {"llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4"}


def test_qwen_threshold_binds_commercial_use_only() -> None:
    big = 150_000_000
    assert assess(_lic("qwen"), Plans(monthly_active_users=big)).verdict == "not_allowed"
    research = assess(_lic("qwen"), Plans(commercial_use=False, monthly_active_users=big))
    assert research.verdict == "allowed"  # no threshold, no duty triggered without distribution
    assert not any("100 million" in r for r in research.restrictions)


def test_eu_clause_follows_the_models_modality() -> None:
    llama32 = _lic("llama3.2")
    eu = Plans(eu_entity=True)
    assert assess(llama32, eu, multimodal=True).verdict == "not_allowed"
    text_only = assess(llama32, eu, multimodal=False)
    assert text_only.verdict == "allowed_with_conditions"
    assert not any("Vision" in r for r in text_only.restrictions)


def test_eu_clause_with_unknown_modality_warns_without_guessing() -> None:
    result = assess(_lic("llama3.2"), Plans(eu_entity=True), multimodal=None)
    assert result.verdict == "allowed_with_conditions"
    assert any("multimodal" in r for r in result.reasons)
    assert any("EU" in r for r in result.restrictions)


def test_llama4_is_multimodal_by_licence_data() -> None:
    assert assess(_lic("llama4"), Plans(eu_entity=True)).verdict == "not_allowed"
    assert assess(_lic("llama3.3"), Plans(eu_entity=True)).verdict == "allowed_with_conditions"


def test_llama3_forbids_training_other_models_on_outputs_but_31_allows_it() -> None:
    plans = Plans(train_other_models_on_outputs=True)
    old = assess(_lic("llama3"), plans)
    assert old.verdict == "not_allowed" and "improve any other large language model" in old.reasons[0]
    new = assess(_lic("llama3.1"), plans)
    assert new.verdict == "allowed_with_conditions"
    assert any('with "Llama"' in o for o in new.obligations)


def test_unsettled_terms_give_unknown_and_say_so() -> None:
    result = assess(_lic("mnpl"), Plans(commercial_use=False, distribute_weights=True))
    assert result.verdict == "unknown"
    assert "not settled" in result.reasons[0] and "not verified" in result.reasons[0]


def test_non_commercial_licences_block_commercial_use_first() -> None:
    for license_id in ("qwen-research", "mrl", "mnpl", "cc-by-nc-4.0", "cc-by-nc-sa-4.0"):
        result = assess(_lic(license_id), Plans(commercial_use=True))
        assert result.verdict == "not_allowed", license_id
        assert result.reasons[0].startswith("Commercial use"), license_id


def test_reasons_flag_unverified_clauses() -> None:
    result = assess(_lic("mnpl"), Plans())
    assert "not verified against the licence text" in result.reasons[0]


def test_worst_verdict_wins() -> None:
    assert worst(["allowed", "allowed_with_conditions"]) == "allowed_with_conditions"
    assert worst(["allowed", "unknown"]) == "unknown"
    assert worst(["unknown", "not_allowed", "allowed"]) == "not_allowed"
    assert worst([]) == "unknown"


def test_plans_reject_negative_users() -> None:
    with pytest.raises(ValidationError):
        Plans(monthly_active_users=-1)
