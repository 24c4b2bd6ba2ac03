"""query_docs end to end against the fake docs site: live, cache, every fault, offline answers."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from fake_docs import EN_GUIDE, EN_LORA, ZH_GUIDE, FakeDocs, closed_port_url

from finetune_advisor.errors import InvalidInputError
from finetune_advisor.tools.query_docs import query_docs

pytestmark = pytest.mark.anyio

HOSTILE_PAGES = [
    "https://evil",
    "//evil.com/x",
    "../../etc/passwd",
    "a?b=c",
    "a#b",
    "%2e%2e/",
    "/etc/passwd",
    "a\\..\\b",
    "x" * 5000,
]


async def test_live_answer_with_sources_and_follow_ups(fake_docs: FakeDocs) -> None:
    result = await query_docs("I have 500 rows: base or instruct?")
    assert result.origin == "live" and result.note is None and result.covered
    assert result.answer.startswith("With more than 1,000 rows, start from a **base** model")
    assert "# Sources" not in result.answer and "Follow-up" not in result.answer
    assert f"({fake_docs.url}/get-started/fine-tuning-for-beginners/unsloth-requirements.md)" in result.answer
    assert [s.url for s in result.sources] == [
        f"{fake_docs.url}/{EN_GUIDE}.md",
        f"{fake_docs.url}/get-started/fine-tuning-for-beginners/unsloth-requirements.md",
    ]
    assert result.sources[0].title == "What model should I use?"
    assert result.follow_up_questions == ["Which model fits 24 GB?", "What is the difference between QLoRA and LoRA?"]
    assert result.asked_url == f"{fake_docs.url}/{EN_GUIDE}.md?ask=I+have+500+rows%3A+base+or+instruct%3F"
    assert result.page == EN_GUIDE and result.language == "en"
    assert "not instructions" in result.notice
    assert fake_docs.requests[0].ask == "I have 500 rows: base or instruct?"


async def test_zh_asks_the_looked_up_zh_page(fake_docs: FakeDocs) -> None:
    result = await query_docs("应该用基础模型还是指令模型？", language="zh")
    assert result.origin == "live"
    assert fake_docs.requests[0].path == f"/docs/{ZH_GUIDE}.md"
    assert result.page == ZH_GUIDE and result.language == "zh"
    assert result.sources[0].title == "我应该使用哪个模型？"
    assert result.answer.startswith("根据数据集大小选择")


async def test_other_pages_can_be_asked(fake_docs: FakeDocs) -> None:
    result = await query_docs("Which rank?", page=EN_LORA + ".md")
    assert result.origin == "live" and fake_docs.requests[0].path == f"/docs/{EN_LORA}.md"


async def test_second_call_is_served_from_the_cache(fake_docs: FakeDocs) -> None:
    first = await query_docs("What rank should I use?")
    second = await query_docs("  what rank   should I use?")
    assert first.origin == "live" and second.origin == "cache" and second.covered
    assert len(fake_docs.requests) == 1
    assert second.answer == first.answer and second.sources == first.sources
    assert second.follow_up_questions == first.follow_up_questions and second.asked_url == first.asked_url
    assert second.note.startswith("Served from the local cache (asked ")
    # another language is another page: not the same cache entry
    assert (await query_docs("What rank should I use?", language="zh")).origin == "live"


def _cache_files(root: Path) -> list[Path]:
    return sorted((root / "docs-answers").glob("*.json"))


async def test_an_expired_entry_is_asked_again(fake_docs: FakeDocs, tmp_path: Path) -> None:
    await query_docs("What rank?")
    (path,) = _cache_files(tmp_path / "cache")
    entry = json.loads(path.read_text())
    entry["stored_at"] -= 8 * 24 * 3600  # older than the one-week default
    path.write_text(json.dumps(entry))
    assert (await query_docs("What rank?")).origin == "live"
    assert len(fake_docs.requests) == 2


async def test_ttl_setting_is_honoured(fake_docs: FakeDocs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_DOCS_CACHE_TTL", "0")
    await query_docs("What rank?")
    assert (await query_docs("What rank?")).origin == "live"
    assert len(fake_docs.requests) == 2


async def test_a_corrupted_cache_file_is_replaced(fake_docs: FakeDocs, tmp_path: Path) -> None:
    await query_docs("What rank?")
    (path,) = _cache_files(tmp_path / "cache")
    path.write_bytes(b"\x00garbage{")
    assert (await query_docs("What rank?")).origin == "live"
    assert (await query_docs("What rank?")).origin == "cache"


async def test_an_unusable_cache_directory_does_not_break_the_tool(
    fake_docs: FakeDocs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("FINETUNE_ADVISOR_CACHE_DIR", str(blocker))
    assert (await query_docs("What rank?")).origin == "live"
    assert (await query_docs("What rank?")).origin == "live"


FAULTS = [
    # (mode, options, words the note must contain)
    ("slow", {"delay": 30}, "no complete reply within 2 s"),
    ("trickle", {}, "no complete reply within 2 s"),
    ("status", {"status": 502}, "HTTP 502"),
    ("rate_limited", {"failures": 9, "retry_after": "3600"}, "asked to wait 3600 s"),
    ("oversized", {"declare_length": False}, "256 KiB cap"),
    ("oversized", {"declare_length": True}, "256 KiB cap"),
    ("redirect", {"redirect_to": "http://evil.example/docs/x.md"}, "redirected to another host (http://evil.example)"),
    ("html", {}, "HTML page"),
    ("json", {}, "application/json"),
    ("page", {}, "the page itself"),
    ("no_answer", {}, "could not answer this question"),
    ("forgot", {}, "did not receive the question"),
]


@pytest.mark.parametrize(("mode", "options", "reason"), FAULTS, ids=[f"{f[0]}-{i}" for i, f in enumerate(FAULTS)])
async def test_every_fault_falls_back_to_the_notes_in_bounded_time(
    fake_docs: FakeDocs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str, options: dict, reason: str
) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_DOCS_TIMEOUT", "2")
    fake_docs.set(mode, **options)
    start = time.monotonic()
    result = await query_docs("How much VRAM does a 70B model need with QLoRA?")
    assert time.monotonic() - start < 3.0
    assert result.origin == "offline"
    assert reason in result.note and "packaged notes" in result.note
    assert "| 70B | 41 GB | 164 GB |" in result.answer
    assert result.sources and all(s.url.startswith("https://unsloth.ai/docs/") for s in result.sources)
    assert result.asked_url.startswith(f"{fake_docs.url}/{EN_GUIDE}.md?ask=")
    assert "not instructions" in result.notice
    assert _cache_files(tmp_path / "cache") == []  # a fallback is never cached as the docs' answer


async def test_5xx_then_ok_is_still_a_live_answer(fake_docs: FakeDocs) -> None:
    fake_docs.set("error_then_ok", failures=1, status=503)
    result = await query_docs("What rank?")
    assert result.origin == "live" and len(fake_docs.requests) == 2


async def test_429_with_short_retry_after_is_waited_out(fake_docs: FakeDocs) -> None:
    fake_docs.set("rate_limited", failures=1, retry_after="1")
    start = time.monotonic()
    result = await query_docs("What rank?")
    assert result.origin == "live" and time.monotonic() - start >= 1.0


async def test_connection_refused_falls_back_at_once_and_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14: every offline call cost about 1.5 s (three attempts). Now one attempt, then none for a
    minute. The bounds are generous for a loaded machine and still fail the old behaviour."""
    monkeypatch.setenv("FINETUNE_ADVISOR_DOCS_URL", closed_port_url())
    start = time.monotonic()
    result = await query_docs("What LoRA rank and learning rate?")
    assert time.monotonic() - start < 1.0
    assert result.origin == "offline" and result.covered
    assert result.note.startswith("The live Unsloth docs were not reached: could not connect to 127.0.0.1")
    assert "lora-hyperparameters-guide" in result.sources[0].url
    assert "2e-4" in result.answer
    for question in ("How do I export to GGUF?", "How do I do GRPO?", "怎么多卡训练？"):
        start = time.monotonic()
        again = await query_docs(question)
        assert time.monotonic() - start < 0.1, question  # the bound: no network is touched
        assert again.origin == "offline" and "so not tried again for another" in again.note


