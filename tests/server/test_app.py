"""The MCP surface, in process: names, schemas, annotations, descriptions, errors, resources."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import pytest
from mcp import Client
from pydantic import Field

from finetune_advisor.server.app import build_server


@pytest.fixture
async def client():
    async with Client(build_server(), raise_exceptions=True) as c:
        yield c


def _walk(schema: object):
    if isinstance(schema, dict):
        yield schema
        for value in schema.values():
            yield from _walk(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _walk(value)


@pytest.mark.anyio
async def test_server_identity_and_instructions(client: Client) -> None:
    assert client.server_info.name == "finetune-advisor"
    assert client.server_info.version
    for tool in ("recommend_model", "estimate_vram", "check_license", "query_docs", "detect_gpus"):
        assert tool in client.instructions


@pytest.mark.anyio
async def test_every_tool_is_described_annotated_and_flat(client: Client) -> None:
    tools = (await client.list_tools()).tools
    assert "detect_gpus" in {t.name for t in tools}
    for tool in tools:
        assert tool.title, tool.name
        assert tool.description and len(tool.description) <= 400, tool.name
        assert len(tool.description.splitlines()) <= 4, tool.name
        assert "Args:" not in tool.description
        ann = tool.annotations
        assert ann is not None and ann.read_only_hint is True and ann.destructive_hint is False, tool.name
        assert ann.open_world_hint is not None, tool.name
        assert tool.output_schema is not None, f"{tool.name} has no structured output"
        props = tool.input_schema.get("properties", {})
        for name, prop in props.items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
        assert "$ref" not in json.dumps(tool.input_schema), f"{tool.name} input is not flat"


@pytest.mark.anyio
async def test_tools_list_stays_small(client: Client) -> None:
    tools = (await client.list_tools()).tools
    payload = json.dumps([t.model_dump(mode="json", exclude_none=True) for t in tools])
    # Six tools with full output schemas: 2-9 kB each (plan_training's answer nests estimate_vram's).
    # tools/list costs every conversation tokens.
    assert len(payload) < 28_000, "keep schemas and descriptions short"


@pytest.mark.anyio
async def test_detect_gpus_structured_result(client: Client, no_gpu: None) -> None:
    result = await client.call_tool("detect_gpus", {})
    assert not result.is_error
    data = result.structured_content
    assert data["source"] == "none" and data["gpus"] == [] and "not installed" in data["note"]


@pytest.mark.anyio
async def test_gpu_resource_is_the_tool_result(client: Client, no_gpu: None) -> None:
    listed = {str(r.uri) for r in (await client.list_resources()).resources}
    assert "gpu://local" in listed
    contents = (await client.read_resource("gpu://local")).contents
    resource = json.loads(contents[0].text)
    tool = (await client.call_tool("detect_gpus", {})).structured_content
    assert resource == tool


@pytest.mark.anyio
async def test_unknown_tool_is_an_error_naming_it(client: Client) -> None:
    result = await client.call_tool("make_coffee", {})
    assert result.is_error and "make_coffee" in result.content[0].text and "detect_gpus" in result.content[0].text


@pytest.mark.anyio
async def test_advisor_errors_become_tool_errors_with_their_text() -> None:
    from finetune_advisor.errors import InvalidInputError
    from mcp.server.mcpserver.exceptions import ToolError

    from finetune_advisor.server.app import translating

    def broken(seq_len: int) -> dict:
        """A tool that rejects its input."""
        raise InvalidInputError("seq_len", "-5 is not positive", "1 to 131072")

    server = build_server()
    server.add_tool(translating(broken, ToolError), name="broken")
    async with Client(server) as c:
        result = await c.call_tool("broken", {"seq_len": 3})
    assert result.is_error
    assert result.content[0].text.endswith("Invalid 'seq_len': -5 is not positive. Accepted: 1 to 131072.")


@pytest.mark.anyio
async def test_bugs_do_not_leak_tracebacks() -> None:
    from mcp.server.mcpserver.exceptions import ToolError

    from finetune_advisor.server.app import translating

    def crash() -> dict:
        """A tool with a bug."""
        raise RuntimeError("secret internals")

    server = build_server()
    server.add_tool(translating(crash, ToolError), name="crash")
    async with Client(server) as c:
        result = await c.call_tool("crash", {})
    assert result.is_error and "secret internals" not in result.content[0].text


def _constrained(
    seq_len: Annotated[int, Field(ge=1, le=131072, description="Tokens.")] = 2048,
    method: Annotated[Literal["qlora", "lora", "full"], Field(description="Method.")] = "qlora",
    gpu_memory_gib: Annotated[float | None, Field(gt=0, description="GiB.")] = None,
    question: Annotated[str, Field(max_length=100, description="Free text.")] = "",
) -> dict:
    """A tool with the kinds of constraints the real tools use."""
    return {"seq_len": seq_len, "method": method, "gpu_memory_gib": gpu_memory_gib, "question": question}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"seq_len": -1}, "Invalid 'seq_len': input should be greater than or equal to 1 (got -1). Accepted: an integer from 1 to 131072."),
        ({"seq_len": "abc"}, "Invalid 'seq_len'"),
        ({"seq_len": 10**30}, "Accepted: an integer from 1 to 131072."),
        ({"method": "dpo"}, 'Accepted: one of "qlora", "lora", "full".'),
        ({"gpu_memory_gib": "inf"}, "Invalid 'gpu_memory_gib': NaN and infinity are not accepted."),
        ({"gpu_memory_gib": -24}, "Invalid 'gpu_memory_gib': input should be greater than 0 (got -24). Accepted: a number > 0, or null."),
        ({"sequence_length": 8192}, "Unknown argument 'sequence_length' for constrained. Accepted: seq_len, method, gpu_memory_gib, question."),
    ],
)
async def test_argument_errors_name_the_field_and_what_is_accepted(args: dict, expected: str) -> None:
    from mcp.server.mcpserver.exceptions import ToolError

    from finetune_advisor.server.app import translating

    server = build_server()
    server.add_tool(translating(_constrained, ToolError), name="constrained")
    async with Client(server) as c:
        result = await c.call_tool("constrained", args)
        assert result.is_error
        assert expected in result.content[0].text
        assert "Error executing tool" not in result.content[0].text
        ok = await c.call_tool("constrained", {"seq_len": 4096, "question": "nan"})  # free text may say "nan"
        assert not ok.is_error and json.loads(ok.content[0].text)["seq_len"] == 4096


@pytest.mark.anyio
async def test_served_over_http_the_gpus_are_the_servers_and_none_is_assumed(no_gpu: None, monkeypatch) -> None:
    from finetune_advisor.adapters import nvml
    from finetune_advisor.gpus import caller

    # A server with a 24 GiB GPU: over stdio it is the user's; over HTTP it must not be planned for.
    monkeypatch.setattr(nvml, "local_gpu", lambda: nvml.LocalGpu(24.0, "Test GPU (GPU 0, 24.0 GiB, detected)", True))
    async with Client(build_server(remote=False)) as local, Client(build_server(remote=True)) as remote:
        assert "server's machine" not in (local.instructions or "")
        assert "detect_gpus and gpu://local describe the server's machine" in (remote.instructions or "")
        assert (await local.call_tool("detect_gpus", {})).structured_content["machine"] == "local"
        gpus = (await remote.call_tool("detect_gpus", {})).structured_content
        assert gpus["machine"] == "server" and gpus["note"].startswith(caller.SERVER_GPUS)
        assert json.loads((await remote.read_resource("gpu://local")).contents[0].text)["machine"] == "server"
        for name, args in (("estimate_vram", {"model": "qwen3-8b"}), ("recommend_model", {"task": "chat"})):
            here = (await local.call_tool(name, args)).structured_content
            there = (await remote.call_tool(name, args)).structured_content
            assert "Test GPU" in here["gpu"] and caller.NO_GPU_ASSUMED in there["gpu"]
        assert (await remote.call_tool("estimate_vram", {"model": "qwen3-8b"})).structured_content["fits"] is None
    assert not caller.is_remote()  # the mark is per call, not left behind
