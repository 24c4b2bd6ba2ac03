"""The tools answer the golden calls exactly as recorded (tests/golden/record.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import record  # noqa: E402
from cases import cases  # noqa: E402


@pytest.mark.anyio
async def test_answers_match_the_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in record.ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    for name in record.UNSET:
        monkeypatch.delenv(name, raising=False)
    expected = record.read()
    got = await record.answers()
    assert len(cases()) >= 50 + 3 * 2 * 100, "the snapshot covers the hand-picked calls and the catalog sweep"
    assert set(got) == set(expected), "the set of golden calls changed: re-record on purpose"
    moved = [k for k in expected if got[k] != expected[k]]
    shown = "\n".join(f"{k}\n  was: {json.dumps(expected[k])[:400]}\n  now: {json.dumps(got[k])[:400]}" for k in moved[:5])
    assert not moved, f"{len(moved)} answers moved:\n{shown}"


def test_no_answer_shows_an_unformatted_placeholder() -> None:
    # A note once read "less than {TIGHT_FRACTION:.0%} of the estimate": a string missing its f prefix. Every
    # text in the recorded answers is scanned for a Python format field left in it.
    import re

    field = re.compile(r"\{[A-Za-z_][A-Za-z0-9_.]*(?:![rsa])?(?::[^{}]*)?\}")
    texts: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for answer in record.read().values():
        walk(answer)
    left = sorted({m.group(0) for t in texts for m in field.finditer(t)})
    assert not left, f"format fields left in answers: {left[:10]}"
