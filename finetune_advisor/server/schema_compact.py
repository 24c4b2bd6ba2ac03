"""Tool schemas as plain, portable JSON Schema, without pydantic's repetition.

Every tools/list sends the schemas into every conversation, so what says nothing goes:
- `title`: pydantic derives one for every field and model from its name, which the key already says;
- `$defs` and `$ref`: a nested model is written in place (clients that map schemas onto a smaller
  dialect, such as Gemini's function declarations, do not follow `$ref`); a recursive model could
  not be, and is refused when the server is built;
- `additionalProperties: true` and `default: null`: what JSON Schema assumes anyway for an open
  object and for an optional value;
- in output schemas, every `default` (a result carries all its fields) and the description of the
  result as a whole (the tool's description says what it returns).
Nothing else changes: a nullable value stays `anyOf: [{...}, {"type": "null"}]`, as pydantic writes
it (clients with a single-`type` dialect reject `type: [T, "null"]`). Validation is unaffected: the
SDK validates arguments and results with the pydantic models, not with these dicts.
"""

from __future__ import annotations

from typing import Any

_SCHEMA_MAPS = ("properties", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not")


def compact(schema: dict[str, Any] | None, output: bool = False) -> None:
    """Rewrite a tool's input (or, with `output`, result) schema in place."""
    if not isinstance(schema, dict):
        return
    defs = schema.pop("$defs", {})
    if output:
        schema.pop("description", None)
    _walk(schema, defs, output, ())


def _walk(schema: Any, defs: dict[str, Any], output: bool, inside: tuple[str, ...]) -> None:
    if not isinstance(schema, dict):
        return
    ref = schema.pop("$ref", None)
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        if name in inside:
            raise ValueError(f"{name} contains itself: a recursive model cannot be written in place")
        inside = (*inside, name)
        schema.update({k: v for k, v in _copy(defs[name]).items() if k not in schema})
    schema.pop("title", None)
    if schema.get("additionalProperties") is True:
        del schema["additionalProperties"]
    if "default" in schema and (output or schema["default"] is None):
        del schema["default"]
    for key in _SCHEMA_MAPS:
        for sub in (schema.get(key) or {}).values():
            _walk(sub, defs, output, inside)
    for key in _SCHEMA_LISTS:
        for sub in schema.get(key) or ():
            _walk(sub, defs, output, inside)
    for key in _SCHEMA_VALUES:
        _walk(schema.get(key), defs, output, inside)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
