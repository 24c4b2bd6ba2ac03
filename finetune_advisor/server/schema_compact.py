"""Smaller tool schemas: every tools/list sends them into every conversation.

Pydantic derives a `title` for every field from its name (pure repetition) and writes a nullable
scalar as `anyOf: [{type: T}, {type: null}]`. Here titles go and nullable scalars become
`type: [T, "null"]`, which is the same JSON Schema in half the bytes. Validation is unaffected:
the SDK validates arguments and results with the pydantic models, not with these dicts.
"""

from __future__ import annotations

from typing import Any

_SCHEMA_MAPS = ("properties", "$defs", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not")


def compact(schema: Any) -> None:
    """Compact a JSON schema in place."""
    if not isinstance(schema, dict):
        return
    schema.pop("title", None)
    options = schema.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        (other,) = [o for o in options if o != {"type": "null"}]
        if set(other) <= {"type", "description"} and isinstance(other.get("type"), str):
            del schema["anyOf"]
            schema.update(other, type=[other["type"], "null"])
    for key in _SCHEMA_MAPS:
        for sub in (schema.get(key) or {}).values():
            compact(sub)
    for key in _SCHEMA_LISTS:
        for sub in schema.get(key) or ():
            compact(sub)
    for key in _SCHEMA_VALUES:
        compact(schema.get(key))
