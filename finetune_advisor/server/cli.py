"""`finetune-advisor`: serve MCP (stdio or HTTP) or answer the same questions on the command line.

Each subcommand lives in `finetune_advisor.server.commands.<name>` with `register(subparsers)`
that sets `handler(args) -> int`. Subcommands call the same functions the MCP tools use.

Exit status: 0 done; 2 a usage error (an option or value the command does not accept, as argparse
reports them, or a setting that cannot be used); 1 a request that was well formed but could not be
answered (a model neither the catalog nor the Hub knows, the Hub unreachable, bad data); 130 on
Ctrl-C; 141 when the reader of stdout went away (`| head`), as a program killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from finetune_advisor import __version__, redaction, settings
from finetune_advisor.errors import (
    AdvisorError,
    ArgumentError,
    ConfigurationError,
    InvalidInputError,
    UnknownLicenseError,
)

# Subcommand modules, in the order `--help` lists them.
COMMANDS = ("serve", "recommend", "vram", "plan", "license", "ask", "catalog", "gpu")

EXIT_DOMAIN, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 1, 2, 130, 141
# What the user typed wrong (2) rather than what could not be answered (1).
USAGE_ERRORS = (InvalidInputError, ArgumentError, UnknownLicenseError, ConfigurationError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finetune-advisor",
        description="Which open-weight LLM to fine-tune, how, and whether it fits your GPU: "
        "an MCP server (`serve`) and the same answers on the command line.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"finetune_advisor.server.commands.{name}").register(sub)
    return parser


def configure_logging(serving: bool = True) -> None:
    """Logs go to stderr only: in stdio mode stdout carries JSON-RPC. No record shows a URL's password. A server's
    records carry their time and logger; a one-shot command's read like its error lines."""
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s" if serving else "finetune-advisor: %(levelname)s: %(message)s"
    logging.basicConfig(level=settings.log_level(), stream=sys.stderr, format=fmt)
    redaction.install(logging.getLogger())


def main(argv: list[str] | None = None) -> int:
    try:
        status = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not as a traceback at interpreter exit
        return status
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except SystemExit:  # argparse: --help, --version and usage errors; their text may meet a closed pipe too
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
        raise


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        _unrecognized(getattr(args, "parser", None) or parser, unknown)
    try:
        settings.check()  # every environment value, before anything runs: one line naming the bad one
    except ConfigurationError as exc:
        sys.stderr.write(f"finetune-advisor: {exc}\n")
        return EXIT_USAGE
    configure_logging(serving=args.command == "serve")
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.handler(args) or 0)
    except AdvisorError as exc:
        from finetune_advisor.server.commands import in_cli_words

        sys.stderr.write(f"finetune-advisor: {in_cli_words(str(exc), getattr(args, 'parser', None))}\n")
        return EXIT_USAGE if isinstance(exc, USAGE_ERRORS) else EXIT_DOMAIN
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _unrecognized(parser: argparse.ArgumentParser, unknown: list[str]) -> None:
    """Exit with a usage error from the subcommand that was given options it does not take (argparse would name the
    top-level command and show its usage), with a hint for each option that is a positional argument's name or close
    to one of the command's options."""
    hints = [hint for word in unknown if word.startswith("--") and (hint := _hint(parser, word.split("=", 1)[0]))]
    parser.error(f"unrecognized arguments: {' '.join(unknown)}" + (f" ({'; '.join(hints)})" if hints else ""))


def _hint(parser: argparse.ArgumentParser, flag: str) -> str | None:
    """'give MODEL without --model' where FLAG names a positional argument, else the option meant: one whose
    parameter's name has FLAG's words (--users: --mau, monthly_active_users), or the closest by spelling, if any."""
    import difflib

    words = flag[2:].split("-")
    for action in parser._actions:
        if not action.option_strings and action.dest == "_".join(words):
            return f"give {action.metavar or action.dest.upper()} without {flag}"
    options = {f: action.dest for action in parser._actions for f in action.option_strings if f.startswith("--")}
    close = [f for f, dest in options.items() if set(words) <= set(dest.split("_"))][:1] or difflib.get_close_matches(
        flag, list(options), n=1, cutoff=0.75)
    return f"{flag}: did you mean {close[0]}?" if close else None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
