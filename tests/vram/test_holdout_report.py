"""bench/vram_accuracy/README.md reports the pooled held-out score that the committed predictions and measurements
give (score_holdout_round.py --all): a round ingested without updating the headline fails here, where it once stood
five rounds stale."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "vram_accuracy"
README = " ".join((BENCH / "README.md").read_text(encoding="utf-8").split())  # sentences wrap across lines


def _scorer():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("score_holdout_round_bench", BENCH / "score_holdout_round.py")
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.path.remove(str(BENCH))
    return module


def _pooled(since: int) -> tuple[int, dict[str, str]]:
    """(the last round with a scored cell, the **all** row's figures) as `--all [--since]` prints them."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _scorer().pooled(since)
    rows = [line.split("|")[1:-1] for line in out.getvalue().splitlines() if line.startswith("| ")]
    rounds = [int(m.group(1)) for row in rows if (m := re.match(r" round(\d+)", row[0]))]
    total = next(row for row in rows if row[0].strip() == "**all**")
    cells, median, p90, under = (cell.strip() for cell in total[1:])
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
