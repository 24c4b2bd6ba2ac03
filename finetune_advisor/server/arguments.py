"""Argument checks in front of every tool: clear errors for what models send by mistake.

The SDK validates arguments with pydantic but ignores unknown names (so a misspelt
`sequence_length` would silently fall back to the default) and lets NaN through `gt=0`. Here an
unknown name, a non-finite number, or a pydantic failure becomes one sentence that names the
field and what would be accepted.
"""

from __future__ import annotations

import json
import math
from typing import Any

from finetune_advisor.errors import ArgumentError
from finetune_advisor.vocabulary import show_number


def check(tool: str, schema: dict[str, Any], arguments: dict[str, Any]) -> None:
    """Reject unknown argument names and non-finite numbers before validation."""
    properties = schema.get("properties", {})
    unknown = sorted(set(arguments) - set(properties))
    if unknown:
        names = ", ".join(repr(n) for n in unknown)
        raise ArgumentError(
            f"Unknown argument{'s' if len(unknown) > 1 else ''} {names} for {tool}. Accepted: {', '.join(properties) or 'none'}."
        )
    for name, value in arguments.items():
        if _has_non_finite(value, _numeric(properties[name])):
            raise ArgumentError(f"Invalid '{name}': NaN and infinity are not accepted. Accepted: {accepted(properties[name])}.")


def _numeric(prop: dict[str, Any]) -> bool:
    """True when the property accepts a number (where pydantic would parse "inf" or "nan")."""
    return any(p.get("type") in ("number", "integer") for p in prop.get("anyOf", [prop]))


def _has_non_finite(value: Any, numeric: bool) -> bool:
    """NaN or infinity anywhere in the value; strings count only where a number is expected."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, str):
        return numeric and value.strip().lower() in {"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
    if isinstance(value, dict):
        return any(_has_non_finite(v, numeric) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v, numeric) for v in value)
    return False


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
        items = _describe(p.get("items", {}))
        if items == "a string":
            return "a list of strings"
        return "a list, each item " + items if items else "a list"
    if kind == "object":
        return "an object"
    return ""


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
