"""check_license on the surfaces people use: `finetune-advisor license` and the in-process MCP client."""

from __future__ import annotations

import json

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import ResourceTemplateReference

from finetune_advisor.server.app import build_server
from finetune_advisor.server.cli import main
from finetune_advisor.tools.check_license import check_license

# --- CLI ----------------------------------------------------------------------------------------


def test_cli_prints_verdict_reasons_and_disclaimer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["license", "unsloth/Llama-3.2-11B-Vision-Instruct-bnb-4bit", "--eu"]) == 0
    out = capsys.readouterr().out
    assert "llama-3.2-11b-vision [catalog]" in out and "(llama3.2)" in out
    assert "Verdict: NOT ALLOWED" in out
    assert "EU clause (Llama 3.2)" in out
    assert "Unsloth re-upload" in out
    assert "not legal advice" in out and "(its text is linked above)" in out and "license_url" not in out


def test_cli_flags_reach_the_tool(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["license", "llama-3.1-8b", "--no-commercial", "--mau", "5", "--distribute", "--train-on-outputs", "--json"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = check_license(
        model="llama-3.1-8b", commercial_use=False, monthly_active_users=5, distribute_weights=True,
        train_other_models_on_outputs=True,
    )
    assert printed == expected.model_dump(mode="json")


def test_cli_license_id_and_inherited_licences(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["license", "--license-id", "cc-by-nc-4.0"]) == 0
    assert "Verdict: NOT ALLOWED" in capsys.readouterr().out
    assert main(["license", "deepseek-r1-distill-llama-8b", "--distribute"]) == 0
    out = capsys.readouterr().out
    assert "Also binding: llama3.1" in out and "[llama3.1]" in out


@pytest.mark.parametrize("argv", [["license"], ["license", "llama-3.1-8b", "--license-id", "mit"]])
def test_cli_model_or_licence_id_is_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "give MODEL or --license-id" in captured.err


def test_cli_negative_users_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["license", "qwen2.5-72b", "--mau", "-3"])
    assert exit_.value.code == 2
    assert "--mau: -3 is out of range; accepted: 0 to 100000000000" in capsys.readouterr().err


def test_cli_unknown_model_suggests_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["license", "qwen2.5-7bx"]) == 1
    assert "qwen2.5-7b" in capsys.readouterr().err


# --- MCP, in process ----------------------------------------------------------------------------


@pytest.fixture
async def client():
    async with Client(build_server(), raise_exceptions=True) as c:
        yield c


@pytest.mark.anyio
async def test_tool_is_listed_read_only_and_open_world(client: Client) -> None:
    tool = next(t for t in (await client.list_tools()).tools if t.name == "check_license")
    assert tool.title == "Check licence terms"
    assert tool.annotations.read_only_hint is True and tool.annotations.open_world_hint is True
    props = tool.input_schema["properties"]
    assert set(props) == {
        "model", "license_id", "commercial_use", "monthly_active_users", "eu_entity", "distribute_weights",
        "train_other_models_on_outputs",
    }
    assert props["monthly_active_users"]["minimum"] == 0
    assert {"verdict", "obligations", "restrictions", "reasons", "gated", "disclaimer"} <= set(tool.output_schema["properties"])


@pytest.mark.anyio
async def test_structured_answer(client: Client) -> None:
    result = await client.call_tool("check_license", {"model": "qwen2.5-72b", "monthly_active_users": 150_000_000})
    assert not result.is_error
    data = result.structured_content
    assert data["license_id"] == "qwen" and data["verdict"] == "not_allowed"
    assert any("100 million" in r for r in data["restrictions"])


@pytest.mark.anyio
async def test_empty_model_is_a_clear_tool_error(client: Client) -> None:
    result = await client.call_tool("check_license", {"model": ""})
    assert result.is_error
    assert "Invalid 'model'" in result.content[0].text and "license_id" in result.content[0].text


@pytest.mark.anyio
async def test_negative_users_is_a_clear_tool_error(client: Client) -> None:
    result = await client.call_tool("check_license", {"model": "qwen2.5-7b", "monthly_active_users": -1})
    assert result.is_error
    assert "'monthly_active_users'" in result.content[0].text and "from 0" in result.content[0].text


@pytest.mark.anyio
async def test_unknown_licence_id_is_a_tool_error_listing_ids(client: Client) -> None:
    result = await client.call_tool("check_license", {"license_id": "llama1"})
    assert result.is_error and "llama3.1" in result.content[0].text


@pytest.mark.anyio
async def test_licence_resource_carries_clauses_with_sources(client: Client) -> None:
    templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    assert "licenses://{license_id}" in templates
    data = json.loads((await client.read_resource("licenses://qwen-research")).contents[0].text)
    assert data["id"] == "qwen-research" and data["commercial_use"] is False
    assert data["verification"] in {"verified", "partial", "unverified"}
    assert all(c["source"].startswith("https://") and "verified" in c for c in data["clauses"])


@pytest.mark.anyio
async def test_unknown_licence_resource_lists_known_ids(client: Client) -> None:
    with pytest.raises(MCPError, match="Accepted: apache-2.0"):
        await client.read_resource("licenses://nope")


@pytest.mark.anyio
async def test_licence_ids_complete(client: Client) -> None:
    ref = ResourceTemplateReference(type="ref/resource", uri="licenses://{license_id}")
    result = await client.complete(ref, {"name": "license_id", "value": "qwen"})
    assert result.completion.values == ["qwen", "qwen-research"]
