"""Everything a client sends is bounded (issue 13, item 6): text and list lengths, physical bounds on
config.json fields, booleans are not numbers, and one bound per quantity across every tool."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from finetune_advisor.errors import InvalidInputError
from finetune_advisor.server.app import build_server
from finetune_advisor.server.arguments import MAX_DEPTH, MAX_VALUES
from finetune_advisor.tools.check_license import check_license
from finetune_advisor.tools.estimate_vram import estimate_vram
from finetune_advisor.tools.recommend_model import recommend_model
from finetune_advisor.vocabulary import LIMITS, MAX_CHARS, MAX_ITEMS

SERVER = build_server()
TOOLS = {t.name: t for t in anyio.run(SERVER.list_tools)}
ARCH = {"model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32, "vocab_size": 32000}
HUGE = "x" * 5_000_000


async def _call(name: str, args: dict):
    async with Client(SERVER) as client:
        with anyio.fail_after(30):
            return await client.call_tool(name, args)


def _error(name: str, args: dict) -> str:
    result = anyio.run(_call, name, args)
    assert result.is_error, f"{name}({list(args)}) was accepted"
    return result.content[0].text


def _types(prop: dict) -> set[str]:
    found: set[str] = set()
    for option in prop.get("anyOf", [prop]):
        kind = option.get("type")
        found.update([kind] if isinstance(kind, str) else kind or [])
    return found


def _options(prop: dict) -> list[dict]:
    return [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]


def test_no_tool_takes_unbounded_text_or_lists() -> None:
    for tool in TOOLS.values():
        for name, prop in tool.input_schema["properties"].items():
            for option in _options(prop):
                if option.get("type") == "string" and "enum" not in option:
                    assert "maxLength" in option, f"{tool.name}.{name} is unbounded text"
                if option.get("type") == "array":
                    assert "maxItems" in option, f"{tool.name}.{name} is an unbounded list"
                    items = option.get("items", {})
                    assert "enum" in items or "maxLength" in items, f"{tool.name}.{name} has unbounded items"


@pytest.mark.parametrize(
    ("tool", "args", "field"),
    [
        ("check_license", {"model": HUGE}, "model"),
        ("check_license", {"license_id": HUGE}, "license_id"),
        ("recommend_model", {"task": "chat", "allowed_licenses": ["mit"] * 5000}, "allowed_licenses"),
        ("recommend_model", {"task": "chat", "allowed_licenses": ["x" * 100_000]}, "allowed_licenses"),
        ("recommend_model", {"task": "chat", "languages": ["x" * 1000] * 5000}, "languages"),
        ("recommend_model", {"task": "chat", "use_case": HUGE}, "use_case"),
        ("estimate_vram", {"model": HUGE}, "model"),
        ("estimate_vram", {"model": "qwen3-8b", "target_modules": ["q_proj"] * 100_000}, "target_modules"),
        ("query_docs", {"question": "How?", "page": HUGE}, "page"),
    ],
)
def test_oversized_text_and_lists_are_refused_quickly_and_not_echoed(tool: str, args: dict, field: str) -> None:
    start = time.monotonic()
    text = _error(tool, args)
    assert time.monotonic() - start < 5  # a 5 MB argument took 19.7 s and came back whole before the bound
    assert text.startswith(f"Invalid '{field}") and "Accepted: " in text, text[:200]
    assert len(text) < 600, text[:200]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: check_license(model="x" * (MAX_CHARS["model"] + 1)), "model"),
        (lambda: check_license(license_id="x" * (MAX_CHARS["license_id"] + 1)), "license_id"),
        (lambda: recommend_model("chat", allowed_licenses=["mit"] * (MAX_ITEMS["allowed_licenses"] + 1)), "allowed_licenses"),
        (lambda: recommend_model("chat", languages=["x" * (MAX_CHARS["languages"] + 1)]), "languages"),
        (lambda: recommend_model("chat", use_case="x" * (MAX_CHARS["use_case"] + 1)), "use_case"),
        (lambda: estimate_vram(model="x" * (MAX_CHARS["model"] + 1)), "model"),
        (lambda: estimate_vram(model="qwen3-8b", seq_len=True), "seq_len"),
        (lambda: recommend_model("chat", seq_len=True, gpu_memory_gib=24), "seq_len"),
    ],
)
def test_direct_callers_like_the_cli_get_the_same_bounds(call, field: str, no_gpu: None) -> None:
    with pytest.raises(InvalidInputError) as caught:
        call()
    assert caught.value.field == field


def _numeric_arguments() -> list[tuple[str, str]]:
    return [
        (tool.name, name)
        for tool in TOOLS.values()
        for name, prop in tool.input_schema["properties"].items()
        if _types(prop) & {"integer", "number"}
    ]


@pytest.mark.parametrize(("tool", "field"), _numeric_arguments())
def test_a_boolean_is_not_a_number(tool: str, field: str) -> None:
    base = {"recommend_model": {"task": "chat"}, "estimate_vram": {"model": "qwen3-8b"}}.get(tool, {"model": "qwen3-8b"})
    text = _error(tool, {**base, field: True})
    assert f"Invalid '{field}': true is a boolean, not a number" in text


def test_the_same_quantity_has_the_same_bounds_in_every_tool() -> None:
    seen: dict[str, tuple] = {}
    for tool in TOOLS.values():
        for name, prop in tool.input_schema["properties"].items():
            for option in _options(prop):
                if option.get("type") in ("integer", "number"):
                    bounds = (option.get("minimum"), option.get("maximum"))
                    assert bounds == LIMITS[name], f"{tool.name}.{name}: {bounds} is not vocabulary.LIMITS"
                    assert seen.setdefault(name, bounds) == bounds
    assert LIMITS["gpu_memory_gib"][0] == 0.25 and "gpu_memory_gib" in seen


@pytest.mark.parametrize(
    ("field", "value"),
    [("num_hidden_layers", 10**12), ("vocab_size", 10**15), ("hidden_size", 10**9), ("num_experts", 10**7),
     ("intermediate_size", 0), ("num_attention_heads", True), ("head_dim", 64.5)],
)
def test_architecture_fields_have_physical_bounds(field: str, value: object) -> None:
    text = _error("estimate_vram", {"architecture": {**ARCH, field: value}})
    assert text.startswith("Invalid 'architecture': " + field), text
    if field in LIMITS and value is not True:
        assert f"for {field}, an integer from {LIMITS[field][0]} to {LIMITS[field][1]}" in text
    assert "Overflow" not in text and "Traceback" not in text


@pytest.mark.parametrize("method", ["qlora", "lora", "full"])
def test_the_largest_accepted_architecture_still_gets_a_finite_answer(method: str) -> None:
    names = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads", "vocab_size",
             "num_experts", "num_experts_per_tok", "moe_intermediate_size", "shared_expert_intermediate_size")
    arch = {"model_type": "llama", **{name: LIMITS[name][1] for name in names}}
    args = {"architecture": arch, "method": method, "seq_len": LIMITS["seq_len"][1], "batch_size": LIMITS["batch_size"][1],
            "gradient_checkpointing": False, "attention": "eager", "gpu_memory_gib": 80}
    result = anyio.run(_call, "estimate_vram", args)
    assert not result.is_error, result.content[0].text
    totals = [result.structured_content["total_gib"], *result.structured_content["breakdown"].values()]
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in totals)
    assert result.structured_content["fits"] is False


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({**ARCH, "deep": _nested(100)}, f"nested more than {MAX_DEPTH} levels deep"),
        ({**ARCH, "many": list(range(MAX_VALUES * 10))}, f"more than {MAX_VALUES} values"),
        ({**ARCH, "many": {str(i): i for i in range(MAX_VALUES + 1)}}, f"more than {MAX_VALUES} values"),
    ],
)
def test_arguments_too_deep_or_too_large_are_refused_by_name(value: dict, problem: str) -> None:
    text = _error("estimate_vram", {"architecture": value})
    assert text.startswith(f"Invalid 'architecture': it {'is' if 'nested' in problem else 'holds'}"), text
    assert problem in text


def test_a_real_config_json_given_inline_is_within_the_bounds() -> None:
    config = json.loads((Path(__file__).parents[2] / "bench/vram_calibration/configs/gemma-4-E4B-it.json").read_text())["config"]
    result = anyio.run(_call, "estimate_vram", {"architecture": config, "gpu_memory_gib": 24})
    assert not result.is_error, result.content[0].text
