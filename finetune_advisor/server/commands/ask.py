"""`finetune-advisor ask`: a question to the Unsloth docs (live, cached, or from the packaged notes)."""

from __future__ import annotations

import argparse

from finetune_advisor.server.commands import tool_arguments
from finetune_advisor.server.output import emit, emit_json, say
from finetune_advisor.unsloth_docs.pages import DEFAULT_PAGE, LANGUAGE_ROOTS


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

    result = anyio.run(lambda: query_docs(**tool_arguments(args, query_docs)))
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
