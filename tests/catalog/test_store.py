"""The rule between the packaged catalog and a refreshed copy in the user's cache (hostile until validated):
a curated licence of the packaged catalog wins under every name its entry goes by, and a copy stamped in the
future is ignored."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from finetune_advisor.adapters.cache import catalog_path, load_catalog
from finetune_advisor.catalog.resolve import resolve
from finetune_advisor.catalog.schema import Catalog
from finetune_advisor.catalog.store import CLOCK_SKEW, load_packaged, prefer
from finetune_advisor.server.cli import main

VISION = "llama-3.2-11b-vision"
NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def fresh_catalog() -> None:
    load_catalog.cache_clear()
    yield
    load_catalog.cache_clear()


def _copy(changes: dict[str, dict], generated_at: datetime = NOW - timedelta(days=1)) -> Catalog:
    """The packaged catalog as a refreshed copy, with some entries changed."""
    packaged = load_packaged()
    models = [m.model_copy(update=changes[m.id]) if m.id in changes else m for m in packaged.models]
    return Catalog.model_validate({**dict(packaged), "generated_at": generated_at, "models": models,
                                   "built_from": packaged.content_digest()})


RENAMED_TO_APACHE = {"id": "llama-3-2-11b-vision", "license_id": "apache-2.0", "upstream_license_ids": []}


def test_a_renamed_entry_keeps_the_curated_licence_of_the_names_it_goes_by() -> None:
    """The attack of the report (B1): the Llama 3.2 Vision entry renamed and relicensed as Apache 2.0."""
    packaged = load_packaged()
    catalog, kept = prefer(packaged, _copy({VISION: RENAMED_TO_APACHE}), NOW)
    renamed = catalog.get("llama-3-2-11b-vision")
    source = packaged.get(VISION)
    assert (renamed.license_id, renamed.upstream_license_ids) == (source.license_id, source.upstream_license_ids)
    assert renamed.fact_sources["license_id"] == source.fact_sources["license_id"]
    assert kept == [f"llama-3-2-11b-vision (named like {VISION})"]
    assert resolve(catalog, "meta-llama/Llama-3.2-11B-Vision-Instruct").entry.license_id == "llama3.2"


def test_an_entry_named_like_models_of_different_licences_is_left_out() -> None:
    packaged = load_packaged()
    qwen = packaged.get("qwen3-8b")
    clone = {"id": "zz-clone", "license_id": "apache-2.0", "upstream_license_ids": [],
             "aliases": [*qwen.aliases, "llama 3.2 11b vision"]}
    copy = _copy({})
    copy = Catalog.model_validate({**dict(copy), "models": [*copy.models, qwen.model_copy(update=clone)]})
    catalog, kept = prefer(packaged, copy, NOW)
    assert catalog.get("zz-clone") is None
    assert kept == [f"zz-clone (named like {VISION}, qwen3-8b, whose licences differ: left out)"]


def test_a_copy_where_a_curated_name_resolves_to_another_licence_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    """A copy where Tulu 3 names Llama 3.1 8B's base checkpoint as its own (the packaged catalog did until
    2026-12-08); with Llama 3.1 8B left out of the copy, that repo id would resolve to Tulu's licence."""
    packaged = load_packaged()
    copy = _copy({"llama-3.1-tulu-3-8b": {"base_id": "meta-llama/Llama-3.1-8B"}})
    copy = Catalog.model_validate({**dict(copy), "models": [m for m in copy.models if m.id != "llama-3.1-8b"]})
    with caplog.at_level(logging.WARNING):
        assert prefer(packaged, copy, NOW) == (packaged, [])
    assert "'meta-llama/llama-3.1-8b' would resolve to llama-3.1-tulu-3-8b" in caplog.text


def test_a_refresh_that_gives_an_entry_another_models_unsloth_ids_changes_no_licence() -> None:
    """What a real refresh wrote while Tulu 3 named Llama 3.1 8B's base as its own (until 2026-12-08): Tulu's base
    slot filled with Llama 3.1 8B's Unsloth upload. Tulu keeps its own curated licence, and the copy is used."""
    packaged = load_packaged()
    tulu = packaged.get("llama-3.1-tulu-3-8b")
    copy = _copy({tulu.id: {"unsloth": tulu.unsloth.model_copy(update={"base": "unsloth/Llama-3.1-8B"})}})
    catalog, kept = prefer(packaged, copy, NOW)
    assert catalog is copy and kept == []
    assert catalog.get(tulu.id).upstream_license_ids == tulu.upstream_license_ids
    assert resolve(catalog, "unsloth/Llama-3.1-8B").entry.id == "llama-3.1-8b"


