"""The first thing every HTTP request meets: the health check, the bearer token, the Host and Origin
rules. All of it reads headers only, so a request that fails costs a few microseconds and never
reaches the MCP session machinery (or reads its body).

- `GET /healthz` answers `{"status": "ok"}` without a token: it says nothing but that the server is up.
- The token is compared in constant time and never logged. A client address that keeps failing
  (more than `MAX_FAILURES` in `FAILURE_WINDOW` seconds; IPv6 counted per /64) gets 429 with
  Retry-After for its failing requests; a correct token is still served, so a neighbour behind the
  same address cannot lock a client out. Failures are logged at most once per `LOG_INTERVAL`.
- Host and Origin patterns match whole host names: `localhost:*` is `localhost` with a numeric
  port, never `localhost:evil.com` (the SDK's own check compares prefixes).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
MAX_FAILURES = 20
FAILURE_WINDOW = 60.0
LOG_INTERVAL = 60.0
MAX_TRACKED_ADDRESSES = 10_000

# host[:port], host being a bracketed IPv6 address or a DNS name / IPv4 address; a port is digits.
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)(?::([0-9]{1,5}))?")
_ORIGIN = re.compile(r"(https?)://(.+)")


def _split_host(value: str) -> tuple[str, str | None] | None:
    """(lower-cased host name, port or None) of a Host header or a pattern's host part; None if malformed."""
    match = _HOST.fullmatch(value)
    return (match[1].lower(), match[2]) if match else None


class HostRules:
    """Allowed Host and Origin patterns: `name`, `name:port` or `name:*` (any numeric port), and
    for origins the same after `http://` or `https://`."""

    def __init__(self, hosts: Iterable[str], origins: Iterable[str]) -> None:
        self.hosts = [_pattern(p) for p in hosts]
        self.origins = [(m[1], _pattern(m[2])) for m in map(_ORIGIN.fullmatch, origins) if m]

    def allows_host(self, header: str | None) -> bool:
        return bool(header) and _matches(_split_host(header or ""), self.hosts)

    def allows_origin(self, header: str | None) -> bool:
        if not header:
            return True  # browsers send no Origin on same-origin requests; other clients none at all
        match = _ORIGIN.fullmatch(header)
        if not match:
            return False
        wanted = [p for scheme, p in self.origins if scheme == match[1]]
        return _matches(_split_host(match[2]), wanted)


def _pattern(text: str) -> tuple[str, str | None]:
    """(host name, port, "*" or None) of a pattern; ValueError for one that is not `host[:port|:*]`."""
    wildcard = text.endswith(":*")
    split = _split_host(text[:-2] if wildcard else text)
    if split is None or (wildcard and split[1] is not None):
        raise ValueError(f"{text!r} is not a host pattern")
    return (split[0], "*") if wildcard else split


def _matches(value: tuple[str, str | None] | None, patterns: list[tuple[str, str | None]]) -> bool:
    if value is None:
        return False
    name, port = value
    return any(name == p_name and (port == p_port or (p_port == "*" and port is not None)) for p_name, p_port in patterns)


class FailureLog:
    """Logs refused requests at most once per `interval` seconds, with a count of those not logged."""

    def __init__(self, interval: float = LOG_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.last = -float("inf")
        self.quiet = 0
        self.addresses: set[str] = set()

    def note(self, address: str, reason: str) -> None:
        now = self.clock()
        if now - self.last < self.interval:
            self.quiet += 1
            if len(self.addresses) < 100:
                self.addresses.add(address)
            return
        more = f" (and {self.quiet} more from {len(self.addresses)} address(es) since the last report)" if self.quiet else ""
        logger.warning("refused a request from %s: %s%s", address, reason, more)
        self.last, self.quiet, self.addresses = now, 0, set()


class FailureThrottle:
    """Counts token failures per client address in fixed windows; bounded in memory."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW,
                 clock: Callable[[], float] = time.monotonic, max_tracked: int = MAX_TRACKED_ADDRESSES) -> None:
        self.limit, self.window, self.clock, self.max_tracked = limit, window, clock, max_tracked
        self.windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def retry_after(self, key: str) -> float:
        """Seconds this address must wait, or 0 when it may still fail."""
        start, count = self.windows.get(key, (0.0, 0))
        left = start + self.window - self.clock()
        return left if count >= self.limit and left > 0 else 0.0

    def failed(self, key: str) -> None:
        now = self.clock()
        start, count = self.windows.pop(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        self.windows[key] = (start, count + 1)
        while len(self.windows) > self.max_tracked:
            self.windows.popitem(last=False)


def client_key(scope: dict[str, Any]) -> str:
    """The address failures are counted for: the client IP, or its /64 for IPv6."""
    host = (scope.get("client") or ("unknown",))[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return str(host)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class RequestGuard:
    """ASGI middleware in front of the MCP app: health check, bearer token, Host/Origin rules."""

    def __init__(self, app: Any, rules: HostRules, token: str | None, throttle: FailureThrottle | None = None,
                 failures: FailureLog | None = None) -> None:
        self.app = app
        self.rules = rules
        self._token = token.encode() if token else None
        self.throttle = throttle or FailureThrottle()
        self.failures = failures or FailureLog()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == HEALTH_PATH and scope["method"] in ("GET", "HEAD"):
            await respond(send, 200, {"status": "ok"})
            return
        headers = dict(scope.get("headers") or ())
        if self._token is not None and not await self._authorised(scope, headers, send):
            return
        if not self.rules.allows_host(_text(headers.get(b"host"))):
            await respond(send, 421, {"error": "invalid Host header"})
            return
        if not self.rules.allows_origin(_text(headers.get(b"origin"))):
            await respond(send, 403, {"error": "invalid Origin header"})
            return
        await self.app(scope, receive, send)

    async def _authorised(self, scope: dict[str, Any], headers: dict[bytes, bytes], send: Any) -> bool:
        scheme, _, presented = headers.get(b"authorization", b"").partition(b" ")
        presented = presented.strip()
        if scheme.lower() == b"bearer" and presented and hmac.compare_digest(presented, self._token or b""):
            return True
        key = client_key(scope)
        wait = self.throttle.retry_after(key)
        if wait:
            await respond(send, 429, {"error": "too many failed attempts"}, {b"retry-after": str(int(wait) + 1).encode()})
            return False
        self.throttle.failed(key)
        if scheme.lower() != b"bearer" or not presented:
            self.failures.note(key, "missing bearer token")
            await respond(send, 401, {"error": "missing bearer token"}, {b"www-authenticate": b'Bearer realm="finetune-advisor"'})
        else:
            self.failures.note(key, "wrong bearer token")
            await respond(send, 403, {"error": "invalid bearer token"})
        return False


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


async def respond(send: Any, status: int, payload: dict[str, str], extra: dict[bytes, bytes] | None = None) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *(extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
