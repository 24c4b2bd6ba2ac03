"""Prompt templates the server exposes as MCP prompts.

Each template is a Markdown file next to this module, rendered with `string.Template` (`$name`),
so braces in examples need no escaping. Every render function takes only strings (MCP prompt
arguments are strings), fills in a readable phrase for what the user left empty, and returns the
text of one user message. Its one-line docstring is what MCP clients show to the user.
"""

from __future__ import annotations

from importlib.resources import files
from string import Template
from typing import Annotated

from pydantic import Field

from finetune_advisor.errors import InvalidInputError
from finetune_advisor.vocabulary import METHODS, TASKS, check_range, cut_short, show_number

_NOT_GIVEN = "not given"
_GPU_NOT_GIVEN = "not given: call detect_gpus, and ask the user if it lists the server's GPUs"


def _template(name: str) -> Template:
    return Template(files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8"))


def _or(value: str, fallback: str) -> str:
    value = (value or "").strip()
    return value if value else fallback


def _number(name: str, value: str, fallback: str) -> str:
    """A number argument as the tools take it (its range is theirs: vocabulary.LIMITS), thousands separators
    allowed; the fallback when empty. The prompt hands it to a tool, so "lots", "nan" or "-5" is refused here,
    naming the argument, rather than rendered into the user's message."""
    text = (value or "").strip().replace(",", "").replace("_", "")
    if not text:
        return fallback
    try:
        number = float(text)
    except ValueError:
        raise InvalidInputError(name, f"{cut_short(value.strip())!r} is not a number", "a number, e.g. 2048") from None
    check_range(name, number)  # NaN and infinities are out of every range
    return show_number(number)


def _choice(name: str, value: str, accepted: tuple[str, ...], fallback: str) -> str:
    """One of `accepted` (any case), or the fallback when empty."""
    text = (value or "").strip().lower()
    if not text:
        return fallback
    if text not in accepted:
        raise InvalidInputError(name, f"{cut_short(value.strip())!r} is not one of them", ", ".join(accepted))
    return text


def choose_model(
    goal: Annotated[str, Field(description="What the fine-tuned model should do, in the user's words.")],
    task: Annotated[
        str,
        Field(description="One of chat, code, vision, reasoning, tts, stt; leave empty to infer it from the goal."),
    ] = "",
    dataset_rows: Annotated[str, Field(description="Number of training examples, if known.")] = "",
    gpu_memory_gib: Annotated[
        str, Field(description="GPU memory in GiB to plan for; leave empty to detect it (or ask, over HTTP).")
    ] = "",
    plans: Annotated[
        str,
        Field(
            description="How the model will be used: commercial or not, monthly active users of your products, "
            "whether the user is in the EU, licences that are acceptable."
        ),
    ] = "",
) -> str:
    """Pick a model to fine-tune step by step, following Unsloth's model-choice guide."""
    return _template("choose_model").substitute(
        goal=_or(goal, "not stated: ask the user what the model should do"),
        task=_choice("task", task, TASKS,
                     "not given: infer it from the goal (chat, code, vision, reasoning, tts or stt)"),
        dataset_rows=_number("dataset_rows", dataset_rows, "not given: ask the user, or treat it as unknown"),
        gpu_memory_gib=_number("gpu_memory_gib", gpu_memory_gib, _GPU_NOT_GIVEN),
        plans=_or(plans, "not given: assume commercial use and ask about user numbers and the EU"),
    )


def base_or_instruct(
    dataset_rows: Annotated[str, Field(description="Number of training examples (rows) in the dataset.")],
    goal: Annotated[str, Field(description="What the fine-tune should achieve, if the user said.")] = "",
    data_format: Annotated[
        str,
        Field(description="Shape of the data: raw text, instruction/response pairs, or multi-turn conversations."),
    ] = "",
) -> str:
    """Decide between a base and an instruct checkpoint from the dataset size and format."""
    return _template("base_or_instruct").substitute(
        dataset_rows=_number("dataset_rows", dataset_rows, "unknown"),
        goal=_or(goal, _NOT_GIVEN),
        data_format=_or(data_format, _NOT_GIVEN),
    )


def fit_on_my_gpu(
    model: Annotated[str, Field(description="Catalog id, alias or Hugging Face repo id of the model to size.")],
    gpu_memory_gib: Annotated[
        str, Field(description="GPU memory in GiB; leave empty to use what detect_gpus reports (or ask, over HTTP).")
    ] = "",
    seq_len: Annotated[str, Field(description="Training sequence length in tokens (default 2048).")] = "",
    method: Annotated[str, Field(description="qlora, lora or full; leave empty to compare all three.")] = "",
) -> str:
    """Check whether fine-tuning a given model fits a GPU, and what to change if it does not."""
    return _template("fit_on_my_gpu").substitute(
        model=_or(model, "not stated: ask the user which model"),
        gpu_memory_gib=_number("gpu_memory_gib", gpu_memory_gib, _GPU_NOT_GIVEN),
        seq_len=_number("seq_len", seq_len, "2048"),
        method=_choice("method", method, METHODS, "not given: compare qlora, lora and full"),
    )


def plan_run(
    model: Annotated[str, Field(description="Catalog id, alias or Hugging Face repo id of the model to train.")],
    gpu: Annotated[str, Field(description="GPU by name, e.g. 'RTX 4090' or '2xA100-80GB'; leave empty to ask.")] = "",
    dataset: Annotated[str, Field(description="Rows and tokens per row, e.g. '20000 rows of ~400 tokens'.")] = "",
    epochs: Annotated[str, Field(description="Passes over the data (default 1).")] = "",
    price_per_hour: Annotated[str, Field(description="Price per GPU-hour, for the cost.")] = "",
) -> str:
    """Plan a fine-tuning run: context, batch and rank that fit, and how long and how much it takes."""
    return _template("plan_run").substitute(
        model=_or(model, "not stated: ask the user which model"),
        gpu=_or(gpu, "not given: ask the user which GPU and how many"),
        dataset=_or(dataset, "not given: ask for rows and tokens per row"),
        epochs=_number("epochs", epochs, "1"),
        price_per_hour=_number("price_per_hour", price_per_hour, "not given: leave the cost out"),
    )


PROMPTS = (choose_model, base_or_instruct, fit_on_my_gpu, plan_run)
