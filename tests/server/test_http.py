"""Streamable HTTP: the SDK client, Host/Origin checks, the bearer-token rules, the health check, a
taken port, and answers that say they describe the server's machine."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import httpx2
import pytest
from live_server import CLI, free_port, http_server, running_app, server_env
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

INIT = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.mark.anyio
@pytest.mark.parametrize("stateless", [False, True])
async def test_sdk_client_over_http(stateless: bool) -> None:
    with http_server(*(["--stateless"] if stateless else [])) as url:
        for mode in ("auto", "legacy"):
            async with Client(url, mode=mode) as client:
                assert "detect_gpus" in {t.name for t in (await client.list_tools()).tools}
                result = await client.call_tool("detect_gpus", {})
                assert not result.is_error and result.structured_content["source"] in {"none", "nvml"}


def test_loopback_refuses_forged_host_and_origin() -> None:
    with http_server() as url:
        port = url.split(":")[2].split("/")[0]
        ok = httpx2.post(url, json=INIT, headers=HEADERS, timeout=10)
        assert ok.status_code == 200
        forged = httpx2.post(url, json=INIT, headers={**HEADERS, "Host": "evil.example.com"}, timeout=10)
        assert forged.status_code in (421, 403)
        rebinding = httpx2.post(url, json=INIT, headers={**HEADERS, "Host": f"attacker.example:{port}"}, timeout=10)
        assert rebinding.status_code in (421, 403)
        cross_origin = httpx2.post(url, json=INIT, headers={**HEADERS, "Origin": "https://evil.example.com"}, timeout=10)
        assert cross_origin.status_code == 403


def test_non_loopback_without_token_is_refused_at_start_up() -> None:
    proc = subprocess.run(
        [*CLI, "serve", "--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())],
        env=server_env(), capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 2
    assert "FINETUNE_ADVISOR_HTTP_TOKEN" in proc.stderr
    assert proc.stdout == ""


def test_non_loopback_with_token_but_no_allowed_hosts_is_refused() -> None:
    proc = subprocess.run(
        [*CLI, "serve", "--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())],
        env=server_env(FINETUNE_ADVISOR_HTTP_TOKEN="s3cret-token-value-long-enough-for-the-32-char-rule"), capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 2 and "--allowed-hosts" in proc.stderr
    assert "s3cret-token-value-long-enough-for-the-32-char-rule" not in proc.stderr


@pytest.mark.anyio
async def test_token_rules_on_a_non_loopback_bind(tmp_path) -> None:
    token = "s3cret-token-value-long-enough-for-the-32-char-rule"
    log = tmp_path / "server.log"
    env = server_env(FINETUNE_ADVISOR_HTTP_TOKEN=token, FINETUNE_ADVISOR_LOG_LEVEL="DEBUG")
    port_probe = free_port()
    with http_server("--host", "0.0.0.0", "--allowed-hosts", f"127.0.0.1:*,advisor.test:{port_probe}", env=env, log=log) as url:
        missing = httpx2.post(url, json=INIT, headers=HEADERS, timeout=10)
        assert missing.status_code == 401 and "bearer" in missing.headers.get("www-authenticate", "").lower()
        wrong = httpx2.post(url, json=INIT, headers={**HEADERS, "Authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code in (401, 403)
        not_bearer = httpx2.post(url, json=INIT, headers={**HEADERS, "Authorization": f"Basic {token}"}, timeout=10)
        assert not_bearer.status_code == 401
        forged = httpx2.post(
            url, json=INIT, headers={**HEADERS, "Authorization": f"Bearer {token}", "Host": "evil.example.com"}, timeout=10
        )
        assert forged.status_code in (421, 403)
        authed = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        async with Client(streamable_http_client(url, http_client=authed), mode="legacy") as client:
            result = await client.call_tool("detect_gpus", {})
            assert not result.is_error
    assert token not in log.read_text()


@pytest.mark.parametrize(
    ("host", "origin", "status"),
    [
        ("localhost:{port}", None, 200),
        ("localhost:{port}", "http://localhost:3000", 200),
        ("localhost:evil.com", None, 421),  # the SDK's prefix match let this through as localhost:*
        ("localhost:{port}:1", None, 421),
        ("localhost.evil.com:{port}", None, 421),
        ("127.0.0.1.evil.com:{port}", None, 421),
        ("localhost:{port}", "http://localhost:evil.com", 403),
        ("localhost:{port}", "http://localhost.evil.com:3000", 403),
        ("localhost:{port}", "null", 403),
    ],
)
def test_host_and_origin_patterns_match_whole_host_names(host: str, origin: str | None, status: int) -> None:
    with running_app() as (url, _):
        port = url.split(":")[2].split("/")[0]
        headers = {**HEADERS, "Host": host.format(port=port), **({"Origin": origin} if origin else {})}
        assert httpx2.post(url, json=INIT, headers=headers, timeout=10).status_code == status


def test_repeated_token_failures_are_throttled_per_address_and_logged_at_a_bounded_rate(caplog) -> None:
    from finetune_advisor.server.http_guard import MAX_FAILURES

    token = "k" * 40
    caplog.set_level("INFO")
    with running_app(token=token, rules_host="0.0.0.0", allowed_hosts=["127.0.0.1:*"]) as (url, _):
        with httpx2.Client(timeout=10) as http:
            codes = [http.post(url, json=INIT, headers={**HEADERS, "Authorization": f"Bearer guess-{i}"}).status_code
                     for i in range(MAX_FAILURES + 15)]
            throttled = http.post(url, json=INIT, headers=HEADERS)
            served = http.post(url, json=INIT, headers={**HEADERS, "Authorization": f"Bearer {token}"})
    assert codes == [403] * MAX_FAILURES + [429] * 15
    assert throttled.status_code == 429 and 1 <= int(throttled.headers["retry-after"]) <= 61
    assert served.status_code == 200  # a neighbour's failures do not lock out the right token
    refusals = [r for r in caplog.records if r.name == "finetune_advisor.server.http_guard"]
    assert len(refusals) == 1 and "wrong bearer token" in refusals[0].getMessage()
    assert token not in caplog.text and "guess-" not in caplog.text


def test_healthz_answers_without_a_token() -> None:
    env = server_env(FINETUNE_ADVISOR_HTTP_TOKEN="h" * 40)
    with http_server("--host", "0.0.0.0", "--allowed-hosts", "127.0.0.1:*", env=env) as url:
        health = url.replace("/mcp", "/healthz")
        got = httpx2.get(health, timeout=10)
        assert got.status_code == 200 and got.json() == {"status": "ok"}
        assert httpx2.head(health, timeout=10).status_code == 200
        assert httpx2.post(url, json=INIT, headers=HEADERS, timeout=10).status_code == 401  # /mcp still needs it


def test_a_taken_port_fails_at_once_in_one_line() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        start = time.monotonic()
        proc = subprocess.run([*CLI, "serve", "--transport", "http", "--port", str(port)], env=server_env(),
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (f"finetune-advisor: cannot serve on 127.0.0.1:{port}: the port is already in use. "
                           "Stop what holds it or pick another --port.\n")
    assert time.monotonic() - start < 30  # it used to log "serving" first and exit 3 after start-up


def test_params_the_sdk_refuses_are_answered_naming_the_member_over_http_too() -> None:
    """The attack pass's C2 over HTTP: `arguments` as a list got the SDK's bare '-32602 Invalid request parameters'."""
    with running_app() as (url, _):
        opened = httpx2.post(url, json=INIT, headers=HEADERS, timeout=10)
        session = {**HEADERS, "Mcp-Session-Id": opened.headers["mcp-session-id"], "Mcp-Protocol-Version": "2025-11-25"}
        httpx2.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session, timeout=10)
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "detect_gpus", "arguments": [1]}}
        reply = httpx2.post(url, json=call, headers=session, timeout=10)
    body = reply.text if reply.headers["content-type"].startswith("application/json") else reply.text.split("data: ", 1)[1]
    error = json.loads(body)["error"]
    assert error["code"] == -32602 and error["message"].startswith("Invalid 'arguments' in tools/call: got [1]. Accepted: an object")


def test_a_host_that_is_no_address_says_so_rather_than_that_it_is_not_loopback() -> None:
    """--host 999.1.1.1 was refused as 'not a loopback address, without a token' (the attack pass's C4): it is no
    address at all, and with a token and allowed hosts it failed only at the bind, as a host that 'does not resolve'."""
    for env in (server_env(), server_env(FINETUNE_ADVISOR_HTTP_TOKEN="s3cret-token-value-long-enough-for-the-32-char-rule")):
        proc = subprocess.run([*CLI, "serve", "--transport", "http", "--host", "999.1.1.1", "--port", str(free_port()),
                               "--allowed-hosts", "advisor.internal"], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1 and proc.stdout == "" and proc.stderr.count("\n") == 1
        assert proc.stderr.startswith("finetune-advisor: --host 999.1.1.1 is not an address: neither an IP address")
        assert "Accepted: an address of this machine, such as 127.0.0.1" in proc.stderr and "loopback address" not in proc.stderr


@pytest.mark.anyio
async def test_over_http_gpus_are_the_servers_and_no_gpu_is_assumed(no_gpu: None) -> None:
    with http_server() as url:
        async with Client(url, mode="legacy") as client:
            assert "describe the server's machine" in (client.instructions or "")
            gpus = (await client.call_tool("detect_gpus", {})).structured_content
            assert gpus["machine"] == "server" and "not necessarily the user's" in gpus["note"]
            resource = await client.read_resource("gpu://local")
            assert json.loads(resource.contents[0].text)["machine"] == "server"
            rec = (await client.call_tool("recommend_model", {"task": "chat"})).structured_content
            assert rec["gpu_source"] == "unknown" and "over HTTP" in rec["gpu"]
            assert all(r["fits"] is None for r in rec["recommendations"])
            est = (await client.call_tool("estimate_vram", {"model": "qwen3-8b"})).structured_content
            assert est["fits"] is None and "over HTTP" in est["gpu"]
            given = (await client.call_tool("estimate_vram", {"model": "qwen3-8b", "gpu_memory_gib": 24})).structured_content
            assert given["fits"] is True
