"""Streamable HTTP transport with the security rules of DESIGN.md.

Loopback binds accept loopback Host and Origin names only (DNS-rebinding protection). Any other
bind needs FINETUNE_ADVISOR_HTTP_TOKEN, then every request must carry `Authorization: Bearer
<token>`, and `--allowed-hosts` feeds the Host check. `http_guard` applies these rules (and answers
`GET /healthz`) before a request reaches MCP; `http_limits` bounds every connection and session.
The port is bound before anything says "serving", so a taken port fails at once.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import signal
import socket
from typing import Any

from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from finetune_advisor.errors import ConfigurationError, ServeError
from finetune_advisor.server.http_guard import HEALTH_PATH, HostRules, RequestGuard
from finetune_advisor.server.http_limits import HttpLimits, evict_oldest_idle, quiet_client_disconnects, uvicorn_options
from finetune_advisor.vocabulary import cut_short

logger = logging.getLogger(__name__)

TOKEN_VARIABLE = "FINETUNE_ADVISOR_HTTP_TOKEN"


def is_loopback(host: str) -> bool:
    if host in {"localhost", "ip6-localhost"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def security_settings(host: str, port: int, token: str | None, allowed_hosts: list[str]) -> TransportSecuritySettings:
    """Host/Origin patterns for this bind; raises ConfigurationError for an unsafe one."""
    if is_loopback(host):
        hosts = ["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*", *allowed_hosts]
        origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
        return _checked(TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins))
    if not token:
        raise ConfigurationError(
            f"Refusing to serve on {host}:{port}, which is not a loopback address, without a token. "
            f"Set {TOKEN_VARIABLE} to a long random secret (clients send 'Authorization: Bearer <token>') "
            "and pass --allowed-hosts with the host:port names clients use, or bind 127.0.0.1."
        )
    if not allowed_hosts:
        raise ConfigurationError(
            f"Serving on {host}:{port} needs --allowed-hosts (comma-separated host:port patterns such as "
            f"'advisor.internal:{port}'), so that requests with a forged Host header are refused."
        )
    origins = [f"http://{h}" for h in allowed_hosts] + [f"https://{h}" for h in allowed_hosts]
    return _checked(TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=allowed_hosts, allowed_origins=origins))


def _checked(settings: TransportSecuritySettings) -> TransportSecuritySettings:
    try:
        HostRules(settings.allowed_hosts, settings.allowed_origins)
    except ValueError as exc:
        raise ConfigurationError(
            f"--allowed-hosts: {exc}. Accepted: comma-separated host names, host:port or host:* "
            "(any port), such as 'advisor.internal:8000'."
        ) from None
    return settings


def build_app(
    server: MCPServer,
    host: str,
    port: int,
    token: str | None,
    allowed_hosts: list[str],
    stateless: bool = False,
    json_response: bool = False,
    limits: HttpLimits | None = None,
) -> Any:
    """The ASGI app serving MCP at /mcp and the health check at /healthz, behind the request guard."""
    limits = limits or HttpLimits()
    security = security_settings(host, port, token, allowed_hosts)
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=stateless,
        json_response=json_response,
        transport_security=security,
        host=host,
        max_request_body_size=limits.max_body_bytes,
        max_sessions=limits.max_sessions,
        session_idle_timeout=limits.session_idle_timeout,
    )
    if not stateless:
        evict_oldest_idle(server.session_manager)
    quiet_client_disconnects()
    return RequestGuard(app, HostRules(security.allowed_hosts, security.allowed_origins), token)


def check_address(host: str, port: int) -> None:
    """ServeError where --host is no address at all (999.1.1.1: neither an IP address nor a name that resolves),
    before anything else is said of it, such as that it is not a loopback address."""
    try:
        socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):  # UnicodeError: a name IDNA cannot encode
        raise ServeError(_not_an_address(host)) from None


def _not_an_address(host: str) -> str:
    return (f"--host {cut_short(host)} is not an address: neither an IP address nor a host name that resolves. "
            "Accepted: an address of this machine, such as 127.0.0.1 (loopback) or 0.0.0.0 (every interface), or a "
            "name that resolves to one.")


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port as uvicorn would bind it (listening starts with the server);
    ServeError when it cannot be."""
    # proto=IPPROTO_TCP: asyncio then sets TCP_NODELAY on accepted connections (with proto 0 it does
    # not, and every response waits ~40 ms for a delayed ACK).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a TIME_WAIT port, not a taken one
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        where = f"cannot serve on {host}:{port}"
        if isinstance(exc, socket.gaierror):
            raise ServeError(_not_an_address(host)) from None
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"{where}: the port is already in use. Stop what holds it or pick another --port.") from None
        raise ServeError(f"{where}: {exc.strerror or exc}.") from None
    return sock


def serve(
    server: MCPServer,
    host: str,
    port: int,
    token: str | None,
    allowed_hosts: list[str],
    stateless: bool = False,
    limits: HttpLimits | None = None,
) -> None:
    import uvicorn

    limits = limits or HttpLimits()
    check_address(host, port)
    app = build_app(server, host, port, token, allowed_hosts, stateless=stateless, limits=limits)
    sock = bind(host, port)
    where = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    logger.warning("serving MCP over streamable HTTP at %s/mcp (health: %s%s)%s", where, where, HEALTH_PATH,
                   " (bearer token required)" if token else "")
    runner = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(limits)))
    caught: list[int] = []
    handle_exit = runner.handle_exit  # installed as the signal handler while serving

    def record(sig: int, frame: Any) -> None:
        caught.append(sig)
        handle_exit(sig, frame)

    runner.handle_exit = record  # type: ignore[method-assign]
    runner.run(sockets=[sock])
    if signal.SIGINT in caught:
        # uvicorn re-raises the Ctrl-C it caught once it has shut down, but asyncio's own SIGINT handler can swallow
        # it when the serving task has already finished; the CLI's exit status must say "interrupted" either way.
        raise KeyboardInterrupt
