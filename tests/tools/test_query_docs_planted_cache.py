"""A docs answer read from the cache is held to the bounds and filters of a live one (attack pass A3, B2).

Anyone who can write to the cache directory can plant an answer file. One stamped `NaN` made every later
ask of its question fail with a traceback (it never expired); one with a 500,000-character answer, 8,000
`javascript:` sources and 2,000 follow-ups was served as it stood. A planted entry is now a bounded,
filtered answer or a miss, and the miss shows in `origin`: never a failure, over the tool, the CLI or MCP.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fake_docs import FakeDocs
from mcp import Client

from finetune_advisor import settings
from finetune_advisor.adapters.cache import MAX_FILE_BYTES, DocsCache, cache_key
from finetune_advisor.server.app import build_server
from finetune_advisor.server.cli import main
from finetune_advisor.tools.query_docs import query_docs
from finetune_advisor.unsloth_docs import pages
from finetune_advisor.unsloth_docs.reply import MAX_ANSWER_CHARS, MAX_FOLLOW_UPS, MAX_LABEL_CHARS, MAX_SOURCES

QUESTION = "What LoRA rank should I start with?"
SOURCE = {"title": "LoRA guide", "url": "https://unsloth.ai/docs/lora.md"}


def _entry(**changes: Any) -> dict[str, Any]:
    """A cache entry as the live path writes it (asked of the docs URL in force), with `changes`."""
    parsed = {"answer": "Start with rank 16.", "sources": [SOURCE], "follow_up_questions": ["What alpha?"],
              "truncated": False}
    parsed.update(changes.pop("parsed", {}))
    asked = pages.ask_url(pages.page_url(settings.docs_url(), _path()), QUESTION)
    return {"format": 1, "stored_at": 1_800_000_000.0, "asked_url": asked, "parsed": parsed, **changes}


def _path() -> str:
    return pages.localized_path(pages.DEFAULT_PAGE, "en")


def _plant(entry: dict[str, Any] | str) -> Path:
    """Write `entry` where `query_docs(QUESTION)` looks first (JSON text as given, NaN included)."""
    path = settings.cache_dir() / "docs-answers" / f"{cache_key(settings.docs_url(), _path(), QUESTION)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(entry if isinstance(entry, str) else json.dumps(entry))
    assert path.stat().st_size <= MAX_FILE_BYTES  # read and parsed, not refused for its size
    return path


@pytest.fixture(autouse=True)
def _now(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries stamped 1_800_000_000 are fresh: the cache's clock reads 60 s later."""
    monkeypatch.setattr("finetune_advisor.adapters.cache.time.time", lambda: 1_800_000_060.0)


def _oversized() -> dict[str, Any]:
    return _entry(asked_url="javascript:alert(1)", parsed={
        "answer": "A" * 500_000,
        "sources": [{"title": f"t{i}", "url": f"javascript:alert({i})"} for i in range(8000)],
        "follow_up_questions": [f"q{i}?" for i in range(2000)],
    })


STAMPS = ["NaN", "Infinity", "-Infinity", "-1", "1e400"]


@pytest.mark.anyio
@pytest.mark.parametrize("stamp", STAMPS)
async def test_a_stamp_that_is_not_a_time_is_a_corrupt_entry_discarded(
    stamp: str, fake_docs: FakeDocs, caplog: pytest.LogCaptureFixture
) -> None:
    path = _plant(json.dumps(_entry()).replace("1800000000.0", stamp))
    with caplog.at_level(logging.WARNING):
        first = await query_docs(QUESTION)
    assert first.origin == "live" and len(fake_docs.requests) == 1
    assert "corrupted (stored_at: " in caplog.text
    assert (await query_docs(QUESTION)).origin == "cache"  # the slot was freed and refilled
    assert json.loads(path.read_text())["stored_at"] == 1_800_000_060.0


@pytest.mark.parametrize("stamp", ["NaN", "-1"])
def test_the_cli_answers_past_a_planted_stamp_without_a_traceback(stamp: str, capsys: pytest.CaptureFixture[str]) -> None:
    _plant(json.dumps(_entry()).replace("1800000000.0", stamp))
    assert main(["ask", QUESTION]) == 0  # the docs are unreachable here: the packaged notes answer
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "[offline]" in out and "Start with rank 16." not in out


@pytest.mark.anyio
async def test_an_oversized_entry_with_javascript_links_is_never_served(fake_docs: FakeDocs) -> None:
    _plant(_oversized())
    result = await query_docs(QUESTION)
    assert result.origin == "live"
    assert len(result.answer) <= MAX_ANSWER_CHARS and "AAAA" not in result.answer
    assert all(s.url.startswith("http") for s in result.sources) and not result.asked_url.startswith("javascript")


