"""The server spawned over stdio: the SDK client, and raw JSON-RPC where stdout must be pure JSON."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest
from live_server import CLI, server_env
from mcp import Client, StdioServerParameters


def _params() -> StdioServerParameters:
    return StdioServerParameters(command=CLI[0], args=[*CLI[1:], "serve"], env=server_env())


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sdk_client_over_stdio(mode: str) -> None:
    async with Client(_params(), mode=mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "detect_gpus" in names
        result = await client.call_tool("detect_gpus", {})
        assert not result.is_error
        assert result.structured_content["source"] in {"none", "nvml"}


def test_raw_jsonrpc_stdout_is_only_json() -> None:
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "detect_gpus", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 4, "method": "resources/read", "params": {"uri": "gpu://local"}},
        {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "no_such_tool", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 6, "method": "no/such/method"},
    ]
    proc = subprocess.Popen(
        [*CLI, "serve"], env=server_env(FINETUNE_ADVISOR_LOG_LEVEL="DEBUG"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    answered: dict[int, dict] = {}
    lines: list[str] = []
    try:
        for request in requests:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            if "id" not in request:
                continue
            while request["id"] not in answered:  # read until this request's answer arrives
                line = proc.stdout.readline()
                assert line, f"server closed stdout; stderr: {proc.stderr.read()}"
                lines.append(line)
                message = json.loads(line)  # every stdout line must be JSON
                assert message["jsonrpc"] == "2.0"
                if "id" in message:
                    answered[message["id"]] = message
    finally:
        proc.stdin.close()
        proc.wait(timeout=15)
        stderr = proc.stderr.read()
    assert proc.returncode == 0, stderr
    assert answered[1]["result"]["serverInfo"]["name"] == "finetune-advisor"
    assert any(t["name"] == "detect_gpus" for t in answered[2]["result"]["tools"])
    assert answered[3]["result"]["structuredContent"]["source"] in {"none", "nvml"}
    assert json.loads(answered[4]["result"]["contents"][0]["text"])["source"] in {"none", "nvml"}
    assert answered[5]["result"]["isError"] is True
    assert answered[6]["error"]["code"] == -32601
    assert all(line.strip() for line in lines)


# The tools/list answer before issue 14's item 5 reached it (six tools), in bytes on the wire; the README
# reports it beside today's size.
TOOLS_LIST_BYTES_BEFORE = 25_637


def test_tools_list_is_smaller_than_before() -> None:
    """Every conversation pays for tools/list: the JSON-RPC line a host reads, in bytes."""
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "size", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    proc = subprocess.Popen([*CLI, "serve"], env=server_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    watchdog = threading.Timer(60, proc.kill)  # a hung server ends the read below with EOF
    watchdog.start()
    try:
        proc.stdin.write(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
        proc.stdin.flush()  # stdin stays open until the answer is read: EOF would end the session first
        line = b""
        while not line or json.loads(line).get("id") != 2:
            line = proc.stdout.readline()
            assert line, "the server closed stdout before answering tools/list"
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()
    line = line.rstrip(b"\n")
    assert len(json.loads(line)["result"]["tools"]) == 6
    assert len(line) < TOOLS_LIST_BYTES_BEFORE, f"tools/list is {len(line)} bytes, was {TOOLS_LIST_BYTES_BEFORE}"
