"""Bounds on every HTTP connection and MCP session, so that no client can hold the server.

uvicorn times out idle keep-alive connections but nothing else: a client could connect and send
nothing, trickle its headers (slowloris) or never finish a body, and 1,100 such connections ran
the process out of file descriptors. `ConnectionBounds` (mixed into uvicorn's h11 protocol)
closes a connection that has not sent its request headers `header_timeout` seconds after it
connected or after its last response, or its body `body_timeout` seconds after the headers (answered
408 first, with a JSON-RPC error, when nothing has been answered yet; `QuietClientDisconnect` keeps the SDK from
logging a traceback for the request it was still reading). At
`max_connections` a new connection first sheds the oldest one that is not being served (a silent,
slow or idle one: a client without the token never gets further, since its request is answered at
once); only when every connection is busy serving a request is the new one closed.

The SDK keeps at most `max_sessions` MCP sessions and answers 503 beyond them until one expires (30
minutes idle), so 10,000 quick initializes locked new clients out. `evict_oldest_idle` makes room
instead: the session idle longest is ended (its id then answers 404, and its client initializes
again); 503 remains only when every session has a request in flight.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h11
from mcp.server import streamable_http
from mcp.types import INVALID_REQUEST
from starlette.requests import ClientDisconnect

logger = logging.getLogger(__name__)


# The most connections `serve --max-connections` accepts: each is an open file, and far beyond this no
# process gets the file descriptors (half of it is also the listen backlog, which must fit a C int).
MAX_CONNECTIONS = 65536


def open_file_limit() -> int | None:
    """The files this process may open (the soft RLIMIT_NOFILE, `ulimit -n`); None where any number (unlimited, or
    Windows, which has no such limit)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def connection_room(files: int | None) -> int | None:
    """The most connections a process that may open `files` files can hold: half of them (the rest is the server's
    own: the listening socket, caches, the Hub), at least 16; None for any number. Beyond it the cap bounds nothing:
    the process runs out of files first, as 1,100 silent connections once made it do."""
    return None if files is None else max(16, files // 2)


def _default_max_connections() -> int:
    """512, or fewer where the process may open fewer files (`connection_room`)."""
    return min(512, connection_room(open_file_limit()) or 512)


@dataclass(frozen=True)
class HttpLimits:
    """What one HTTP client may hold; the defaults are what `serve` uses."""

    header_timeout: float = 10.0  # seconds to send a request's headers, from connecting or the last response
    body_timeout: float = 30.0  # seconds to send its body once the headers are in
    keep_alive: int = 5  # seconds an idle keep-alive connection stays open
    max_header_bytes: int = 16 * 1024  # request line and headers
    max_body_bytes: int = 4 * 1024 * 1024  # one JSON-RPC message
    max_connections: int = field(default_factory=_default_max_connections)
    max_sessions: int = 1000
    session_idle_timeout: float = 30 * 60.0  # seconds before an idle MCP session ends


class ConnectionBounds:
    """Mixed into uvicorn's h11 protocol by `protocol_for`: header and body deadlines and the
    connection cap. (A mixin, so that uvicorn is imported only when HTTP is served.)"""

    limits: HttpLimits
    connections: set[Any]
    conn: h11.Connection
    cycle: Any
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    client: tuple[str, int] | None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._opened = time.monotonic()
        self._refused = False
        if self._open_connections() >= self.limits.max_connections and not self._shed_one():
            logger.warning("refused a connection: %d connections are all being served", len(self.connections))
            self._refused = True
            transport.close()
            return
        super().connection_made(transport)  # type: ignore[misc]
        self._arm(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        waiting = self.conn.their_state
        super().data_received(data)  # type: ignore[misc]
        now = self.conn.their_state
        if now is h11.SEND_BODY and waiting is not h11.SEND_BODY:
            self._arm(self.limits.body_timeout)  # headers are in: the body has its own deadline
        elif now is not h11.IDLE and now is not h11.SEND_BODY:
            self._disarm()  # the whole request is in: the application answers in its own time

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm(self.limits.header_timeout)  # the next request's headers, on a kept-alive connection

    def serving(self) -> bool:
        """True while a request is being answered (the only state a connection cannot be shed in)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _open_connections(self) -> int:
        return sum(1 for c in self.connections if not c.transport.is_closing())

    def _shed_one(self) -> bool:
        """Close the oldest connection that is not being served; False when there is none."""
        idle = [c for c in self.connections
                if isinstance(c, ConnectionBounds) and not c.serving() and not c.transport.is_closing()]
        if not idle:
            return False
        min(idle, key=lambda c: c._opened)._close("shed to make room for a new connection")
        return True

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.serving():  # silent, trickling headers, or trickling a body already answered (401)
            self._close(f"no request within {self.limits.header_timeout:g} s")
        elif self.conn.their_state is h11.SEND_BODY:
            if not self.cycle.response_started:  # the application is still waiting for the body
                self._answer_timeout()
            self._close(f"request body not complete within {self.limits.body_timeout:g} s")

    def _answer_timeout(self) -> None:
        """408 with a JSON-RPC error naming the deadline, written as uvicorn writes its own 400 (`send_400_response`);
        the application, waiting for the rest of the body, then reads a disconnect and its answer goes nowhere."""
        seconds = f"{self.limits.body_timeout:g}"
        body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": (
            f"Request Timeout: the request body was not complete {seconds} s after its headers. Accepted: a body sent "
            f"in full within {seconds} s of its headers.")}}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        try:
            for event in (h11.Response(status_code=408, headers=headers, reason=b"Request Timeout"), h11.Data(data=body),
                          h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
        except h11.LocalProtocolError:  # pragma: no cover - no response has started, so h11 takes one
            return
        self.cycle.disconnected = True
        self.cycle.message_event.set()

    def _close(self, reason: str) -> None:
        logger.info("closing a connection from %s: %s", (self.client or ("?",))[0], reason)
        if self.transport.is_closing():
            return
        try:
            self.conn.send(h11.ConnectionClosed())
        except h11.LocalProtocolError:
            pass  # mid-response: just drop the connection
        self.transport.close()


class QuietClientDisconnect(logging.Filter):
    """On the SDK's streamable-HTTP logger: a record whose exception is starlette's ClientDisconnect becomes one DEBUG
    line of ours; every other record (any other exception included) passes untouched.

    When a body misses its deadline, `_answer_timeout` answers 408 and marks the request disconnected, and
    `_close` logs that in one line. The SDK, still reading that body, then gets ClientDisconnect and logs "Error
    handling POST request" at ERROR with a full traceback: noise for an event already handled and logged. A client
    that hangs up mid-body on its own is no server error either."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not (record.exc_info and isinstance(record.exc_info[1], ClientDisconnect)):
            return True
        logger.debug("%s: the client disconnected before its request body was complete", record.getMessage())
        return False


_QUIET = QuietClientDisconnect()


def quiet_client_disconnects() -> None:
    """Put `QuietClientDisconnect` on the SDK's streamable-HTTP logger (once: addFilter skips a filter already there)."""
    streamable_http.logger.addFilter(_QUIET)


def protocol_for(limits: HttpLimits) -> type[asyncio.Protocol]:
    """The protocol class uvicorn instantiates per connection: its h11 protocol bound to these limits."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return type("BoundedH11Protocol", (ConnectionBounds, H11Protocol), {"limits": limits})


def uvicorn_options(limits: HttpLimits) -> dict[str, Any]:
    """uvicorn.Config keyword arguments that apply these limits."""
    return {
        "http": protocol_for(limits),
        "timeout_keep_alive": limits.keep_alive,
        "h11_max_incomplete_event_size": limits.max_header_bytes,
        # asyncio accepts up to `backlog` connections in one go before any is shed, so the backlog
        # bounds how far a burst can overshoot max_connections in open files.
        "backlog": max(16, limits.max_connections // 2),
        "ws": "none",
        "lifespan": "on",
        "log_config": None,  # uvicorn logs through the root logger, to stderr like ours
        "log_level": "warning",
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": 5,  # open event streams do not hold a stopping server
        # X-Forwarded-For is believed from a proxy on this machine only (uvicorn's default, stated here
        # rather than left to its FORWARDED_ALLOW_IPS variable).
        "forwarded_allow_ips": "127.0.0.1",
    }


def evict_oldest_idle(manager: Any) -> None:
    """Make the SDK's session manager end its longest-idle session when a new one would pass
    `max_sessions`, instead of answering 503 until one expires."""
    admit: Callable[[Any], Any] = manager._admit_session

    def admit_evicting(requestor: Any) -> Any:
        if manager.max_sessions is not None and len(manager._server_instances) >= manager.max_sessions:
            _end_longest_idle(manager)
        return admit(requestor)

    manager._admit_session = admit_evicting


def _end_longest_idle(manager: Any) -> None:
    # An idle session's idle_scope deadline is its last request's end plus the idle timeout, so the
    # smallest deadline is the longest idle; a session with a request in flight has no deadline.
    idle = [(t.idle_scope.deadline, sid) for sid, t in manager._server_instances.items()
            if t.idle_scope is not None and math.isfinite(t.idle_scope.deadline)]
    if not idle:
        return
    _, session_id = min(idle)
    transport = manager._server_instances.pop(session_id)
    manager._session_owners.pop(session_id, None)
    transport.idle_scope.cancel()  # ends its server task, which terminates the transport
    logger.info("ended idle session %s to make room for a new one", session_id[:8])
