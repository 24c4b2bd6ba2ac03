"""Request errors that say what is wrong, where the SDK answers `-32602 Invalid request parameters` with no data.

The SDK checks a request's params against the protocol's models before any handler of ours runs, and
answers every failure, and every request sent before `initialize`, with the same bare -32602 (the attack
pass's C2): `tools/call` with `arguments` as a list or `name` null, `prompts/get` with a number as an
argument, `tools/list` on a connection that was never initialized. `NamedRequestErrors`, on the SDK's
middleware seam (`Server.middleware`, which sees each request's failure as raised), answers the same
code with a message naming the member at fault and what is accepted. Both transports go through it.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp import types
from mcp.types import INVALID_PARAMS
from pydantic import ValidationError

from finetune_advisor.vocabulary import cut_short

# What a member of the wrong JSON type should have been, by pydantic's error type.
_KINDS = {
    "dict_type": "an object", "model_type": "an object", "model_attributes_type": "an object",
    "string_type": "a string", "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false", "bool_parsing": "true or false",
    "list_type": "a list", "tuple_type": "a list",
}
# More than the JSON type, for the members a client most often gets wrong: (method, member) -> what it holds.
_HINTS = {
    ("tools/call", "name"): "a tool's name, as tools/list gives it",
    ("tools/call", "arguments"): 'the tool\'s arguments by name, such as {"model": "qwen3-8b"}',
}
# The SDK's answer to a request before `initialize` (its init gate): the same as for params it cannot validate.
_GATE_MESSAGE = "Invalid request parameters"
_SHOWN_ERRORS = 3


class NamedRequestErrors:
    """SDK middleware (`Server.middleware`): a request's params the SDK refuses, or a request before
    `initialize`, answered -32602 with a message that names the member and what is accepted."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        try:
            return await call_next(ctx)
        except ValidationError as exc:
            if ctx.request_id is None:  # a notification is never answered
                raise
            raise MCPError(code=INVALID_PARAMS, message=explain(ctx.method, ctx.params, exc)) from None
        except MCPError as exc:
            if _before_initialize(ctx, exc):
                raise MCPError(code=INVALID_PARAMS, message=not_initialized(ctx.method)) from None
            raise


def _before_initialize(ctx: ServerRequestContext[Any, Any], exc: MCPError) -> bool:
    error = exc.error
    return (error.code == INVALID_PARAMS and error.message == _GATE_MESSAGE and not error.data
            and ctx.method != "initialize" and ctx.session.client_params is None)


def not_initialized(method: str) -> str:
    return (f"{cut_short(method)!r} before 'initialize': this connection has not been initialized. Accepted: an "
            "'initialize' request first, then the 'notifications/initialized' notification; before them only "
            "'ping' is answered.")


def prompt_argument_not_text(prompt: str, key: str, value: Any) -> str:
    """The one wording of a prompt argument that is not a string (MCP prompt arguments are strings)."""
    return (f"Invalid '{key}' for prompt {prompt}: {_shown(value)} is not a string. Accepted: text (MCP prompt "
            "arguments are strings).")


def explain(method: str, params: Any, exc: ValidationError) -> str:
    """One sentence per member the SDK refused (at most a few): where, what it was, what is accepted."""
    errors = exc.errors(include_url=False)
    tagged = any(e["type"] == "literal_error" for e in errors)
    problems: dict[str, list[dict[str, Any]]] = {}
    for err in errors:
        if tagged and err["type"] == "missing" and any(map(_kind_of_union, err["loc"])):
            continue  # a kind the tag did not pick: its missing members say nothing
        loc = [str(p) for p in err["loc"] if not _kind_of_union(p)]
        where = ".".join(loc[1:] if loc[:1] == ["params"] else loc) or "params"
        problems.setdefault(where, []).append(err)
    prompt = params.get("name") if method == "prompts/get" and isinstance(params, dict) else None
    said = [_sentence(method, where, found, prompt) for where, found in list(problems.items())[:_SHOWN_ERRORS]]
    return " ".join(said)


def _sentence(method: str, where: str, found: list[dict[str, Any]], prompt: Any) -> str:
    first = found[0]
    if isinstance(prompt, str) and where.startswith("arguments.") and first["type"] == "string_type":
        return prompt_argument_not_text(cut_short(prompt), cut_short(where.removeprefix("arguments.")), first["input"])
    where = cut_short(where)  # a key may be a megabyte long
    if first["type"] == "missing":
        return f"Missing '{where}' in {method}. Accepted: {_HINTS.get((method, where), 'a value for it')}."
    if first["type"] == "literal_error":
        accepted = " or ".join(e.get("ctx", {}).get("expected", "?") for e in found if e["type"] == "literal_error")
    else:
        accepted = _KINDS.get(first["type"], "") or str(first["msg"])
    hint = _HINTS.get((method, where))
    return f"Invalid '{where}' in {method}: got {_shown(first['input'])}. Accepted: {accepted}{f' ({hint})' if hint else ''}."


def _kind_of_union(part: Any) -> bool:
    """Whether a part of pydantic's error location names one kind of a union (`PromptReference`), not a member."""
    return isinstance(part, str) and isinstance(getattr(types, part, None), type)


def _shown(value: Any) -> str:
    return cut_short(json.dumps(value, default=str))
