"""The docs answer cache and cache writes: keys, TTL, atomic writes, planted files, and never breaking the tool."""

from __future__ import annotations

import logging
import stat
import tempfile
from pathlib import Path

import pytest
from planted import plant_fifo, within

from finetune_advisor.adapters.cache import DocsCache, atomic_write, cache_key
from finetune_advisor.unsloth_docs.reply import DocsSource, ParsedAnswer

PARSED = ParsedAnswer(
    answer="Use rank 16.",
    sources=[DocsSource(title="LoRA guide", url="https://unsloth.ai/docs/lora.md")],
    follow_up_questions=["What alpha?"],
)
URL = "https://unsloth.ai/docs/get-started/x.md?ask=q"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_round_trip(tmp_path: Path) -> None:
    cache = DocsCache(tmp_path, ttl=60)
    key = cache_key("https://unsloth.ai/docs", "get-started/x", "What rank?")
    assert cache.get(key) is None
    cache.put(key, URL, PARSED)
    entry = cache.get(key)
    assert entry is not None and entry.parsed == PARSED and entry.asked_url == URL
    assert [p.name for p in (tmp_path / "docs-answers").iterdir()] == [f"{key}.json"]  # no temp file left


def test_key_ignores_spacing_and_case_but_not_page_language_or_site() -> None:
    key = cache_key("https://unsloth.ai/docs", "get-started/x", "What rank?")
    assert cache_key("https://unsloth.ai/docs/", "get-started/x", "  what   RANK? ") == key
    assert cache_key("https://unsloth.ai/docs", "zh/kai-shi-shi-yong/x", "What rank?") != key
    assert cache_key("https://unsloth.ai/docs", "get-started/y", "What rank?") != key
    assert cache_key("http://127.0.0.1:8000/docs", "get-started/x", "What rank?") != key
    assert cache_key("https://unsloth.ai/docs", "get-started/x", "What alpha?") != key


def test_entries_expire_after_the_ttl(tmp_path: Path) -> None:
    clock = Clock()
    cache = DocsCache(tmp_path, ttl=3600, clock=clock)
    cache.put("k", URL, PARSED)
    clock.now += 3599
    assert cache.get("k") is not None
    clock.now += 2
    assert cache.get("k") is None


def test_entries_from_the_future_are_not_trusted(tmp_path: Path) -> None:
    clock = Clock()
    DocsCache(tmp_path, ttl=3600, clock=Clock(clock.now + 86400)).put("k", URL, PARSED)
    assert DocsCache(tmp_path, ttl=3600, clock=clock).get("k") is None


def test_ttl_zero_turns_the_cache_off(tmp_path: Path) -> None:
    cache = DocsCache(tmp_path, ttl=0)
    cache.put("k", URL, PARSED)
    assert cache.get("k") is None
    assert not (tmp_path / "docs-answers").exists()


def test_a_newer_answer_replaces_the_old_one(tmp_path: Path) -> None:
    cache = DocsCache(tmp_path, ttl=60)
    cache.put("k", URL, PARSED)
    cache.put("k", URL, ParsedAnswer(answer="Use rank 32."))
    entry = cache.get("k")
    assert entry is not None and entry.parsed.answer == "Use rank 32."


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b'{"format": 1}', b'{"format": 99, "stored_at": 1, "asked_url": "u", "parsed": {"answer": "a"}}', b"\xff\xfe"],
)
def test_a_corrupted_file_is_a_miss_and_is_removed(tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    cache = DocsCache(tmp_path, ttl=60)
    path = tmp_path / "docs-answers" / "k.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert cache.get("k") is None
    assert not path.exists()
    assert "corrupted" in caplog.text
    cache.put("k", URL, PARSED)  # and the slot is usable again
    assert cache.get("k") is not None


def test_an_oversized_file_is_not_loaded(tmp_path: Path) -> None:
    cache = DocsCache(tmp_path, ttl=60)
    path = tmp_path / "docs-answers" / "k.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b" " * (2 * 1024 * 1024))
    assert cache.get("k") is None


def test_an_unreadable_entry_is_a_miss(tmp_path: Path) -> None:
    cache = DocsCache(tmp_path, ttl=60)
    (tmp_path / "docs-answers" / "k.json").mkdir(parents=True)  # reading a directory fails, even as root
    assert cache.get("k") is None
    cache.put("k", URL, PARSED)  # cannot replace a directory: logged, not raised
    assert cache.get("k") is None


def test_an_unwritable_cache_location_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    cache = DocsCache(blocker, ttl=60)
    with caplog.at_level(logging.WARNING):
        cache.put("k", URL, PARSED)
        assert cache.get("k") is None
    assert "cannot write" in caplog.text


# --- what someone with write access to the cache directory can plant --------------------------------


def test_a_fifo_at_a_key_is_a_miss_at_once_and_is_removed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 13 (5): a FIFO planted at a docs cache key hung the whole server (a plain open() waits for a writer)."""
    cache = DocsCache(tmp_path, ttl=60)
    fifo = plant_fifo(tmp_path / "docs-answers" / "k.json")
    with caplog.at_level(logging.WARNING):
        assert within(5, cache.get, "k", fifo=fifo) is None
    assert "not a regular file" in caplog.text and not fifo.exists()
    cache.put("k", URL, PARSED)
    assert cache.get("k") is not None


def test_a_symlink_at_a_key_is_not_followed_and_is_replaced_not_written_through(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    DocsCache(tmp_path / "other", ttl=60).put("k", URL, PARSED)  # a valid entry, but not in our folder
    (tmp_path / "other" / "docs-answers" / "k.json").rename(elsewhere)
    before = elsewhere.read_bytes()
    cache = DocsCache(tmp_path, ttl=60)
    link = tmp_path / "docs-answers" / "k.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(elsewhere)
    assert cache.get("k") is None  # a link is never read, even to a valid entry
    cache.put("k", URL, ParsedAnswer(answer="Use rank 32."))
    assert not link.is_symlink() and cache.get("k").parsed.answer == "Use rank 32."
    assert elsewhere.read_bytes() == before


def test_a_special_file_behind_a_key_is_never_read(tmp_path: Path) -> None:
    link = tmp_path / "docs-answers" / "k.json"
    link.parent.mkdir(parents=True)
    link.symlink_to("/dev/zero")  # endless: read whole, it would fill the memory
    assert within(5, DocsCache(tmp_path, ttl=60).get, "k") is None


def test_atomic_write_replaces_a_planted_symlink_and_never_writes_through_one(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "cache" / "catalog.json"
    target.parent.mkdir()
    target.symlink_to(victim)
    (tmp_path / "cache" / "catalog.json.tmp").symlink_to(victim)  # the old fixed temporary name
    atomic_write(target, b'{"new": true}')
    assert victim.read_text() == "precious"
    assert not target.is_symlink() and target.read_bytes() == b'{"new": true}'
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # mkstemp's mode: not readable by others
    assert sorted(p.name for p in target.parent.iterdir()) == ["catalog.json", "catalog.json.tmp"]


def test_atomic_write_skips_a_temporary_name_that_is_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The temporary file is created with O_EXCL and O_NOFOLLOW: a symlink planted at the very name drawn is
    neither followed nor replaced; the next name is drawn instead."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / ".tmp-planted.json").symlink_to(victim)
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: iter(["planted", "fresh"]))
    atomic_write(folder / "catalog.json", b"{}")
    assert victim.read_text() == "precious" and (folder / ".tmp-planted.json").is_symlink()
    assert (folder / "catalog.json").read_bytes() == b"{}"
