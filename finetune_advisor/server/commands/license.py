"""`finetune-advisor license`: what a model's licence means for your plans (the check_license answer)."""

from __future__ import annotations

import argparse

from finetune_advisor.server.commands import bounded, in_cli_words, tool_arguments
from finetune_advisor.server.output import emit, emit_json, say
from finetune_advisor.licensing.binding import LicenseCheck
from finetune_advisor.tools.check_license import check_license

_VERDICT_WORDS = {
    "allowed": "ALLOWED",
    "allowed_with_conditions": "ALLOWED WITH CONDITIONS",
    "not_allowed": "NOT ALLOWED",
    "unknown": "UNKNOWN (no guess: read the licence)",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "license",
        help="check a model's licence against your plans (commercial use, users, EU, distribution)",
        description="Check which licence binds a model (inherited base-model terms included) and what it means for "
        "your plans. Information, not legal advice.",
    )
    p.add_argument("model", nargs="?", default="", metavar="MODEL",
                   help="catalog id, alias or Hugging Face repo id (Unsloth and quantised uploads too)")
    p.add_argument("--license-id", dest="license_id", default="", metavar="ID",
                   help="check a licence id instead of a model, e.g. llama3.1")
    p.add_argument("--commercial", dest="commercial_use", action=argparse.BooleanOptionalAction, default=True,
                   help="commercial use (default: yes)")
    p.add_argument("--mau", dest="monthly_active_users", type=bounded("monthly_active_users"), default=0, metavar="N",
                   help="monthly active users of your products, affiliates included")
    p.add_argument("--eu", dest="eu_entity", action="store_true", help="you are an EU-domiciled person or an EU-based company")
    p.add_argument("--distribute", dest="distribute_weights", action="store_true",
                   help="you will publish the weights, a fine-tune or an adapter")
    p.add_argument("--train-on-outputs", dest="train_other_models_on_outputs", action="store_true",
                   help="you will train another model on its outputs")
    p.add_argument("--json", action="store_true", help="print the check_license result as JSON")
    p.set_defaults(handler=run, parser=p)


def run(args: argparse.Namespace) -> int:
    if bool(args.model.strip()) == bool(args.license_id.strip()):
        args.parser.error("give MODEL or --license-id (one of them)")
    result = check_license(**tool_arguments(args, check_license))
    if args.json:
        emit_json(result)
    else:
        _print(result, args.parser)
    return 0


def _print(result: LicenseCheck, parser: argparse.ArgumentParser) -> None:
    subject = result.resolved_model or result.model or result.license_id or "?"
    licence = f"{result.name} ({result.license_id})" if result.license_id else "unknown licence"
    say(f"{subject} [{result.origin}]: {licence}")
    emit(f"Verdict: {_VERDICT_WORDS[result.verdict]}")
    for title, lines in (("Why", result.reasons), ("Obligations", result.obligations), ("Restrictions", result.restrictions)):
        if lines:
            emit(f"{title}:")
            for line in lines:
                say(line, "  - ")
    for inherited in result.inherited_licenses:
        say(f"Also binding: {inherited.license_id or 'unknown licence'} via {inherited.via} ({inherited.verdict})")
    gated = {True: "yes", False: "no", None: "unknown"}[result.gated]
    say(f"Licence text: {result.license_url or '-'}   Gated on Hugging Face: {gated}")
    for note in result.notes:
        say(in_cli_words(note, parser, bare=False), "Note: ")
    say(in_cli_words(result.disclaimer, parser, bare=False))
