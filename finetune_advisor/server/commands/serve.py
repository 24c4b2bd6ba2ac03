"""`finetune-advisor serve`: MCP over stdio (default) or streamable HTTP."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import replace

from finetune_advisor import settings
from finetune_advisor.server.http_limits import MAX_CONNECTIONS, HttpLimits, connection_room, open_file_limit

HTTP_ONLY = ("host", "port", "allowed_hosts", "stateless")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve MCP over stdio (for Claude Desktop, IDEs) or streamable HTTP",
        description="Serve MCP. stdio by default; --transport http serves http://HOST:PORT/mcp. "
        "A non-loopback --host needs FINETUNE_ADVISOR_HTTP_TOKEN and --allowed-hosts.",
    )
    p.add_argument("--transport", choices=("stdio", "http"), default="stdio", help="default: stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    p.add_argument(
        "--allowed-hosts",
        default="",
        help="comma-separated host:port patterns accepted in the Host header (needed for a non-loopback --host)",
    )
    p.add_argument("--stateless", action="store_true", help="HTTP: no sessions (each request stands alone)")
    defaults = HttpLimits()
    p.add_argument(
        "--max-connections", type=_positive(MAX_CONNECTIONS), default=defaults.max_connections, metavar="N",
        help="HTTP: open connections at most; the oldest idle one makes room "
        f"(default {defaults.max_connections}, at most {MAX_CONNECTIONS} and half of ulimit -n)",
    )
    p.add_argument(
        "--max-sessions", type=_positive(), default=defaults.max_sessions, metavar="N",
        help=f"HTTP: MCP sessions at most; the longest idle one makes room (default {defaults.max_sessions})",
    )
    p.set_defaults(handler=run, parser=p)


def _positive(most: int | None = None) -> Callable[[str], int]:
    """argparse type for a whole number of at least 1 (and at most `most`, when given)."""
    accepted = f"an integer from 1 to {most}" if most is not None else "an integer of at least 1"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; accepted: {accepted}") from None
        if value < 1 or (most is not None and value > most):
            raise argparse.ArgumentTypeError(f"{value} is out of range; accepted: {accepted}")
        return value

    return parse


def run(args: argparse.Namespace) -> int:
    from finetune_advisor.server.app import build_server

    if args.transport == "stdio":
        from finetune_advisor.server.output import warn

        for name in HTTP_ONLY:
            if getattr(args, name) != args.parser.get_default(name):
                warn(f"--{name.replace('_', '-')} has no effect with --transport stdio")
        server = build_server()
        signal.signal(signal.SIGINT, _interrupted)
        server.run("stdio")
        return 0
    from finetune_advisor.errors import ConfigurationError, ServeError
    from finetune_advisor.server.http import serve

    if not 0 < args.port < 65536:
        sys.stderr.write(f"finetune-advisor: invalid --port {args.port}: accepted 1-65535\n")
        return 2
    too_many = _beyond_open_files(args.max_connections)
    if too_many:
        sys.stderr.write(f"finetune-advisor: {too_many}\n")
        return 2
    allowed = [h.strip() for h in args.allowed_hosts.split(",") if h.strip()]
    limits = replace(HttpLimits(), max_connections=args.max_connections, max_sessions=args.max_sessions)
    try:
        serve(build_server(remote=True), args.host, args.port, settings.http_token(), allowed,
              stateless=args.stateless, limits=limits)
    except ConfigurationError as exc:
        sys.stderr.write(f"finetune-advisor: {exc}\n")
        return 2
    except ServeError as exc:
        sys.stderr.write(f"finetune-advisor: {exc}\n")
        return 1
    return 0


def _beyond_open_files(connections: int) -> str | None:
    """Why --max-connections is more than the process's open-file limit leaves room for, if it is. Refused rather
    than lowered: the default adapts to the limit, but a value the user gave is one they count on, and a warning that
    it was cut goes unread in a service's log; above the room, the process runs out of files before the cap acts."""
    files = open_file_limit()
    room = connection_room(files)
    if room is None or connections <= room:
        return None
    return (f"--max-connections {connections} is more than this process may hold open: it may open {files} files "
            f"(ulimit -n), half of them kept for the server's own. Accepted: at most {room} here, or raise the limit "
            f"first (ulimit -n {2 * connections}).")


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C while serving stdio. The SDK reads stdin in a worker thread that cannot be cancelled, so
    an orderly shutdown would wait for the next line a host sends: in a terminal, forever. End now,
    with the conventional status; nothing is left half-written (cache files are replaced atomically,
    and every message is flushed as it is written)."""
    sys.stderr.write("finetune-advisor: interrupted\n")
    sys.stderr.flush()
    os._exit(128 + signal.SIGINT)
