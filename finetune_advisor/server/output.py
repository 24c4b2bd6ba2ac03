"""The CLI's output layer: the only code that writes to stdout (never in `serve`).

Text is fitted to the terminal: `COLUMNS` when set, else the terminal's width (`shutil.
get_terminal_size`). Tables narrow their widest columns and wrap the cells; prose wraps with a
hanging indent. Output to a pipe or a file is not wrapped unless COLUMNS is set, so `grep` finds
whole lines; `--json` output is never wrapped.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

MIN_WIDTH = 40  # narrower than this, wrapping costs more than it saves


def width() -> int | None:
    """Columns available to the output (COLUMNS, else the terminal's); None: not a terminal, no limit."""
    columns = shutil.get_terminal_size((0, 0)).columns
    return max(MIN_WIDTH, columns) if columns > 0 else None


def emit_json(data: Any) -> None:
    if hasattr(data, "model_dump"):
        data = data.model_dump(mode="json")
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def emit(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def say(text: str, first: str = "", rest: str | None = None) -> None:
    """A paragraph wrapped to the terminal: `first` starts it, continuation lines are indented to match
    (or by `rest`). Words longer than a line (URLs, repo ids) are kept whole."""
    emit(wrap(text, first, " " * len(first) if rest is None else rest))


def wrap(text: str, first: str = "", rest: str = "") -> str:
    columns = width()
    if columns is None:
        return first + text
    return textwrap.fill(text, columns, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False) or first.rstrip()


def warn(text: str) -> None:
    """A note on stderr that does not stop the command (e.g. an option that has no effect)."""
    sys.stderr.write(f"finetune-advisor: warning: {text}\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], keep: Sequence[int] = ()) -> str:
    """A plain-text table with left-aligned columns, fitted to the terminal: columns narrow and their
    cells wrap onto more lines, between words first. Columns in `keep` (ids people copy) stay whole."""
    cells = [[_cell(v) for v in row] for row in rows]
    natural = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    words = [max([len(h), *(len(w) for r in cells for w in r[i].split())]) for i, h in enumerate(headers)]
    floor = [n if i in keep else min(w, max(len(h), 8)) for i, (n, w, h) in enumerate(zip(natural, words, headers))]
    columns = width()
    room = columns - 2 * (len(headers) - 1) if columns else sum(natural)
    widths = _narrow(natural, [max(w, f) for w, f in zip(words, floor)], room)  # wrap between words
    widths = _narrow(widths, floor, room)  # then within them
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    for row in cells:
        wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(row, widths)]
        for k in range(max(len(parts) for parts in wrapped)):
            parts = [p[k] if k < len(p) else "" for p in wrapped]
            lines.append("  ".join(part.ljust(w) for part, w in zip(parts, widths)).rstrip())
    return "\n".join(lines)


def _narrow(widths: list[int], least: list[int], room: int) -> list[int]:
    """Narrow the widest column, a character at a time, until the widths fit `room` or every column
    is down to its `least`."""
    widths = list(widths)
    while sum(widths) > room:
        shrinkable = [i for i, w in enumerate(widths) if w > least[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def headroom(needs_gib: float, memory_gib: float, headroom_gib: float) -> str:
    """The headroom with what the driver keeps beside it, so that GPU memory minus what the run needs (the verdict's
    figure: VramEstimate.needs_gib) adds up on screen."""
    driver = memory_gib - needs_gib - headroom_gib
    return f"headroom {headroom_gib:+.2f} GiB after the {driver:.2f} GiB the driver keeps"
