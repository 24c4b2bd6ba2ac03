"""Every tool, called over MCP with generated and hostile arguments, answers: a valid result or a
ToolError that says what is wrong. Never an unexplained "Error executing tool", never a dead server."""

from __future__ import annotations

import json

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from finetune_advisor.server.app import build_server

SERVER = build_server()
TOOLS = {t.name: t for t in anyio.run(SERVER.list_tools)}

HOSTILE_STRINGS = st.sampled_from([
    "", " ", "x" * 100_000, "../../etc/passwd", "/etc/passwd", "http://169.254.169.254/latest", "file:///etc/passwd",
    "https://evil.example.com/x", "//evil.example.com", "%2e%2e%2f", "a?b=c#d", "\x00", "\u202e\u0000\ufeff",
    "qwen3-8b\n; rm -rf /", "unsloth/../meta-llama/x", "NaN", "inf", "-1", "1e309", "null", "{}", "[]",
    "🦙" * 50, "Robert'); DROP TABLE models;--", "<script>alert(1)</script>", "{{7*7}}", "$HOME",
])
HOSTILE_NUMBERS = st.sampled_from([0, -1, -(2**63), 2**63, 10**30, 1e308, -1e308, 1e-308, 0.5, 3.7, True, False])
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


def _value_for(prop: dict) -> st.SearchStrategy:
    options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
    valid = []
    for p in options:
        kind = p.get("type")
        if "enum" in p:
            valid.append(st.sampled_from(p["enum"]))
        elif kind == "integer":
            valid.append(st.integers(min_value=p.get("minimum"), max_value=p.get("maximum")))
        elif kind == "number":
            valid.append(st.floats(min_value=p.get("minimum"), max_value=p.get("maximum"), allow_nan=False, allow_infinity=False))
        elif kind == "boolean":
            valid.append(st.booleans())
        elif kind == "string":
            valid.append(st.text(max_size=p.get("maxLength", 80)))
        elif kind == "array":
            valid.append(st.lists(_value_for(p.get("items", {})), max_size=4))
    return st.one_of(*valid, HOSTILE_STRINGS, HOSTILE_NUMBERS, ANY_JSON) if valid else st.one_of(HOSTILE_STRINGS, ANY_JSON)


def _arguments(schema: dict) -> st.SearchStrategy:
    props = schema.get("properties", {})
    known = st.fixed_dictionaries({}, optional={name: _value_for(p) for name, p in props.items()})
    extra = st.dictionaries(st.sampled_from(["extra", "model_id", "seqlen", "__proto__"]), ANY_JSON, max_size=1)
    return st.one_of(known, st.builds(lambda a, b: {**a, **b}, known, extra))


async def _call(name: str, args: dict):
    async with Client(SERVER) as client:
        with anyio.fail_after(30):
            return await client.call_tool(name, args)


def _assert_answer(name: str, args: dict, result) -> None:
    text = result.content[0].text if result.content else ""
    if result.is_error:
        assert text and not text.startswith("Error executing tool"), f"{name}({args!r}) -> unexplained error: {text!r}"
        assert "Traceback" not in text
    else:
        assert result.structured_content is not None, f"{name}({args!r}) returned no structured content"
        json.dumps(result.structured_content)


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_tool_survives_generated_arguments(name: str, no_gpu: None) -> None:
    schema = TOOLS[name].input_schema

    @settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(args=_arguments(schema))
    def check(args: dict) -> None:
        _assert_answer(name, args, anyio.run(_call, name, args))

    check()
    # and the server still answers afterwards
    assert not anyio.run(_call, "detect_gpus", {}).is_error