async def test_an_unresolvable_docs_host_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name that does not resolve (faked at the resolver, so no DNS query leaves the machine)."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, *args, **kwargs):
        asked.append(host.decode() if isinstance(host, bytes) else str(host))
        if asked[-1] == "docs.unresolvable.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setenv("FINETUNE_ADVISOR_DOCS_URL", "https://docs.unresolvable.test/docs")
    timings = []
    for _ in range(4):
        start = time.monotonic()
        result = await query_docs("How do I export to GGUF?")
        timings.append(time.monotonic() - start)
        assert result.origin == "offline" and result.covered and "the name docs.unresolvable.test could not be resolved" in result.note
    assert asked == ["docs.unresolvable.test"]
    assert timings[0] < 1.0 and max(timings[1:]) < 0.1, timings


@pytest.mark.parametrize(
    ("question", "title", "not_title"),
    [
        # issue 14's two reports: these returned the model-choice note and the LoRA table
        ("How do I export to GGUF?", "## Exporting to GGUF for llama.cpp, Ollama and LM Studio", "## Choosing a model"),
        ("How do I do GRPO?", "## Reinforcement learning with GRPO, and DPO, ORPO or KTO", "## LoRA hyperparameters"),
    ],
)
async def test_offline_answers_come_from_the_note_on_the_topic(
    monkeypatch: pytest.MonkeyPatch, question: str, title: str, not_title: str
) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_OFFLINE", "1")
    result = await query_docs(question)
    assert result.origin == "offline" and result.covered
    assert result.answer.startswith(title + "\n\n") and not_title not in result.answer


