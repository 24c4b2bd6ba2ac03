"""`finetune-advisor`: serve MCP (stdio or HTTP) or answer the same questions on the command line.

Each subcommand lives in `finetune_advisor.server.commands.<name>` with `register(subparsers)`
that sets `handler(args) -> int`. Subcommands call the same functions the MCP tools use.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from finetune_advisor import __version__, settings
from finetune_advisor.errors import AdvisorError, ConfigurationError

# Subcommand modules, in the order `--help` lists them.
COMMANDS = ("serve", "recommend", "vram", "plan", "license", "ask", "catalog", "gpu")


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


def configure_logging() -> None:
    """Logs go to stderr only: in stdio mode stdout carries JSON-RPC."""
    logging.basicConfig(
        level=settings.log_level(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings.check()  # every environment value, before anything runs: one line naming the bad one
    except ConfigurationError as exc:
        sys.stderr.write(f"finetune-advisor: {exc}\n")
        return 2
    configure_logging()
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args) or 0)
    except AdvisorError as exc:
        sys.stderr.write(f"finetune-advisor: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