@pytest.mark.parametrize("ahead", [timedelta(days=365 * 73), CLOCK_SKEW + timedelta(seconds=1)])
def test_a_copy_stamped_in_the_future_is_ignored(ahead: timedelta, caplog: pytest.LogCaptureFixture) -> None:
    packaged = load_packaged()
    with caplog.at_level(logging.WARNING):
        assert prefer(packaged, _copy({}, generated_at=NOW + ahead), NOW) == (packaged, [])
    assert "Ignoring the cached catalog: it says it was generated at" in caplog.text


def test_a_copy_within_the_clock_skew_is_used() -> None:
    copy = _copy({}, generated_at=NOW + CLOCK_SKEW)
    assert prefer(load_packaged(), copy, NOW)[0] is copy


def test_a_copy_stamped_without_a_time_zone_is_read_as_utc() -> None:
    """It used to end every command in a TypeError (naive against aware datetimes)."""
    copy = _copy({}, generated_at=(NOW - timedelta(days=1)).replace(tzinfo=None))
    assert prefer(load_packaged(), copy, NOW)[0] is copy
    assert prefer(load_packaged(), _copy({}, generated_at=datetime(2099, 1, 1)), NOW)[0] is load_packaged()


def _plant(catalog: Catalog) -> None:
    path = catalog_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(catalog.model_dump_json(), encoding="utf-8")


@pytest.mark.parametrize("generated_at", [datetime.now(timezone.utc) - timedelta(minutes=1),
                                          datetime(2099, 1, 1, tzinfo=timezone.utc)])
@pytest.mark.parametrize("ref", ["meta-llama/Llama-3.2-11B-Vision-Instruct", VISION])
def test_the_eu_verdict_on_llama_vision_survives_a_planted_copy(generated_at: datetime, ref: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`license meta-llama/Llama-3.2-11B-Vision-Instruct --eu` with the report's planted copy: the Llama 3.2
    licence leaves the EU out of its multimodal models, whatever the copy calls the entry."""
    _plant(_copy({VISION: RENAMED_TO_APACHE}, generated_at=generated_at))
    assert main(["license", ref, "--eu"]) == 0
    out = capsys.readouterr().out
    assert "Verdict: NOT ALLOWED" in out and "(llama3.2)" in out and "apache-2.0" not in out


def test_an_unchanged_copy_is_used_as_it_is() -> None:
    copy = _copy({})
    assert prefer(load_packaged(), copy, NOW) == (copy, [])


def test_the_same_id_with_another_licence_gets_the_packaged_one_back() -> None:
    packaged = load_packaged()
    catalog, kept = prefer(packaged, _copy({"qwen2.5-3b": {"license_id": "apache-2.0"}}), NOW)
    assert catalog.get("qwen2.5-3b").license_id == "qwen-research" and kept == ["qwen2.5-3b"]


@pytest.mark.parametrize("built_from", [None, "0123456789abcdef"])
def test_a_copy_refreshed_from_another_packaged_catalog_is_set_aside(built_from: str | None,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """An upgrade ships other facts (an FP8 scale, a fixed base id): a copy refreshed from the catalog of an earlier
    version, or by a version that did not record which (built_from None), must not shadow them, however recent."""
    copy = _copy({}).model_copy(update={"built_from": built_from})
    with caplog.at_level(logging.WARNING, logger="finetune_advisor.catalog.store"):
        assert prefer(load_packaged(), copy, NOW) == (load_packaged(), [])
    assert "refreshed from another version of the packaged catalog" in caplog.text


def test_the_digest_follows_the_facts_not_the_stamps() -> None:
    packaged = load_packaged()
    restamped = packaged.model_copy(update={"generated_at": NOW, "generated_by": "someone"})
    assert restamped.content_digest() == packaged.content_digest()
    edited = _copy({"qwen3-8b": {"params_total_b": 8.2}})
    assert edited.content_digest() != packaged.content_digest()
