"""Prompt templates: placeholders match the render functions, and MCP renders them completely."""

from __future__ import annotations

import inspect
import re
import typing
from importlib.resources import files

import pytest
from mcp import Client

from finetune_advisor.prompts import PROMPTS
from finetune_advisor.server.app import build_server

PLACEHOLDER = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
TOOLS = ("detect_gpus", "recommend_model", "estimate_vram", "check_license", "query_docs")


def _template(name: str) -> str:
    return files("finetune_advisor.prompts").joinpath(f"{name}.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("fn", PROMPTS, ids=lambda f: f.__name__)
def test_placeholders_are_the_parameters(fn) -> None:  # noqa: ANN001
    found = {a or b for a, b in PLACEHOLDER.findall(_template(fn.__name__))}
    assert found == set(inspect.signature(fn).parameters)


@pytest.mark.parametrize("fn", PROMPTS, ids=lambda f: f.__name__)
def test_every_argument_is_described_and_the_docstring_is_one_line(fn) -> None:  # noqa: ANN001
    assert fn.__doc__ and "\n" not in fn.__doc__.strip()
    hints = typing.get_type_hints(fn, include_extras=True)
    for name in inspect.signature(fn).parameters:
        described = [m for m in getattr(hints[name], "__metadata__", ()) if getattr(m, "description", None)]
        assert described, f"{fn.__name__}.{name} has no Field(description=...)"


def test_choose_model_walks_the_guide_with_every_tool() -> None:
    text = PROMPTS[0](goal="A support bot for our SaaS")
    assert all(tool in text for tool in TOOLS)
    for rule in ("1000", "300", "-unsloth-bnb-4bit", "licence"):
        assert rule in text
    assert "A support bot for our SaaS" in text and "call detect_gpus" in text


def test_empty_optional_arguments_read_as_not_given() -> None:
    from finetune_advisor.prompts import base_or_instruct, fit_on_my_gpu

    assert "Dataset rows: 450" in base_or_instruct(dataset_rows="450") and "Goal: not given" in base_or_instruct(dataset_rows="450")
    text = fit_on_my_gpu(model="qwen3-8b")
    assert "Sequence length: 2048" in text and "compare qlora, lora and full" in text


@pytest.mark.anyio
async def test_prompts_are_listed_with_titles_and_described_arguments() -> None:
    async with Client(build_server(), raise_exceptions=True) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {fn.__name__ for fn in PROMPTS}
    for prompt in prompts.values():
        assert prompt.title and prompt.description
        assert prompt.arguments and all(a.description for a in prompt.arguments)
    assert [a.name for a in prompts["choose_model"].arguments if a.required] == ["goal"]
    assert [a.name for a in prompts["fit_on_my_gpu"].arguments if a.required] == ["model"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("choose_model", {"goal": "Classify support tickets", "task": "chat", "dataset_rows": "800", "gpu_memory_gib": "24",
                          "plans": "commercial, EU company"}, "EU company"),
        ("choose_model", {"goal": "Caption product photos"}, "call detect_gpus"),
        ("base_or_instruct", {"dataset_rows": "250", "data_format": "conversations"}, "250"),
        ("fit_on_my_gpu", {"model": "unsloth/Qwen3-8B-unsloth-bnb-4bit", "gpu_memory_gib": "12"}, "Qwen3-8B"),
    ],
)
async def test_get_prompt_renders_without_leftover_placeholders(name: str, arguments: dict[str, str], expected: str) -> None:
    async with Client(build_server(), raise_exceptions=True) as client:
        result = await client.get_prompt(name, arguments)
    text = "\n".join(m.content.text for m in result.messages)
    assert "$" not in text
    assert expected in text
    assert result.messages[0].role == "user"


@pytest.mark.anyio
async def test_missing_argument_or_unknown_prompt_is_an_invalid_params_error_that_says_why() -> None:
    from mcp.shared.exceptions import MCPError

    async with Client(build_server()) as client:
        with pytest.raises(MCPError, match="Missing required argument.*goal.*Accepted: goal, task") as err:
            await client.get_prompt("choose_model", {})
        assert err.value.code == -32602
        with pytest.raises(MCPError, match="Unknown prompt 'pick_model'. Accepted: choose_model"):
            await client.get_prompt("pick_model", {})


