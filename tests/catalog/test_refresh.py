"""`catalog refresh` against the local fake Hub (tests/fake_hub.py): what it updates, adds, keeps out."""

from __future__ import annotations

import functools
import hashlib
import time
from importlib.resources import files

import pytest
from fake_hub import FakeHub

from finetune_advisor.adapters.cache import catalog_path as cache_path
from finetune_advisor.adapters.cache import load_catalog
from finetune_advisor.catalog import refresh as catalog_refresh
from finetune_advisor.catalog.check import check
from finetune_advisor.catalog.resolve import resolve
from finetune_advisor.catalog.schema import Catalog
from finetune_advisor.catalog.store import load_packaged
from finetune_advisor.licensing.terms import load_licenses
from finetune_advisor.server.commands.catalog import refresh_cached_catalog
from finetune_advisor.tools.check_license import check_license


def refresh(limit: int = 5000, progress=lambda _: None):
    return refresh_cached_catalog(limit, progress)

from finetune_advisor.errors import HubError, HubNotFoundError, InvalidInputError

NEW_CONFIG = {  # a plausible config of a model released after the packaged catalog
    "model_type": "qwen3", "num_hidden_layers": 36, "hidden_size": 4096, "intermediate_size": 12288,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
    "tie_word_embeddings": False, "max_position_embeddings": 262144,
}


@pytest.fixture(autouse=True)
def fresh_catalog() -> None:
    load_catalog.cache_clear()
    yield
    load_catalog.cache_clear()


@functools.cache
def _packaged() -> Catalog:
    return load_packaged()


def _config(model_id: str) -> dict:
    return _packaged().get(model_id).architecture.model_dump(exclude_none=True)


def _packaged_digest() -> str:
    return hashlib.sha256(files("finetune_advisor.catalog").joinpath("catalog.json").read_bytes()).hexdigest()


@pytest.fixture
def hub(fake_hub: FakeHub) -> FakeHub:
    """A small unsloth org: known models (one with a new upload), a bad config, new models."""
    qwen = dict(card={"license": "apache-2.0", "base_model": "Qwen/Qwen3-8B"}, last_modified="2026-10-02T00:00:00.000Z")
    # An Unsloth re-upload whose card says apache-2.0 for a model under the Qwen research licence.
    fake_hub.add_model("unsloth/Qwen2.5-3B-Instruct", config=_config("qwen2.5-3b"), card={"license": "apache-2.0"})
    fake_hub.add_model("unsloth/Qwen3-8B", config=_config("qwen3-8b"), parameters=8_190_735_360, **qwen)
    fake_hub.add_model("unsloth/Qwen3-8B-unsloth-bnb-4bit", **qwen)
    fake_hub.add_model("unsloth/Qwen3-8B-Base-bnb-4bit", **qwen)
    coder = _config("qwen2.5-7b")  # the packaged Coder architecture is only assumed equal to Qwen2.5-7B
    fake_hub.add_model("unsloth/Qwen2.5-Coder-7B-Instruct", config=coder, card={"license": "apache-2.0"}, parameters=7_615_616_512)
    fake_hub.add_model("unsloth/Qwen3.5-9B", raw_config=b'{"model_type": "qwen3_5", "num_hidden_layers": ', card={"license": "apache-2.0"})
    fake_hub.add_model("unsloth/gemma-3-4b-it", config={"model_type": "gemma3"}, card={"license": "gemma"})
    fake_hub.add_model("unsloth/Phi-4-mini-instruct", config=_config("phi-4-mini"), card={"license": "other", "license_name": "ms-special"})
    new = dict(created_at="2026-10-01T00:00:00.000Z", last_modified="2026-10-01T00:00:00.000Z")
    fake_hub.add_model("unsloth/Qwen3.8-9B", config=NEW_CONFIG, parameters=8_950_000_000,
                       card={"license": "apache-2.0", "base_model": "Qwen/Qwen3.8-9B"}, **new)
    fake_hub.add_model("unsloth/Qwen3.8-9B-unsloth-bnb-4bit", card={"license": "apache-2.0"}, **new)
    fake_hub.add_model("unsloth/Qwen3.8-9B-GGUF", pipeline_tag=None, **new)
    fake_hub.add_model("unsloth/Mystery-7B", config=NEW_CONFIG, parameters=7_000_000_000, **new)  # no licence on the card
    fake_hub.add_model("unsloth/vintage-7b", config=NEW_CONFIG, created_at="2023-08-01T00:00:00.000Z")  # old, not in the catalog
    return fake_hub