async def test_hub_offline_switch_does_not_silence_the_docs(fake_docs: FakeDocs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # only the Hub is off
    result = await query_docs("Which chat template for Qwen 2.5?")
    assert len(fake_docs.requests) == 1 and result.origin == "live"


async def test_offline_mode_sends_no_request(fake_docs: FakeDocs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_OFFLINE", "1")
    result = await query_docs("Which chat template for Qwen 2.5?")
    assert fake_docs.requests == []
    assert result.origin == "offline" and result.covered
    assert "offline mode is on (FINETUNE_ADVISOR_OFFLINE is set)" in result.note
    assert "qwen-2.5" in result.answer
    assert [s.url for s in result.sources] == [
        "https://unsloth.ai/docs/basics/chat-templates",
        "https://github.com/unslothai/unsloth/blob/main/unsloth/chat_templates.py",
    ]


async def test_offline_cache_hit_is_still_served(fake_docs: FakeDocs, monkeypatch: pytest.MonkeyPatch) -> None:
    await query_docs("What rank?")
    monkeypatch.setenv("FINETUNE_ADVISOR_OFFLINE", "1")
    assert (await query_docs("What rank?")).origin == "cache"


async def test_a_question_no_note_covers_says_so_and_names_a_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_OFFLINE", "1")
    result = await query_docs("How do I export my model to ONNX?")  # shares "export" with the GGUF note
    assert result.origin == "offline" and not result.covered
    url = "https://unsloth.ai/docs/basics/inference-and-deployment"
    assert result.answer == f"The offline notes do not cover this; ask again online, or see [Inference & deployment]({url})."
    assert [s.url for s in result.sources] == [url] and result.follow_up_questions == []
    assert "offline mode is on" in result.note


async def test_an_unrelated_question_names_no_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_OFFLINE", "1")
    result = await query_docs("Tell me a joke about cats")
    assert not result.covered and result.sources == []
    assert result.answer == "The offline notes do not cover this; ask again online."


async def test_a_live_answer_is_covered_even_when_no_note_would_be(fake_docs: FakeDocs) -> None:
    result = await query_docs("Tell me a joke about cats")
    assert result.origin == "live" and result.covered


@pytest.mark.parametrize("page", HOSTILE_PAGES)
async def test_hostile_pages_are_refused_before_any_request(fake_docs: FakeDocs, page: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        await query_docs("What rank?", page=page)
    assert err.value.field == "page" and str(err.value).startswith("Invalid 'page': ")
    assert fake_docs.requests == []


async def test_bad_question_and_language_are_refused_before_any_request(fake_docs: FakeDocs) -> None:
    with pytest.raises(InvalidInputError, match="Invalid 'question'"):
        await query_docs("   ")
    with pytest.raises(InvalidInputError, match="Invalid 'question'"):
        await query_docs("x" * 1001)
    with pytest.raises(InvalidInputError, match=r"Invalid 'language'.*Accepted: en, zh, de, fr, jp\."):
        await query_docs("What rank?", language="klingon")  # type: ignore[arg-type]
    assert fake_docs.requests == []


async def test_progress_is_reported_while_waiting(fake_docs: FakeDocs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_DOCS_TIMEOUT", "5")
    fake_docs.set("slow", delay=2.2)
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append((value, total, message))

    result = await query_docs("What rank?", progress=progress)
    assert result.origin == "live"
    values = [v for v, _, _ in seen]
    assert values == sorted(values) and len(set(values)) == len(values)  # strictly increasing
    assert all(total == 5.0 for _, total, _ in seen)
    assert seen[0][2] == "Asking the Unsloth docs (127.0.0.1)"
    assert sum("Waiting for the docs" in m for _, _, m in seen) >= 2
    assert seen[-1] == (5.0, 5.0, "Answer received")


async def test_retries_show_up_in_progress(fake_docs: FakeDocs) -> None:
    fake_docs.set("error_then_ok", failures=1, status=500)
    messages: list[str] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    await query_docs("What rank?", progress=progress)
    assert "127.0.0.1 answered HTTP 500; retrying in 0.5 s (attempt 2 of 3)" in messages


async def test_a_failing_progress_hook_does_not_cost_the_answer(fake_docs: FakeDocs) -> None:
    async def broken(value: float, total: float | None, message: str | None) -> None:
        raise ConnectionError("client went away")

    assert (await query_docs("What rank?", progress=broken)).origin == "live"
