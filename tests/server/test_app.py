"""The MCP surface, in process: names, schemas, annotations, descriptions, errors, resources."""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal

import pytest
from mcp import Client
from pydantic import Field

from finetune_advisor.server.app import build_server
from finetune_advisor.vocabulary import show_number


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
        assert ann is not None and ann.read_only_hint is True, tool.name
        # Meaningful only when readOnlyHint is false (MCP spec), so not sent; a title is the tool's own.
        assert ann.destructive_hint is None and ann.idempotent_hint is None and ann.title is None, tool.name
        assert ann.open_world_hint is not None, tool.name
        assert tool.output_schema is not None, f"{tool.name} has no structured output"
        props = tool.input_schema.get("properties", {})
        for name, prop in props.items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
        assert "$ref" not in json.dumps(tool.input_schema), f"{tool.name} input is not flat"


@pytest.mark.anyio
async def test_schemas_are_plain_portable_json_schema(client: Client) -> None:
    """What the Inspector's portability check flags, and what some clients cannot follow: `type` arrays,
    `$ref`/`$defs`; and pydantic's generated titles, which repeat the property names."""
    for tool in (await client.list_tools()).tools:
        for side, schema in (("input", tool.input_schema), ("output", tool.output_schema)):
            for node in _walk(schema):
                where = f"{tool.name} {side}: {json.dumps(node)[:120]}"
                assert not isinstance(node.get("type"), list), where
                assert "$ref" not in node and "$defs" not in node, where
                assert not isinstance(node.get("title"), str), where
                if "anyOf" in node:
                    assert all(isinstance(o.get("type", "x"), str) for o in node["anyOf"]), where


def _example(description: str) -> object:
    """The JSON value after 'e.g.' in a parameter description."""
    assert "e.g. " in description, f"no example in {description!r}"
    value, _ = json.JSONDecoder().raw_decode(description.split("e.g. ", 1)[1])
    return value


@pytest.mark.anyio
async def test_every_parameter_has_an_example_the_tool_accepts(client: Client, no_gpu: None) -> None:
    """Each description carries an example (JSON after 'e.g.'); the example is valid for its schema and
    the tool answers it, so an example cannot drift from what the tool takes."""
    import jsonschema

    base = {"recommend_model": {"task": "chat"}, "query_docs": {"question": "What is LoRA?"},
            "estimate_vram": {"model": "qwen3-8b"}, "check_license": {"model": "qwen3-8b"},
            "plan_training": {"model": "qwen3-8b", "gpu_memory_gib": 24}}
    # Arguments that say the same thing: the example replaces the base argument of its group.
    one_of = [{"model", "architecture", "params_b", "license_id"}, {"gpu", "gpu_memory_gib"}]
    for tool in (await client.list_tools()).tools:
        for name, prop in tool.input_schema.get("properties", {}).items():
            example = _example(prop["description"])
            jsonschema.validate(example, prop)
            group = next((g for g in one_of if name in g), {name})
            arguments = {k: v for k, v in base.get(tool.name, {}).items() if k not in group}
            arguments[name] = example
            if name == "sharding":
                arguments["num_gpus"] = 2
            if name == "full_fp32_master":
                arguments["method"] = "full"
            if name == "images_per_row":  # a model with a vision tower
                arguments["model"] = "gemma-3-4b"
            if tool.name == "plan_training" and name in ("dataset_rows", "tokens_per_row", "longest_row"):  # together
                arguments = {"dataset_rows": 1000, "tokens_per_row": 300, **arguments}
            result = await client.call_tool(tool.name, arguments)
            assert not result.is_error, (tool.name, name, result.content[0].text)


@pytest.mark.anyio
async def test_allowed_licenses_lists_every_accepted_id(client: Client) -> None:
    from finetune_advisor.licensing.terms import license_ids

    tools = {t.name: t for t in (await client.list_tools()).tools}
    description = tools["recommend_model"].input_schema["properties"]["allowed_licenses"]["description"]
    assert all(lid in description for lid in license_ids())


@pytest.mark.anyio
async def test_every_error_hint_spells_out_what_is_accepted(client: Client) -> None:
    """The hint an argument error carries, for every parameter of every tool: values and bounds, never a
    pointer at the schema, integers printed as integers."""
    from finetune_advisor.server.arguments import accepted

    for tool in (await client.list_tools()).tools:
        for name, prop in tool.input_schema.get("properties", {}).items():
            hint = accepted(prop)
            assert "schema" not in hint and "any JSON value" not in hint, (tool.name, name, hint)
            assert not re.search(r"\d\.\d+e[+-]\d", hint), (tool.name, name, hint)
            options = prop.get("anyOf", [prop])
            for option in options:
                for value in option.get("enum", ()):
                    assert json.dumps(value) in hint, (tool.name, name, hint)
                for bound in ("minimum", "maximum"):
                    if bound in option:
                        assert show_number(option[bound]) in hint, (tool.name, name, hint)
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert accepted(tools["estimate_vram"].input_schema["properties"]["seq_len"]) == "an integer from 1 to 1048576"
    assert accepted({"type": "number", "minimum": 1.0, "maximum": 1048576.0}) == "a number from 1 to 1048576"


@pytest.mark.anyio
async def test_a_wrong_type_names_the_field_and_lists_the_values(client: Client) -> None:
    result = await client.call_tool("estimate_vram", {"model": "qwen3-8b", "target_modules": "q_proj"})
    assert result.is_error
    text = result.content[0].text
    assert text.startswith("Invalid 'target_modules'") and '"q_proj", "k_proj"' in text and "or null" in text


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
        ({"gpu_memory_gib": [24]}, "Accepted: a number > 0, or null."),
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


def test_schema_rewriting_inlines_models_and_refuses_a_recursive_one() -> None:
    from pydantic import BaseModel

    from finetune_advisor.server.schema_compact import compact

    class Part(BaseModel):
        size: float | None = None

    class Whole(BaseModel):
        first: Part
        second: list[Part]

    schema = Whole.model_json_schema()
    compact(schema, output=True)
    part = {"properties": {"size": {"anyOf": [{"type": "number"}, {"type": "null"}]}}, "type": "object"}
    assert schema == {"properties": {"first": part, "second": {"items": part, "type": "array"}},
                      "required": ["first", "second"], "type": "object"}

    class Node(BaseModel):
        children: list[Node] = []

    with pytest.raises(ValueError, match="recursive"):
        compact(Node.model_json_schema())