def test_refresh_updates_adds_and_keeps_out(hub: FakeHub) -> None:
    digest = _packaged_digest()
    messages: list[str] = []
    report = refresh(progress=messages.append)

    assert report.path == str(cache_path()) and cache_path().is_file()
    assert _packaged_digest() == digest  # the packaged file is never written
    assert report.complete_listing is False  # 11 repos cannot be the whole org: nothing is dropped
    changes = {c.id: c.changes for c in report.updated}

    refreshed = load_catalog()  # the refreshed copy is what load_catalog() now returns
    assert refreshed.generated_by.startswith("finetune-advisor catalog refresh")
    # Unsloth's advice per family survives a refresh (it was lost once: recommendations stopped advising
    # against QLoRA for Qwen3.5 after `catalog refresh`).
    assert refreshed.families and refreshed.guidance("qwen3.5") is not None
    qwen = refreshed.get("qwen3-8b")
    assert qwen.unsloth.base_bnb_4bit == "unsloth/Qwen3-8B-Base-bnb-4bit"
    assert qwen.unsloth.base == "unsloth/Qwen3-8B-Base"  # not listed, listing incomplete: kept
    assert str(qwen.last_modified) == "2026-10-02"
    assert qwen.license_id == "apache-2.0" and not qwen.is_uncertain("license_id")
    assert any("last modified 2026-10-02" in c for c in changes["qwen3-8b"])

    coder = load_catalog().get("qwen2.5-coder-7b")
    assert coder.architecture_status == "verified" and not coder.is_uncertain("architecture")
    assert coder.architecture.num_hidden_layers == 28
    assert coder.fact_sources["architecture"] == [f"{hub.url}/unsloth/Qwen2.5-Coder-7B-Instruct/blob/main/config.json"]

    kept = {k.ref: k.reason for k in report.kept_out}
    assert "not valid JSON" in kept["unsloth/Qwen3.5-9B"]
    assert load_catalog().get("qwen3.5-9b").architecture == _packaged().get("qwen3.5-9b").architecture  # the bad config changed nothing
    assert "missing" in kept["unsloth/gemma-3-4b-it"]
    assert load_catalog().get("gemma-3-4b").architecture == _packaged().get("gemma-3-4b").architecture
    assert "ms-special" in kept["unsloth/Phi-4-mini-instruct"] and load_catalog().get("phi-4-mini").license_id == "mit"
    assert "licence" in kept["unsloth/Mystery-7B"]
    research = load_catalog().get("qwen2.5-3b")  # a re-upload's card never overrides a curated licence
    assert research.license_id == "qwen-research" and any("names licence apache-2.0" in c for c in research.license_caveats)
    assert any("curated qwen-research is kept" in c for c in changes["qwen2.5-3b"])

    assert report.added == ["qwen3.8-9b"]
    new = resolve(load_catalog(), "unsloth/Qwen3.8-9B-unsloth-bnb-4bit")
    assert (new.entry.id, new.variant, new.quant) == ("qwen3.8-9b", "instruct", "unsloth-bnb-4bit")
    assert new.entry.instruct_id == "Qwen/Qwen3.8-9B" and new.entry.params_total_b == 8.95
    assert new.entry.license_id == "apache-2.0" and new.entry.architecture_status == "verified"
    assert new.entry.is_uncertain("release_date") and new.entry.sources
    assert new.entry.params_note.startswith("The safetensors index counts 8.95B parameters, the architecture in config.json 8.19B")
    assert check(load_catalog(), set(load_licenses().ids())) == []  # what the loader checks before using the copy
    assert "vintage-7b" not in {m.id for m in load_catalog().models}
    assert not any("GGUF" in k for k in kept)

    assert messages[0].startswith("Listing the unsloth models") and messages[-1].startswith("Wrote ")
    assert len(load_catalog().models) == len(load_packaged().models) + 1


def test_a_reuploads_card_never_overrides_a_curated_licence(hub: FakeHub) -> None:
    """Issue 13 (4), see #10: the card of unsloth/Qwen2.5-3B-Instruct says apache-2.0, but the model is under the
    Qwen research licence. A refresh used to make it apache-2.0/allowed; the curated licence wins, the
    disagreement is a caveat on the entry and in the report."""
    report = refresh(progress=lambda _: None)
    caveat = "The card of unsloth/Qwen2.5-3B-Instruct names licence apache-2.0; the curated qwen-research is kept."
    for ref in ("qwen2.5-3b", "unsloth/Qwen2.5-3B-Instruct"):
        check = check_license(model=ref)
        assert (check.license_id, check.verdict) == ("qwen-research", "not_allowed"), ref
        assert caveat in check.notes, ref  # the disagreement reaches the answer as a caveat
    entry, packaged = load_catalog().get("qwen2.5-3b"), _packaged().get("qwen2.5-3b")
    assert entry.license_id == "qwen-research" and entry.fact_sources["license_id"] == packaged.fact_sources["license_id"]
    assert caveat in entry.license_caveats
    assert caveat in next(u.changes for u in report.updated if u.id == "qwen2.5-3b")


def test_an_update_that_fails_catalog_check_keeps_the_packaged_entry(fake_hub: FakeHub) -> None:
    config = {**_config("qwen3-8b"), "num_hidden_layers": 72}  # twice the layers: no longer 8.19B parameters
    fake_hub.add_model("unsloth/Qwen3-8B", config=config, card={"license": "apache-2.0"}, last_modified="2026-10-02T00:00:00.000Z")
    report = refresh(progress=lambda _: None)
    kept = {k.ref: k.reason for k in report.kept_out}
    assert kept["qwen3-8b"].startswith("the refreshed entry fails catalog check (params_total_b: ")
    assert kept["qwen3-8b"].endswith("; kept the packaged one")
    assert load_catalog().get("qwen3-8b") == _packaged().get("qwen3-8b") and load_catalog() is not _packaged()