def test_the_cli_answers_past_an_oversized_entry(capsys: pytest.CaptureFixture[str]) -> None:
    _plant(_oversized())
    assert main(["ask", QUESTION, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["origin"] == "offline" and "javascript" not in json.dumps(data)


@pytest.mark.anyio
async def test_mcp_query_docs_answers_past_every_planted_entry(fake_docs: FakeDocs) -> None:
    async with Client(build_server()) as client:
        for planted in [json.dumps(_entry()).replace("1800000000.0", "NaN"), _oversized()]:
            _plant(planted)
            result = await client.call_tool("query_docs", {"question": QUESTION})
            assert not result.is_error, result.content
            data = result.structured_content
            assert data["origin"] == "live" and len(json.dumps(data)) < 20_000
            assert "javascript" not in json.dumps(data)


# One bound or filter of a live answer broken at a time: the entry is a miss, and the docs are asked.
BROKEN = {
    "a javascript: source": {"parsed": {"sources": [{"title": "Official Unsloth docs", "url": "javascript:alert(1)"}]}},
    "a relative source": {"parsed": {"sources": [{"title": "Guide", "url": "/docs/guide.md"}]}},
    "too many sources": {"parsed": {"sources": [SOURCE] * (MAX_SOURCES + 1)}},
    "too many follow-ups": {"parsed": {"follow_up_questions": ["Why?"] * (MAX_FOLLOW_UPS + 1)}},
    "a long source title": {"parsed": {"sources": [{**SOURCE, "title": "t" * (MAX_LABEL_CHARS + 1)}]}},
    "a long follow-up": {"parsed": {"follow_up_questions": ["q" * (MAX_LABEL_CHARS + 1)]}},
    "a long answer": {"parsed": {"answer": "a" * (MAX_ANSWER_CHARS + 1)}},
    "a data: asked_url": {"asked_url": "data:text/html,hi"},
    "an asked_url without a host": {"asked_url": "https:///x.md?ask=q"},
    "an asked_url of another host": {"asked_url": "https://evil.example/docs/x.md?ask=q"},
}


@pytest.mark.anyio
@pytest.mark.parametrize("broken", sorted(BROKEN))
async def test_an_entry_outside_a_live_answers_bounds_is_a_miss(broken: str, fake_docs: FakeDocs) -> None:
    _plant(_entry(**json.loads(json.dumps(BROKEN[broken]))))
    result = await query_docs(QUESTION)
    assert result.origin == "live" and len(fake_docs.requests) == 1


@pytest.mark.anyio
async def test_an_entry_within_the_bounds_is_served_filtered_like_a_live_answer(fake_docs: FakeDocs) -> None:
    """Links in the answer text are reduced to their text unless http(s); invisible and control characters go."""
    answer = ("Start with [rank 16](javascript:alert(1)) or see <data:text/html,x> and [the guide](https://unsloth.ai/docs/lora.md)."
              "\x1b]0;pwned\x07\u202e")
    _plant(_entry(parsed={"answer": answer, "follow_up_questions": ["What\u200b alpha?"],
                          "sources": [{**SOURCE, "title": "LoRA\U000e0041 guide"}]}))
    result = await query_docs(QUESTION)
    assert result.origin == "cache" and not fake_docs.requests
    assert result.answer == "Start with rank 16 or see data:text/html,x and [the guide](https://unsloth.ai/docs/lora.md).]0;pwned"
    assert result.follow_up_questions == ["What alpha?"] and result.sources[0].title == "LoRA guide"


@pytest.mark.anyio
async def test_a_cached_answer_is_never_credited_to_a_url_with_a_password(fake_docs: FakeDocs) -> None:
    _plant(_entry(parsed={"sources": [{"title": "Guide", "url": "https://user:secret@unsloth.ai/docs/guide.md"}]}))
    result = await query_docs(QUESTION)
    assert result.origin == "cache" and [s.url for s in result.sources] == ["https://unsloth.ai/docs/guide.md"]


# The live path writes what the cache reads back: its answers are within the same bounds, so a long one is
# still served from the cache the next time.


@pytest.mark.anyio
@pytest.mark.parametrize("answer", [
    "word " * 10_000,  # cut, with the truncation note
    "See [a](/docs/a.md). " * (MAX_ANSWER_CHARS // 21),  # just under the bound until its links are made absolute
])
async def test_a_long_live_answer_is_bounded_and_served_back_from_the_cache(answer: str, fake_docs: FakeDocs) -> None:
    fake_docs.set("answer", answer_text=answer.strip())
    live = await query_docs(QUESTION)
    assert live.origin == "live" and len(live.answer) <= MAX_ANSWER_CHARS
    assert live.note == "The answer was truncated; ask a narrower question."
    assert live.answer.endswith("characters; ask a narrower question.]")
    cached = await query_docs(QUESTION)
    assert cached.origin == "cache" and cached.answer == live.answer and len(fake_docs.requests) == 1


def test_the_cache_itself_discards_a_nan_stamp(tmp_path: Path) -> None:
    cache = DocsCache(tmp_path, ttl=3600)
    path = tmp_path / "docs-answers" / "k.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**_entry(), "stored_at": "NaN"}).replace('"NaN"', "NaN"))
    assert cache.get("k") is None and not path.exists()
