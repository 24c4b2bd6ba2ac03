"""`finetune-advisor ask`: a question to the Unsloth docs (live, cached, or from the packaged notes)."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from typing import TextIO

from finetune_advisor.server.commands import tool_arguments
from finetune_advisor.server.output import emit, emit_json, say
from finetune_advisor.unsloth_docs.pages import DEFAULT_PAGE, LANGUAGE_ROOTS

PROGRESS_AFTER = 1.0  # seconds of waiting before the progress line appears
_ERASE = "\r\x1b[2K"  # back to the start of the line, clear it
_SPINNER = "|/-\\"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ask",
        help="ask the Unsloth docs a question",
        description="Ask the Unsloth docs a question and print the answer with its sources. "
        "Without network access the answer comes from the packaged notes, and says so.",
    )
    p.add_argument("question", metavar="QUESTION", help="a specific, self-contained question")
    p.add_argument("--page", default=DEFAULT_PAGE, help=f"docs page path to ask on (default: {DEFAULT_PAGE})")
    p.add_argument("--lang", dest="language", default="en", choices=list(LANGUAGE_ROOTS), help="docs language (default: en)")
    p.add_argument("--json", action="store_true", help="print the query_docs result as JSON")
    p.set_defaults(handler=run, parser=p)


def run(args: argparse.Namespace) -> int:
    import anyio

    from finetune_advisor.tools.query_docs import query_docs

    status = _StatusLine(sys.stderr) if _is_terminal(sys.stderr) else None
    try:
        result = anyio.run(lambda: query_docs(**tool_arguments(args, query_docs, progress=status)))
    finally:
        if status is not None:
            status.clear()
    if args.json:
        emit_json(result)
        return 0
    emit(result.answer)
    if result.sources:
        emit("\nSources:")
        for source in result.sources:
            emit(f"- {source.title}: {source.url}")  # one line each: a URL does not wrap
    if result.follow_up_questions:
        emit("\nFollow-up questions:")
        for question in result.follow_up_questions:
            say(question, "- ")
    emit(f"\n[{result.origin}] {result.asked_url}")
    if result.note:
        say(result.note)
    return 0


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class _StatusLine:
    """The wait, shown on a terminal's stderr: one line, drawn once PROGRESS_AFTER seconds have passed
    and redrawn in place at each progress report (the docs call reports every second and on each
    retry), erased before the answer is printed. stdout never sees it."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.start = time.monotonic()
        self.shown = False
        self.turns = 0

    async def __call__(self, value: float, total: float | None, message: str | None) -> None:
        if not message or time.monotonic() - self.start < PROGRESS_AFTER:
            return
        width = max(shutil.get_terminal_size((80, 24)).columns - 1, 20)
        line = f"{_SPINNER[self.turns % len(_SPINNER)]} {message}"
        self.turns += 1
        self.stream.write(_ERASE + line[:width])
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write(_ERASE)
            self.stream.flush()
            self.shown = False