def test_refresh_lists_the_org_with_the_expanded_fields(hub: FakeHub) -> None:
    refresh(progress=lambda _: None)
    listing = next(r for r in hub.requests if r.startswith("/api/models?"))
    assert "author=unsloth" in listing and "expand=cardData" in listing and "expand=safetensors" in listing


def test_a_complete_listing_drops_ids_that_are_gone(fake_hub: FakeHub) -> None:
    for entry in load_packaged().models:
        for repo, _, _ in entry.unsloth.slots():
            if repo != "unsloth/Qwen3-8B-bnb-4bit":
                fake_hub.add_model(repo, config=_config(entry.id) if entry.architecture else None)
    fake_hub.page_size = 100  # several pages, followed through the Link header
    report = refresh(progress=lambda _: None)
    assert report.complete_listing is True
    assert load_catalog().get("qwen3-8b").unsloth.instruct_bnb_4bit is None
    assert any("no longer on the Hub" in c for u in report.updated if u.id == "qwen3-8b" for c in u.changes)
    assert sum("/api/models?" in r for r in fake_hub.requests) > 3


def test_limit_stops_the_listing_and_keeps_unseen_ids(hub: FakeHub) -> None:
    report = refresh(limit=2, progress=lambda _: None)
    assert report.listed_repos == 2 and report.complete_listing is False
    assert load_catalog().get("qwen3-8b").unsloth.instruct_bnb_4bit == "unsloth/Qwen3-8B-bnb-4bit"


def test_config_timeouts_are_reported_and_stop_further_requests(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_HUB_TIMEOUT", "0.3")
    slow = ["unsloth/whisper-large-v3", "unsloth/whisper-large-v3-turbo", "unsloth/whisper-small", "unsloth/csm-1b", "unsloth/Qwen3.5-2B"]
    for repo in slow:
        fake_hub.add_model(repo, config={"model_type": "x"}, delay=5)
    started = time.monotonic()
    report = refresh(progress=lambda _: None)
    assert time.monotonic() - started < 4  # 3 timeouts, then no more asking
    kept = {k.ref: k.reason for k in report.kept_out}
    assert sum("did not answer" in reason for reason in kept.values()) == catalog_refresh.MAX_HUB_FAILURES
    assert sum("stopped answering" in reason for reason in kept.values()) == len(slow) - catalog_refresh.MAX_HUB_FAILURES
    config_requests = [p for p in fake_hub.paths if p.endswith("config.json")]
    assert len(config_requests) == catalog_refresh.MAX_HUB_FAILURES
    assert cache_path().is_file()  # what could be verified is still written


@pytest.mark.parametrize("status", [500, 404])
def test_a_listing_error_writes_nothing(fake_hub: FakeHub, status: int) -> None:
    fake_hub.fail_list_with = status
    with pytest.raises(HubError, match="model list|did not answer|no model list"):
        refresh(progress=lambda _: None)
    assert not cache_path().exists()


def test_a_listing_timeout_writes_nothing(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_HUB_TIMEOUT", "0.3")
    fake_hub.list_delay = 5
    started = time.monotonic()
    with pytest.raises(HubError, match="did not answer"):
        refresh(progress=lambda _: None)
    assert time.monotonic() - started < 3
    assert not cache_path().exists()


def test_offline_refuses_without_touching_the_network(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_OFFLINE", "1")
    with pytest.raises(HubError, match="Offline"):
        refresh(progress=lambda _: None)
    assert fake_hub.requests == [] and not cache_path().exists()


def test_limit_must_be_positive() -> None:
    with pytest.raises(InvalidInputError, match="'--limit'"):
        refresh(limit=0)


def test_the_fake_hub_answers_like_the_hub_for_hub_py(fake_hub: FakeHub) -> None:
    """The fixture other Hub tests rely on: cards, gating and missing repos reach hub.py as on the real Hub."""
    from finetune_advisor.adapters import hub as hub_api

    fake_hub.add_model("meta-llama/Llama-3.1-8B-Instruct", config={"model_type": "llama"}, gated="manual",
                       card={"license": "llama3.1", "base_model": "meta-llama/Llama-3.1-8B"}, pipeline_tag="text-generation")
    info = hub_api.model_info("meta-llama/Llama-3.1-8B-Instruct")
    assert (info.license, info.base_models, info.gated) == ("llama3.1", ("meta-llama/Llama-3.1-8B",), "manual")
    with pytest.raises(HubError, match="gated"):
        hub_api.fetch_config("meta-llama/Llama-3.1-8B-Instruct")
    with pytest.raises(HubNotFoundError):
        hub_api.model_info("nobody/nothing")
    with pytest.raises(HubNotFoundError):
        hub_api.fetch_config("nobody/nothing")
