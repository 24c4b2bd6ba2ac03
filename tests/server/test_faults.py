"""Faults around the server: a cache that cannot be written or is corrupted, NVML failing mid-call,
a Hub that hangs. Each gives a clear result or error, and the server keeps serving."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio
import pytest
from fake_docs import FakeDocs
from fake_hub import FakeHub
from fake_nvml import H100, RTX4090, FakeNvml, NVMLError
from mcp import Client
from planted import plant_fifo, wake

from finetune_advisor import settings
from finetune_advisor.adapters import cache as catalog
from finetune_advisor.adapters import hub
from finetune_advisor.adapters import nvml as gpu
from finetune_advisor.adapters.cache import cache_key
from finetune_advisor.server.app import build_server
from finetune_advisor.unsloth_docs import pages


@pytest.fixture
async def client():
    async with Client(build_server()) as c:
        yield c


async def _still_serving(client: Client) -> None:
    result = await client.call_tool("check_license", {"license_id": "apache-2.0"})
    assert not result.is_error and result.structured_content["verdict"] == "allowed"


@pytest.mark.anyio
async def test_unwritable_cache_directory(client: Client, fake_docs: FakeDocs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")  # every write under it fails
    monkeypatch.setenv("FINETUNE_ADVISOR_CACHE_DIR", str(blocker))
    for _ in range(2):
        result = await client.call_tool("query_docs", {"question": "Base or instruct for 500 rows?"})
        assert not result.is_error and result.structured_content["origin"] == "live"  # answered, just not cached
    assert len(fake_docs.requests) == 2
    await _still_serving(client)


@pytest.mark.anyio
async def test_corrupted_cache_files(client: Client, fake_docs: FakeDocs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FINETUNE_ADVISOR_CACHE_DIR", str(cache))
    first = await client.call_tool("query_docs", {"question": "Which chat template for Qwen 2.5?"})
    assert first.structured_content["origin"] == "live"
    for path in cache.rglob("*"):
        if path.is_file():
            path.write_bytes(b"\x00garbage{")
    (cache / "catalog.json").write_text('{"models": "not a list"}')
    catalog.load_catalog.cache_clear()
    again = await client.call_tool("query_docs", {"question": "Which chat template for Qwen 2.5?"})
    assert not again.is_error and again.structured_content["origin"] == "live"
    listed = await client.read_resource("catalog://models")
    assert "qwen3-8b" in listed.contents[0].text  # the packaged catalog, the broken copy ignored
    await _still_serving(client)
    catalog.load_catalog.cache_clear()


@pytest.mark.anyio
async def test_nvml_failing_mid_call(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml([H100, RTX4090], fail_on={("memory", 1): NVMLError("GPU has fallen off the bus")})
    monkeypatch.setattr(gpu, "_load_nvml", lambda: nvml)
    result = await client.call_tool("detect_gpus", {})
    data = result.structured_content
    assert not result.is_error and [g["name"] for g in data["gpus"]] == [H100.name]
    assert "fallen off the bus" in data["note"]
    estimate = await client.call_tool("estimate_vram", {"model": "qwen3-8b"})
    assert not estimate.is_error and estimate.structured_content["gpu_memory_gib"] == pytest.approx(79.65, abs=0.01)
    await _still_serving(client)


@pytest.mark.anyio
async def test_hub_that_hangs(client: Client, fake_hub: FakeHub) -> None:
    fake_hub.add_model("someone/slow-model", config={"model_type": "llama"}, card={"license": "mit"}, delay=30)
    start = time.monotonic()
    estimate = await client.call_tool("estimate_vram", {"model": "someone/slow-model"})
    licence = await client.call_tool("check_license", {"model": "someone/slow-model"})
    assert time.monotonic() - start < 15  # FINETUNE_ADVISOR_HUB_TIMEOUT=2 in the fixture
    assert estimate.is_error and "someone/slow-model" in estimate.content[0].text
    assert not licence.is_error and licence.structured_content["verdict"] == "unknown"
    await _still_serving(client)


@pytest.mark.anyio
async def test_a_dripping_hub_never_starves_tools_that_need_no_network(
    client: Client, fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13 (3): 40 calls to a Hub dripping its replies used every worker thread, and an offline
    check_license waited 97 s. Hub calls now hold one of a few slots, each for at most the Hub deadline."""
    monkeypatch.setenv("FINETUNE_ADVISOR_HUB_TIMEOUT", "3")
    for i in range(40):
        fake_hub.add_model(f"someone/drip-{i}", card={"license": "mit"}, drip=0.2)
    answers: dict[int, object] = {}

    async def ask_the_hub(i: int) -> None:
        answers[i] = await client.call_tool("check_license", {"model": f"someone/drip-{i}"})

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(ask_the_hub, i)
            while len(fake_hub.requests) < hub.MAX_CONCURRENT:  # bounded by the fail_after above
                await anyio.sleep(0.05)
            started = anyio.current_time()
            offline = await client.call_tool("check_license", {"model": "qwen3-8b"})
            waited = anyio.current_time() - started
    assert waited < 1 and not offline.is_error and offline.structured_content["license_id"] == "apache-2.0"
    reasons = [" ".join(a.structured_content["reasons"]) for a in answers.values()]
    assert all(a.structured_content["verdict"] == "unknown" for a in answers.values())
    assert sum("already under way" in r for r in reasons) == 40 - hub.MAX_CONCURRENT
    assert sum("within 3 s" in r for r in reasons) == hub.MAX_CONCURRENT
    assert len(fake_hub.requests) == hub.MAX_CONCURRENT


@pytest.mark.anyio
async def test_a_fifo_planted_at_a_docs_cache_key_never_hangs_the_server(client: Client, fake_docs: FakeDocs) -> None:
    """Issue 13 (5): the read was a blocking open() on the event loop; a FIFO without a writer hung every session."""
    question = "Which chat template for Qwen 2.5?"
    key = cache_key(settings.docs_url(), pages.localized_path(pages.DEFAULT_PAGE, "en"), question)
    fifo = plant_fifo(settings.cache_dir() / "docs-answers" / f"{key}.json")
    waker = threading.Timer(5, wake, [fifo])  # so that the bug, if it is back, costs 5 s and not the suite
    waker.start()
    try:
        started = time.monotonic()
        result = await client.call_tool("query_docs", {"question": question})
        took = time.monotonic() - started
    finally:
        waker.cancel()
    assert took < 3 and not result.is_error and result.structured_content["origin"] == "live"
    again = await client.call_tool("query_docs", {"question": question})
    assert again.structured_content["origin"] == "cache"  # the FIFO was removed and the answer cached instead
    await _still_serving(client)
