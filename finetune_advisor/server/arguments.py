"""Argument checks in front of every tool: clear errors for what models send by mistake.

The SDK validates arguments with pydantic but ignores unknown names (so a misspelt
`sequence_length` would silently fall back to the default), lets NaN through `gt=0` and reads
`true` as the integer 1. Here an unknown name, a non-finite number, a boolean where a number is
expected, or a value nested too deep or too large to be a real argument becomes one sentence that
names the field and what would be accepted; a pydantic failure is explained the same way.
"""

from __future__ import annotations

import json
import math
from typing import Any

from finetune_advisor.errors import ArgumentError
from finetune_advisor.vocabulary import show_number

# The deepest nesting and the most values one argument may hold: a config.json given inline nests
# 3-4 levels and holds a few hundred values; anything far beyond is not an argument but a load.
MAX_DEPTH = 32
MAX_VALUES = 20_000
_NON_FINITE_TEXT = {"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


def check(tool: str, schema: dict[str, Any], arguments: dict[str, Any]) -> None:
    """Reject unknown argument names, booleans given as numbers, non-finite numbers and oversized values."""
    properties = schema.get("properties", {})
    unknown = sorted(set(arguments) - set(properties))
    if unknown:
        names = ", ".join(repr(n) for n in unknown)
        raise ArgumentError(
            f"Unknown argument{'s' if len(unknown) > 1 else ''} {names} for {tool}. Accepted: {', '.join(properties) or 'none'}."
        )
    for name, value in arguments.items():
        prop = properties[name]
        kinds = _types(prop)
        if isinstance(value, bool) and kinds & {"number", "integer"} and "boolean" not in kinds:
            raise ArgumentError(f"Invalid '{name}': {json.dumps(value)} is a boolean, not a number. Accepted: {accepted(prop)}.")
        problem = _inspect(value, numeric=bool(kinds & {"number", "integer"}))
        if problem:
            raise ArgumentError(f"Invalid '{name}': {problem}. Accepted: {accepted(prop)}.")


def _types(prop: dict[str, Any]) -> set[str]:
    """Every JSON type a property accepts (`type` as a string or a list, or inside `anyOf`)."""
    found: set[str] = set()
    for option in prop.get("anyOf", [prop]):
        kind = option.get("type")
        found.update([kind] if isinstance(kind, str) else kind or [])
    return found


def _inspect(value: Any, numeric: bool) -> str | None:
    """What makes a value unacceptable whatever its schema, walked without recursion: NaN or infinity
    anywhere (as text too where a number is expected), nesting deeper than MAX_DEPTH, more than
    MAX_VALUES values."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            return f"it holds more than {MAX_VALUES} values"
        if depth > MAX_DEPTH:
            return f"it is nested more than {MAX_DEPTH} levels deep"
        if isinstance(item, float) and not math.isfinite(item):
            return "NaN and infinity are not accepted"
        if numeric and isinstance(item, str) and item.strip().lower() in _NON_FINITE_TEXT:
            return "NaN and infinity are not accepted"
        if isinstance(item, (dict, list)):
            if seen + len(item) > MAX_VALUES:
                return f"it holds more than {MAX_VALUES} values"
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return None


def explain(tool: str, schema: dict[str, Any], errors: list[dict[str, Any]]) -> str:
    """One line per pydantic error: which field, what was wrong, what is accepted."""
    properties = schema.get("properties", {})
    lines = []
    for err in errors[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p != f"{tool}Arguments"]
        field = loc[0] if loc else "arguments"
        where = ".".join(loc) or field
        problem = str(err.get("msg", "invalid value"))
        if err.get("type") == "missing":
            problem = "this argument is required"
        got = err.get("input")
        shown = "" if err.get("type") == "missing" else f" (got {_short(got)})"
        prop = properties.get(field)
        suffix = f" Accepted: {accepted(prop)}." if prop else ""
        lines.append(f"Invalid '{where}': {problem[:1].lower() + problem[1:]}{shown}.{suffix}")
    return " ".join(lines)


def accepted(prop: dict[str, Any]) -> str:
    """What a JSON-schema property accepts, values and bounds spelt out."""
    options = [prop] if "anyOf" not in prop else [p for p in prop["anyOf"] if p.get("type") != "null"]
    parts = [_describe(p) for p in options]
    text = " or ".join(p for p in parts if p) or "any JSON value"
    if "anyOf" in prop and any(p.get("type") == "null" for p in prop["anyOf"]):
        text += ", or null"
    return text


def _describe(p: dict[str, Any]) -> str:
    if "enum" in p:
        return "one of " + ", ".join(json.dumps(v) for v in p["enum"])
    if "const" in p:
        return json.dumps(p["const"])
    kind = p.get("type", "")
    if kind in ("integer", "number"):
        noun = "an integer" if kind == "integer" else "a number"
        low = p.get("minimum", p.get("exclusiveMinimum"))
        high = p.get("maximum", p.get("exclusiveMaximum"))
        low_word = "from" if "minimum" in p else "above"
        high_word = "to" if "maximum" in p else "below"
        if low is not None and high is not None:
            return f"{noun} {low_word} {show_number(low)} {high_word} {show_number(high)}"
        if low is not None:
            return f"{noun} {'>=' if 'minimum' in p else '>'} {show_number(low)}"
        if high is not None:
            return f"{noun} {'<=' if 'maximum' in p else '<'} {show_number(high)}"
        return noun
    if kind == "string":
        lo, hi = p.get("minLength"), p.get("maxLength")
        if lo is not None and hi is not None:
            return f"a string of {lo} to {hi} characters"
        if hi is not None:
            return f"a string of at most {hi} characters"
        return "a string"
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        item = _describe(p.get("items", {}))
        size = f"at most {p['maxItems']} " if "maxItems" in p else ""
        if not item or item == "a string":
            return f"a list of {size}{'strings' if item else 'values'}"
        return f"a list of {size}items, each {item}"
    if kind == "object":
        return "an object"
    return ""


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
