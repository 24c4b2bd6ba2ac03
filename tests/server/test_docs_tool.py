"""query_docs through the MCP server in process: schema, errors, progress, and surviving every fault."""

from __future__ import annotations

import pytest
from fake_docs import EN_GUIDE, FakeDocs
from mcp import Client

from finetune_advisor.server.app import build_server

pytestmark = pytest.mark.anyio

HOSTILE_PAGES = ["https://evil", "//evil.com/x", "../../etc/passwd", "a?b=c", "a#b", "%2e%2e/", "p" * 3000]
FAULTS = [
    ("slow", {"delay": 30}),
    ("trickle", {}),
    ("status", {"status": 500}),
    ("rate_limited", {"failures": 99, "retry_after": "600"}),
    ("oversized", {"declare_length": False}),
    ("redirect", {"failures": 99, "redirect_to": "http://evil.example/x"}),
    ("html", {}),
    ("no_answer", {}),
    ("forgot", {}),
]


@pytest.fixture
async def client():
    async with Client(build_server()) as c:
        yield c


async def test_tool_is_listed_read_only_open_world_with_flat_inputs(client: Client) -> None:
    tool = next(t for t in (await client.list_tools()).tools if t.name == "query_docs")
    assert tool.title == "Ask the Unsloth docs"
    assert tool.annotations.read_only_hint is True and tool.annotations.open_world_hint is True
    props = tool.input_schema["properties"]
    assert set(props) == {"question", "page", "language"}  # no ctx: the Context is injected, not asked for
    assert props["page"]["default"] == EN_GUIDE
    assert props["language"]["enum"] == ["en", "zh", "de", "fr", "jp"]
    assert (props["question"]["minLength"], props["question"]["maxLength"]) == (1, 1000)
    assert set(tool.output_schema["properties"]) >= {"answer", "sources", "follow_up_questions", "origin", "covered", "asked_url"}
    assert tool.output_schema["properties"]["covered"]["type"] == "boolean"


async def test_an_offline_question_no_note_covers_is_marked_not_covered(client: Client, monkeypatch) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_OFFLINE", "1")
    result = await client.call_tool("query_docs", {"question": "How do I fine-tune an embedding model for RAG?"})
    assert not result.is_error
    data = result.structured_content
    assert data["origin"] == "offline" and data["covered"] is False
    assert data["answer"].startswith("The offline notes do not cover this; ask again online, or see [Embedding model fine-tuning](")
    result = await client.call_tool("query_docs", {"question": "如何把模型导出为 GGUF？", "language": "zh"})
    assert result.structured_content["covered"] is True
    assert result.structured_content["answer"].startswith("## Exporting to GGUF")


async def test_progress_notifications_reach_the_client(fake_docs: FakeDocs, client: Client, monkeypatch) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_DOCS_TIMEOUT", "5")
    fake_docs.set("slow", delay=1.6)
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = await client.call_tool("query_docs", {"question": "What rank?"}, progress_callback=on_progress)
    assert not result.is_error and result.structured_content["origin"] == "live"
    messages = [m for _, _, m in seen]
    assert messages[0] == "Asking the Unsloth docs (127.0.0.1)"
    assert any(m and m.startswith("Waiting for the docs: ") for m in messages)
    assert seen[-1] == (5.0, 5.0, "Answer received")


async def test_the_server_keeps_answering_after_every_hostile_page_and_fault(
    fake_docs: FakeDocs, client: Client, monkeypatch
) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_DOCS_TIMEOUT", "1.5")
    for page in HOSTILE_PAGES:
        result = await client.call_tool("query_docs", {"question": "What rank?", "page": page})
        assert result.is_error and "Invalid 'page': " in result.content[0].text, page
    assert fake_docs.requests == []
    for i, (mode, options) in enumerate(FAULTS):
        fake_docs.set(mode, **options)
        result = await client.call_tool("query_docs", {"question": f"How much VRAM for a 7B model? ({i})"})
        assert not result.is_error, mode
        data = result.structured_content
        assert data["origin"] == "offline" and data["note"].startswith("The live Unsloth docs "), mode
        assert data["sources"], mode
    fake_docs.set("answer", failures=0)
    result = await client.call_tool("query_docs", {"question": "What rank?", "language": "zh"})
    assert not result.is_error and result.structured_content["origin"] == "live"
    detect = await client.call_tool("detect_gpus", {})
    assert not detect.is_error


async def test_argument_errors_name_the_field(client: Client) -> None:
    result = await client.call_tool("query_docs", {"question": "What rank?", "language": "xx"})
    assert result.is_error and "'language'" in result.content[0].text and "zh" in result.content[0].text
    result = await client.call_tool("query_docs", {"question": ""})
    assert result.is_error and "'question'" in result.content[0].text
