"""Streamable HTTP: the SDK client, Host/Origin checks, and the bearer-token rules."""

from __future__ import annotations

import subprocess

import httpx2
import pytest
from live_server import CLI, free_port, http_server, server_env
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
