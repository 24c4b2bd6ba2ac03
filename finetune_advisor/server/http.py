"""Streamable HTTP transport with the security rules of DESIGN.md.

Loopback binds keep the SDK's Host/Origin (DNS-rebinding) checks. Any other bind needs
FINETUNE_ADVISOR_HTTP_TOKEN, then every request must carry `Authorization: Bearer <token>`, and
`--allowed-hosts` feeds the Host check. The token is compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from typing import Any

from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from finetune_advisor.errors import ConfigurationError

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
    """Host/Origin checks for this bind; raises ConfigurationError for an unsafe one."""
    if is_loopback(host):
        hosts = ["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*", *allowed_hosts]
        origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
        return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)
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
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=allowed_hosts, allowed_origins=origins)


class BearerTokenMiddleware:
    """ASGI middleware: 401 without a bearer token, 403 with a wrong one."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or ()).get(b"authorization", b"")
        scheme, _, presented = header.partition(b" ")
        if scheme.lower() != b"bearer" or not presented.strip():
            await _reject(send, 401, "missing bearer token", {b"www-authenticate": b'Bearer realm="finetune-advisor"'})
            return
        if not hmac.compare_digest(presented.strip(), self._token):
            client = (scope.get("client") or ("?",))[0]
            logger.warning("refused a request from %s: wrong bearer token", client)
            await _reject(send, 403, "invalid bearer token", {})
            return
        await self.app(scope, receive, send)


async def _reject(send: Any, status: int, message: str, extra: dict[bytes, bytes]) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_app(
    server: MCPServer,
    host: str,
    port: int,
    token: str | None,
    allowed_hosts: list[str],
    stateless: bool = False,
    json_response: bool = False,
) -> Any:
    """The ASGI app serving MCP at /mcp with the checks above."""
    security = security_settings(host, port, token, allowed_hosts)
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=stateless,
        json_response=json_response,
        transport_security=security,
        host=host,
    )
    return BearerTokenMiddleware(app, token) if token else app


def serve(server: MCPServer, host: str, port: int, token: str | None, allowed_hosts: list[str], stateless: bool = False) -> None:
    import uvicorn

    app = build_app(server, host, port, token, allowed_hosts, stateless=stateless)
    logger.warning("serving MCP over streamable HTTP at http://%s:%d/mcp%s", host, port, " (bearer token required)" if token else "")
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")
