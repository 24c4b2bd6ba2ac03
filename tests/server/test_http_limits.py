"""The HTTP transport bounds every connection and session (issue 13, item 2): header, body and
keep-alive timeouts, a connection cap that sheds idle connections first, cheap refusals that do not
starve a client with the token, and a session cap that evicts the longest idle session.

Each test runs the real transport (uvicorn with our protocol, the SDK's session manager, our guard)
in this process on 127.0.0.1 with small limits, so every wait is short and bounded."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import replace
from urllib.parse import urlsplit

import anyio
import httpx2
import pytest
from live_server import running_app
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import streamable_http

from finetune_advisor.server.http_limits import HttpLimits, QuietClientDisconnect

TOKEN = "t" * 40
INIT = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
FAST = HttpLimits(header_timeout=0.5, body_timeout=0.5, keep_alive=1)


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=5)


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"", received: list[bytes] | None = None) -> float:
    """Seconds until the server closed `sock` (sending `trickle` every 0.1 s meanwhile, until an answer comes, and
    keeping the answer in `received`); fails after `seconds`."""
    start = time.monotonic()
    sock.settimeout(0.1)
    answered = False
    while time.monotonic() - start < seconds:
        try:
            if trickle and not answered:  # bytes sent to a closed socket would reset it, losing the answer
                sock.sendall(trickle)
            chunk = sock.recv(65536)
            if chunk == b"":
                return time.monotonic() - start
            answered = True
            if received is not None:
                received.append(chunk)
        except TimeoutError:
            continue
        except OSError:  # reset: closed as well
            return time.monotonic() - start
    pytest.fail(f"the server kept the connection open for {seconds} s")


def test_a_silent_connection_is_closed_after_the_header_timeout() -> None:
    with running_app(FAST) as (url, _), _connect(url) as sock:
        assert 0.3 < _closed_within(sock, 5) < 4


def test_headers_trickled_byte_by_byte_are_cut_off() -> None:
    with running_app(FAST) as (url, _), _connect(url) as sock:
        sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert _closed_within(sock, 5, trickle=b"X") < 4  # slowloris: one more header byte every 0.1 s


def test_an_unfinished_body_is_cut_off_with_a_408_that_says_why(caplog: pytest.LogCaptureFixture) -> None:
    """The connection was closed with no answer at all (the attack pass's C6); now a 408 with a JSON-RPC error first.
    The SDK, still reading that body, logged an ERROR with a ClientDisconnect traceback; now one DEBUG line of ours."""
    caplog.set_level(logging.DEBUG, logger="finetune_advisor.server.http_limits")
    with running_app(FAST) as (url, _), _connect(url) as sock:
        port = urlsplit(url).port
        sock.sendall(
            f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json, text/event-stream\r\nContent-Length: 100000\r\n\r\n{{".encode()
        )
        received: list[bytes] = []
        assert _closed_within(sock, 5, trickle=b" ", received=received) < 4
    head, _, body = b"".join(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and b"connection: close" in head
    assert b"content-type: application/json" in head
    assert json.loads(body) == {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": (
        "Request Timeout: the request body was not complete 0.5 s after its headers. Accepted: a body sent in full "
        "within 0.5 s of its headers.")}}
    messages = [r.getMessage() for r in caplog.records if r.name == "finetune_advisor.server.http_limits"]
    assert "closing a connection from 127.0.0.1: request body not complete within 0.5 s" in messages
    assert "Error handling POST request: the client disconnected before its request body was complete" in messages
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "Traceback" not in caplog.text and "ClientDisconnect" not in caplog.text


def test_any_other_error_the_sdk_logs_keeps_its_traceback(caplog: pytest.LogCaptureFixture, monkeypatch) -> None:
    """The filter that quiets ClientDisconnect must not swallow the SDK's other errors."""

    def boom(*_: object) -> bool:
        raise RuntimeError("boom in the SDK")

    monkeypatch.setattr(streamable_http.StreamableHTTPServerTransport, "_check_content_type", boom)
    with running_app(FAST) as (url, _):
        assert any(isinstance(f, QuietClientDisconnect) for f in streamable_http.logger.filters)
        assert httpx2.post(url, json=INIT, headers=HEADERS, timeout=10).status_code == 500
    (record,) = [r for r in caplog.records if r.name == streamable_http.logger.name and r.levelno == logging.ERROR]
    assert record.getMessage() == "Error handling POST request"
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert "Traceback (most recent call last)" in caplog.text and "RuntimeError: boom in the SDK" in caplog.text


def test_an_idle_keep_alive_connection_is_closed() -> None:
    with running_app(FAST) as (url, _), _connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"200" in sock.recv(4096).split(b"\r\n")[0]
        assert _closed_within(sock, 5) < 4


async def _authorised_call(url: str) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=20)
    with anyio.fail_after(30):
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            result = await client.call_tool("check_license", {"license_id": "apache-2.0"})
            assert not result.is_error


