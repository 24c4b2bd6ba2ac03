"""The READMEs report the pooled held-out scores that the committed predictions and measurements give (memory:
bench/vram_accuracy/score_holdout_round.py --all; step time: bench/throughput/score_holdout.py --all): a round
ingested without updating the headlines fails here, where bench/vram_accuracy/README.md's once stood five rounds
stale."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "vram_accuracy"


def _text(path: Path) -> str:
    return " ".join(path.read_text(encoding="utf-8").split())  # sentences wrap across lines


README = _text(BENCH / "README.md")
MAIN_README = _text(ROOT / "README.md")


def _script(path: Path):
    """A bench script loaded with its own folder's modules: both folders have a `fit.py`, and another test may have
    imported the other one under that name."""
    siblings = {p.stem for p in path.parent.glob("*.py")}
    others = {name: sys.modules.pop(name) for name in list(sys.modules) if name in siblings}
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(f"{path.parent.name}_{path.stem}_bench", path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.path.remove(str(path.parent))
        for name in siblings:
            sys.modules.pop(name, None)
        sys.modules.update(others)
    return module


def _rows(printing, *args) -> list[list[str]]:
    """The Markdown table rows a scorer prints, as lists of stripped cells."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        printing(*args)
    return [[c.strip() for c in line.split("|")[1:-1]] for line in out.getvalue().splitlines() if line.startswith("| ")]


def _pooled(since: int) -> tuple[int, dict[str, str]]:
    """(the last round with a scored cell, the **all** row's figures) as `--all [--since]` prints them."""
    rows = _rows(_script(BENCH / "score_holdout_round.py").pooled, since)
    rounds = [int(m.group(1)) for row in rows if (m := re.match(r"round(\d+)", row[0]))]
    cells, median, p90, under = next(row for row in rows if row[0] == "**all**")[1:]
    return max(rounds), {"cells": cells, "median": median, "p90": p90, "under": under}


def test_the_pooled_held_out_score_is_the_one_the_readme_reports() -> None:
    last, got = _pooled(0)
    says = (f"{got['cells']} cells from rounds 4-{last}: median |error| {got['median']}, p90 {got['p90']}, "
            f"**{got['under']} more than 5 % under**")
    assert says in README, f"bench/vram_accuracy/README.md should say: {says}"


def test_the_held_out_score_since_round_66_is_the_one_the_readme_reports() -> None:
    _, got = _pooled(66)
    says = f"`score_holdout_round.py --all --since 66`), meet its median and p90 but not its tail: {got['cells']} cells"
    assert says in README and f"{got['cells']} cells, median {got['median']}, p90 {got['p90']}," in README


def test_the_main_readme_reports_the_same_held_out_memory_scores() -> None:
    last, every = _pooled(0)
    for label, got in ((f"held out: every round, 4-{last}", every), (f"held out: rounds 66-{last}", _pooled(66)[1]),
                       (f"held out: rounds 68-{last}, after its cause was counted", _pooled(68)[1])):
        row = f"| {label} | {got['cells']} | {got['median']} | {got['p90']} | {got['under']}"
        assert row in MAIN_README, f"README.md's Unsloth table should have the row: {row}"


def test_the_main_readme_reports_the_held_out_step_times() -> None:
    rows = {row[0]: row[1:] for row in _rows(_script(ROOT / "bench" / "throughput" / "score_holdout.py").pooled)}
    cells, median, p90, within, inside = rows["all"]
    says = (f"Held out (predictions committed before the cells ran, `score_holdout.py --all`): {cells} cells, median "
            f"{median}, p90 {p90}, {within} within ±20 %, {inside} inside the range the answer gave.")
    assert says in MAIN_README, f"README.md should say: {says}"
    cells, median, _, within, _ = rows["8,192 tokens a step or more"]
    says = f"step: {cells} cells, median {median}, {within} within ±20 %."
    assert says in MAIN_README, f"README.md should say: {says}"


def test_the_held_out_table_by_family_is_the_scorers() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _script(BENCH / "score_holdout_round.py").pooled(66, by_family=True)
    table = " ".join(out.getvalue().split())
    assert table.startswith("| family | models | cells |") and table.count("| gemma2 |") == 1
    assert table in README, "bench/vram_accuracy/README.md's table by family is not what --since 66 --by-family prints"