@pytest.mark.anyio
async def test_an_argument_the_prompt_does_not_take_or_too_long_is_named() -> None:
    """The SDK answered both with "Error rendering prompt choose_model" (and logged a traceback); a 5 MB goal was
    rendered into a 5 MB prompt."""
    from mcp.shared.exceptions import MCPError

    async with Client(build_server()) as client:
        with pytest.raises(MCPError, match="Unknown argument.*choose_model: budget. Accepted: goal, task") as err:
            await client.get_prompt("choose_model", {"goal": "a SQL assistant", "budget": "100"})
        assert err.value.code == -32602
        with pytest.raises(MCPError, match="Invalid 'plans' for prompt choose_model: 5000 characters is too long. "
                                           "Accepted: at most 2000") as err:
            await client.get_prompt("choose_model", {"goal": "a SQL assistant", "plans": "x" * 5000})
        assert err.value.code == -32602
        assert (await client.get_prompt("choose_model", {"goal": "g" * 2000})).messages


@pytest.mark.parametrize(("name", "arguments", "named"), [
    ("base_or_instruct", {"dataset_rows": "-5"}, "dataset_rows"),
    ("base_or_instruct", {"dataset_rows": "lots"}, "dataset_rows"),
    ("fit_on_my_gpu", {"model": "qwen3-8b", "gpu_memory_gib": "nan"}, "gpu_memory_gib"),
    ("fit_on_my_gpu", {"model": "qwen3-8b", "seq_len": "1e308"}, "seq_len"),
    ("fit_on_my_gpu", {"model": "qwen3-8b", "method": "hack"}, "method"),
    ("choose_model", {"goal": "a SQL assistant", "task": "painting"}, "task"),
    ("plan_run", {"model": "qwen3-8b", "epochs": "0"}, "epochs"),
])
@pytest.mark.anyio
async def test_a_number_or_choice_the_prompt_hands_to_a_tool_is_checked_as_the_tool_would(
        name: str, arguments: dict[str, str], named: str) -> None:
    """These rendered verbatim into the prompt (the attack pass's C5), for the assistant to pass on to a tool that
    then refused them; the range and the choices are the tools' own (vocabulary.LIMITS, METHODS, TASKS)."""
    from mcp.shared.exceptions import MCPError

    async with Client(build_server()) as client:
        with pytest.raises(MCPError, match=f"Invalid '{named}'.*Accepted: .*prompt {name}") as err:
            await client.get_prompt(name, arguments)
        assert err.value.code == -32602


def test_numbers_are_read_as_people_write_them() -> None:
    from finetune_advisor.prompts import base_or_instruct, fit_on_my_gpu

    assert "Dataset rows: 5000" in base_or_instruct(dataset_rows=" 5,000 ")
    text = fit_on_my_gpu(model="qwen3-8b", gpu_memory_gib="24", seq_len="8192", method="LoRA")
    assert "Sequence length: 8192" in text and "lora" in text


@pytest.mark.anyio
async def test_a_prompt_argument_that_is_not_text_is_named() -> None:
    from mcp.shared.exceptions import MCPError

    with pytest.raises(MCPError, match="Invalid 'dataset_rows' for prompt base_or_instruct: 1500 is not a string"):
        await build_server().get_prompt("base_or_instruct", {"dataset_rows": 1500})


@pytest.mark.anyio
async def test_task_argument_completes_to_the_accepted_tasks() -> None:
    from mcp.types import PromptReference

    async with Client(build_server(), raise_exceptions=True) as client:
        every = await client.complete(PromptReference(type="ref/prompt", name="choose_model"), {"name": "task", "value": ""})
        some = await client.complete(PromptReference(type="ref/prompt", name="choose_model"), {"name": "task", "value": "c"})
    assert set(every.completion.values) == {"chat", "code", "vision", "reasoning", "tts", "stt"}
    assert some.completion.values == ["chat", "code"]