def test_idle_connections_beyond_the_cap_are_shed_and_a_client_with_the_token_is_served() -> None:
    limits = replace(HttpLimits(), max_connections=20)  # the default header timeout: only the cap acts
    with running_app(limits, token=TOKEN, rules_host="0.0.0.0", allowed_hosts=["127.0.0.1:*"]) as (url, server):
        idle = [_connect(url) for _ in range(200)]  # 1,100 of these once exhausted the file descriptors
        try:
            time.sleep(0.3)
            assert len(server.server_state.connections) <= 20
            anyio.run(_authorised_call, url)
        finally:
            for sock in idle:
                sock.close()


def test_a_flood_of_requests_without_the_token_does_not_starve_one_with_it() -> None:
    limits = replace(HttpLimits(), max_connections=32)
    with running_app(limits, token=TOKEN, rules_host="0.0.0.0", allowed_hosts=["127.0.0.1:*"]) as (url, _):
        stop = threading.Event()
        refused: list[int] = []

        def flood() -> None:
            with httpx2.Client(timeout=10) as http:
                while not stop.is_set():
                    try:
                        refused.append(http.post(url, json=INIT, headers=HEADERS).status_code)
                    except httpx2.HTTPError:
                        refused.append(0)

        threads = [threading.Thread(target=flood) for _ in range(8)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            for _ in range(3):
                anyio.run(_authorised_call, url)
        finally:
            stop.set()
            for t in threads:
                t.join(15)
        assert len(refused) > 50 and set(refused) <= {401, 429, 0}


def test_connections_being_served_are_not_shed_and_a_new_one_is_refused() -> None:
    limits = replace(HttpLimits(), max_connections=3, body_timeout=30)
    with running_app(limits) as (url, server):
        port = urlsplit(url).port
        busy = [_connect(url) for _ in range(3)]
        try:
            for sock in busy:  # each is being served: headers in, body still coming
                sock.sendall(f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                             "Content-Length: 1000\r\n\r\n{".encode())
            time.sleep(0.3)
            with _connect(url) as extra:
                assert _closed_within(extra, 3) < 2
            assert len(server.server_state.connections) == 3
        finally:
            for sock in busy:
                sock.close()


def _initialize(url: str) -> str:
    response = httpx2.post(url, json=INIT, headers=HEADERS, timeout=10)
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"]


def _ping(url: str, session: str) -> int:
    body = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    headers = {**HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
    return httpx2.post(url, json=body, headers=headers, timeout=10).status_code


def test_at_the_session_cap_the_longest_idle_session_makes_room() -> None:
    with running_app(replace(HttpLimits(), max_sessions=3)) as (url, _):
        sessions = [_initialize(url) for _ in range(10)]  # the SDK alone answers 503 from the 4th on, for 30 minutes
        assert [_ping(url, s) for s in sessions] == [404] * 7 + [200] * 3
        assert _ping(url, _initialize(url)) == 200  # a new client still gets in
        assert _ping(url, sessions[-1]) == 200 and _ping(url, sessions[-3]) == 404  # used recently: kept; idlest: gone


def test_a_session_flood_does_not_lock_out_a_new_client() -> None:
    with running_app(replace(HttpLimits(), max_sessions=5)) as (url, _):
        for _ in range(50):
            _initialize(url)

        async def call() -> None:
            with anyio.fail_after(30):
                async with Client(url, mode="legacy") as client:
                    assert not (await client.call_tool("detect_gpus", {})).is_error

        anyio.run(call)


def test_serve_applies_the_default_limits() -> None:
    from finetune_advisor.server.http_limits import uvicorn_options

    limits = HttpLimits()
    options = uvicorn_options(limits)
    assert options["timeout_keep_alive"] == 5 and options["h11_max_incomplete_event_size"] == 16 * 1024
    assert options["http"].limits is limits and options["http"].__mro__[1].__name__ == "ConnectionBounds"
    assert 16 <= limits.max_connections <= 512 and limits.max_sessions == 1000
    assert options["backlog"] == max(16, limits.max_connections // 2)
    assert limits.header_timeout == 10 and limits.body_timeout == 30


def test_accepted_connections_send_without_delay() -> None:
    # A listening socket made without IPPROTO_TCP left Nagle on for every accepted connection, and
    # each response waited ~40 ms for a delayed ACK (22 requests/s instead of ~1000).
    with running_app() as (url, server), _connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"200" in sock.recv(4096)
        (conn,) = server.server_state.connections
        accepted = conn.transport.get_extra_info("socket")
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
