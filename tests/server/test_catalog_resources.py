"""The catalog resources and model-id completions over the in-process MCP client."""

from __future__ import annotations

import json

import pytest
from mcp import Client
from mcp.types import ResourceTemplateReference

from finetune_advisor.adapters.cache import load_catalog
from finetune_advisor.server.app import build_server


@pytest.fixture
async def client():
    async with Client(build_server(), raise_exceptions=True) as c:
        yield c


@pytest.mark.anyio
async def test_catalog_models_lists_ids_with_summaries(client: Client) -> None:
    assert "catalog://models" in {str(r.uri) for r in (await client.list_resources()).resources}
    listed = json.loads((await client.read_resource("catalog://models")).contents[0].text)
    assert [m["id"] for m in listed] == [m.id for m in load_catalog().models]
    qwen = next(m for m in listed if m["id"] == "qwen3-30b-a3b")
    assert qwen["summary"] == "Qwen3-30B-A3B: 30.53B (3.3B active); chat, reasoning, code; licence apache-2.0"


@pytest.mark.anyio
async def test_one_model_in_full(client: Client) -> None:
    templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    assert "catalog://models/{model_id}" in templates
    entry = json.loads((await client.read_resource("catalog://models/gemma-3-4b")).contents[0].text)
    assert entry == load_catalog().get("gemma-3-4b").model_dump(mode="json")
    alias = json.loads((await client.read_resource("catalog://models/llama-3.3-70b-instruct")).contents[0].text)
    assert alias["id"] == "llama-3.3-70b"


@pytest.mark.anyio
async def test_unknown_model_names_the_id_and_where_ids_are_listed() -> None:
    async with Client(build_server(), raise_exceptions=False) as client:
        with pytest.raises(Exception) as info:
            await client.read_resource("catalog://models/qwen3-9b")
    text = str(info.value)
    assert "Unknown 'model_id' 'qwen3-9b'" in text and "catalog://models" in text and "qwen3-8b" in text


@pytest.mark.anyio
@pytest.mark.parametrize("uri,words", [
    ("catalog://models/" + "x" * 100_000, ["A resource URI of 100017 characters is too long", "at most 400",
                                           "catalog://models/{model_id}"]),
    ("catalog://models/" + "x" * 350, ["Invalid 'model_id': it is 350 characters long", "at most 300"]),
    ("licenses://" + "y" * 200, ["Invalid 'license_id': it is 200 characters long", "at most 100"]),
])
async def test_an_overlong_uri_or_id_is_refused_without_echoing_it(uri: str, words: list[str]) -> None:
    """The SDK's "Unknown resource: <uri>" and our unknown-id errors sent back a 100 KB URI whole."""
    async with Client(build_server(), raise_exceptions=False) as client:
        with pytest.raises(Exception) as info:
            await client.read_resource(uri)
    text = str(info.value)
    assert all(w in text for w in words) and len(text) < 400


@pytest.mark.anyio
async def test_model_ids_complete(client: Client) -> None:
    result = await client.complete(
        ResourceTemplateReference(uri="catalog://models/{model_id}"), {"name": "model_id", "value": "qwen3-"}
    )
    values = result.completion.values
    assert "qwen3-8b" in values and "qwen3-coder-30b-a3b" in values
    assert all(v.startswith("qwen3-") for v in values)
