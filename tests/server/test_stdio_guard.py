"""Every line a host sends over stdio gets an answer (attack pass A2), a host closing stdout ends the server
quietly (A6), an unknown tool or prompt name is not echoed whole (C1), unknown resource ids are
not-found errors naming what is accepted (C3), and params the SDK refuses, or a request before
`initialize`, are answered naming the member and what is accepted (C2)."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time

import pytest
from live_server import CLI, server_env
from mcp import Client
from mcp.shared.exceptions import MCPError

from finetune_advisor.server import stdio
from finetune_advisor.server.app import NAME_SHOWN, build_server

INITIALIZE = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "guard", "version": "0"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
DEEP_REFUSAL = "Invalid 'architecture': it is nested more than 32 levels deep."


class Server:
    """`finetune-advisor serve` over pipes, its stdout lines read by a thread so every wait has a timeout."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([*CLI, "serve"], env=server_env(), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(b"")

    def send(self, line: bytes | dict) -> None:
        data = json.dumps(line).encode() if isinstance(line, dict) else line
        self.proc.stdin.write(data + b"\n")
        self.proc.stdin.flush()

    def reply(self, timeout: float = 20) -> dict:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no reply within {timeout} s") from None
        assert line, "the server closed stdout"
        return json.loads(line)

    def call(self, line: bytes | dict) -> dict:
        self.send(line)
        return self.reply()

    def close(self) -> tuple[int, bytes]:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode, self.proc.stderr.read()


@pytest.fixture(scope="module")
def server():
    s = Server()
    assert s.call(INITIALIZE)["id"] == 0
    s.send(INITIALIZED)
    yield s
    rc, stderr = s.close()
    assert rc == 0, stderr
    assert b"Traceback" not in stderr


def _tool_call(rid: int, arguments: bytes) -> bytes:
    return (b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"estimate_vram","arguments":'
            % rid) + arguments + b"}}"


def _nested(depth: int) -> bytes:
    return b'{"model":"qwen3-8b","architecture":' + b"[" * depth + b"]" * depth + b"}"


BAD_LINES = [
    # (line, code, id, words in the message)
    (b'{"jsonrpc": "2.0", "id": 1, "method": ', -32700, None, "Parse error"),
    (b"not json at all", -32700, None, "Parse error"),
    (b"\xff\xfe", -32700, None, "Parse error"),
    (_tool_call(16, rb'{"model":"\ud800"}'), -32600, 16, "half of a UTF-16 pair"),
    (_tool_call(17, rb'{"model":"\udc00"}'), -32600, 17, "surrogate"),
    (b'[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]', -32600, None, "batch"),
    (b"[]", -32600, None, "batch"),
    (b"42", -32600, None, "the number 42 is not a JSON-RPC message"),
    (b"null", -32600, None, "null is not a JSON-RPC message"),
    (b'"ping"', -32600, None, "is not a JSON-RPC message"),
    (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', -32600, None, "'id' is 1.5. Accepted: a string or an integer"),
    (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', -32600, None, "'id' is null"),
    (b'{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}', -32600, None, "'id' is {"),
    (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', -32600, None, "'id' is true"),
    (b'{"id":5,"method":"ping"}', -32600, 5, "'jsonrpc' is missing. Accepted: \"2.0\""),
    (b'{"jsonrpc":"1.0","id":"six","method":"ping"}', -32600, "six", "'jsonrpc' is \"1.0\""),
    (b'{"jsonrpc":"2.0","id":7,"method":5}', -32600, 7, "'method' is 5"),
    (b'{"jsonrpc":"2.0","id":8,"method":"tools/call","params":[]}', -32600, 8, "'params': input should be an object"),
    (b'{"jsonrpc":"2.0","id":9}', -32600, 9, "no 'method'"),
    (b'{"jsonrpc":"2.0","id":10,"method":"ping","params":{"_meta":' + b"[" * 300 + b"]" * 300 + b"}}", -32600, 10,
     "'params._meta.0.0.0"),
]


@pytest.mark.parametrize(("line", "code", "rid", "words"), BAD_LINES, ids=[repr(c[0][:40]) for c in BAD_LINES])
def test_a_line_the_sdk_cannot_read_gets_a_jsonrpc_error(server: Server, line: bytes, code: int, rid, words: str) -> None:
    reply = server.call(line)
    assert reply["jsonrpc"] == "2.0" and reply["id"] == rid, reply
    assert reply["error"]["code"] == code and words in reply["error"]["message"], reply
    assert len(json.dumps(reply)) < 1000
    assert server.call({"jsonrpc": "2.0", "id": 1000, "method": "ping"}) == {"jsonrpc": "2.0", "id": 1000, "result": {}}


PARAMS_REFUSED = [
    # (method, params, the message): the SDK answered each '-32602 Invalid request parameters', data ""
    ("tools/call", {"name": "detect_gpus", "arguments": [1, 2]},
     "Invalid 'arguments' in tools/call: got [1, 2]. Accepted: an object (the tool's arguments by name, such as "
     '{"model": "qwen3-8b"}).'),
    ("tools/call", {"name": "detect_gpus", "arguments": "x"}, "Invalid 'arguments' in tools/call: got \"x\". Accepted: an object"),
    ("tools/call", {"name": None, "arguments": {}},
     "Invalid 'name' in tools/call: got null. Accepted: a string (a tool's name, as tools/list gives it)."),
    ("tools/call", {"arguments": {}}, "Missing 'name' in tools/call. Accepted: a tool's name, as tools/list gives it."),
    ("prompts/get", {"name": "choose_model", "arguments": {"goal": 5}},
     "Invalid 'goal' for prompt choose_model: 5 is not a string. Accepted: text (MCP prompt arguments are strings)."),
    ("prompts/get", {"name": "choose_model", "arguments": {"k" * 5000: 5}}, "Invalid '" + "k" * 37 + "...' for prompt"),
    ("prompts/get", {"name": "choose_model", "arguments": {"Goal": [1]}}, "Invalid 'Goal' for prompt choose_model: [1]"),
    ("completion/complete", {"ref": {"type": "ref/bogus"}, "argument": {"name": "model", "value": "q"}},
     "Invalid 'ref.type' in completion/complete: got \"ref/bogus\". Accepted: 'ref/prompt' or 'ref/resource'."),
    ("resources/read", {"uri": 5}, "Invalid 'uri' in resources/read: got 5. Accepted: a string."),
]


@pytest.mark.parametrize(("method", "params", "words"), PARAMS_REFUSED, ids=[f"{c[0]} {str(c[1])[:30]}" for c in PARAMS_REFUSED])
def test_params_the_sdk_refuses_are_answered_naming_the_member(server: Server, method: str, params: dict, words: str) -> None:
    reply = server.call({"jsonrpc": "2.0", "id": 40, "method": method, "params": params})
    assert reply["id"] == 40 and reply["error"]["code"] == -32602, reply
    assert words in reply["error"]["message"] and reply["error"].get("data") in (None, ""), reply
    assert len(json.dumps(reply)) < 1000


def test_a_request_before_initialize_says_to_initialize_first() -> None:
    s = Server()
    try:
        for rid, method in enumerate(("tools/list", "tools/call", "prompts/get"), 1):
            reply = s.call({"jsonrpc": "2.0", "id": rid, "method": method, "params": {"name": "detect_gpus"}})
            assert reply["id"] == rid and reply["error"]["code"] == -32602, reply
            assert reply["error"]["message"].startswith(f"'{method}' before 'initialize': this connection has not been "
                                                        "initialized. Accepted: an 'initialize' request first"), reply
        assert s.call({"jsonrpc": "2.0", "id": 9, "method": "ping"}) == {"jsonrpc": "2.0", "id": 9, "result": {}}
        assert s.call(INITIALIZE)["result"]["serverInfo"]["name"] == "finetune-advisor"
        s.send(INITIALIZED)
        assert "tools" in s.call({"jsonrpc": "2.0", "id": 10, "method": "tools/list"})["result"]
    finally:
        rc, stderr = s.close()
    assert rc == 0 and b"Traceback" not in stderr, stderr


@pytest.mark.parametrize("depth", [40, 150, 200, 300, 5000, 1_000_000])
def test_arguments_nested_at_any_depth_are_refused_by_name(server: Server, depth: int) -> None:
    """pydantic-core reads about 200 levels; beyond, the SDK dropped the line. The README's promise holds at any depth."""
    reply = server.call(_tool_call(depth, _nested(depth)))
    assert reply["id"] == depth
    assert reply["result"]["isError"] is True
    assert reply["result"]["content"][0]["text"].startswith(DEEP_REFUSAL)


def test_a_line_longer_than_an_http_body_is_skipped_and_answered(server: Server) -> None:
    big = _tool_call(21, b'{"model":"' + b"x" * (stdio.MAX_LINE_BYTES + 10) + b'"}')
    start = time.monotonic()
    reply = server.call(big)
    assert time.monotonic() - start < 10
    assert reply["id"] == 21 and reply["error"]["code"] == -32600
    assert f"at most {stdio.MAX_LINE_BYTES} bytes" in reply["error"]["message"]
    # the rest of that line was skipped, not read as the next message
    ok = server.call({"jsonrpc": "2.0", "id": 22, "method": "tools/call", "params": {"name": "detect_gpus", "arguments": {}}})
    assert ok["id"] == 22 and ok["result"]["structuredContent"]["source"] in {"none", "nvml"}


def test_blank_lines_are_skipped_and_valid_lines_pass_untouched(server: Server) -> None:
    server.send(b"   ")
    server.send(b"")
    reply = server.call(b'  {"jsonrpc":"2.0","id":"s","method":"tools/call","params":{"name":"estimate_vram",'
                        b'"arguments":{"model":"qwen3-8b","architecture":' + b"[" * 40 + b"]" * 40 + b"}}}\r")
    assert reply["id"] == "s" and reply["result"]["content"][0]["text"].startswith(DEEP_REFUSAL)


def test_a_host_closing_stdout_ends_the_server_quietly() -> None:
    """It died with a BrokenPipeError ExceptionGroup traceback; now it stops as the CLI does for `| head`: 141."""
    proc = subprocess.Popen([*CLI, "serve"], env=server_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    watchdog = threading.Timer(60, proc.kill)  # a hung server ends the reads below
    watchdog.start()
    try:
        proc.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["id"] == 0
        proc.stdout.close()
        # stdin stays open: the server must not wait for it to close
        proc.stdin.write(json.dumps(INITIALIZED).encode() + b"\n" + b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}\n')
        proc.stdin.flush()
        proc.wait(timeout=30)
        stderr = proc.stderr.read()
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
        proc.stdin.close()
    assert proc.returncode == 141, stderr
    assert stderr == b"", stderr


# -- the pieces, in process ---------------------------------------------------------------------------


def test_cap_depth_cuts_only_what_is_too_deep() -> None:
    assert stdio.cap_depth("[[[[1]]]]", 2) == ('[["(nested too deep: cut)"]]', 1)
    assert stdio.cap_depth('{"a":[[[1]]],"b":"[[[[",  "c":[2]}', 2) == ('{"a":["(nested too deep: cut)"],"b":"[[[[",  "c":[2]}', 1)
    assert stdio.cap_depth("[1,[2]]", 5) == ("[1,[2]]", 0)
    assert stdio.cap_depth("[[[", 1) is None
    assert stdio.cap_depth("]]", 1) is None


def test_sniff_id_reads_only_a_top_level_id() -> None:
    assert stdio.sniff_id('{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"argu') == 12
    assert stdio.sniff_id('{"jsonrpc":"2.0", "id" : "a\\"b", "par') == 'a"b'
    assert stdio.sniff_id('{"params":{"id":3},"id":4,') == 4
    assert stdio.sniff_id('{"params":{"id":3,"x":"xxxxxxx') is None
    assert stdio.sniff_id('{"id":1.5,') is None
    assert stdio.sniff_id('[{"id":1}]') is None


def test_line_splitter_is_bounded() -> None:
    data = iter([b'{"a":1}\n{"b"', b":2}\n" + b"x" * 50, b"x" * 50 + b"\nlast"])
    splitter = stdio.LineSplitter(lambda n: next(data, b""), limit=60)
    assert splitter.next() == b'{"a":1}'
    assert splitter.next() == b'{"b":2}'
    overlong = splitter.next()
    assert isinstance(overlong, stdio.Overlong) and overlong.size == 100
    assert splitter.next() == b"last"
    assert splitter.next() is None


def test_screen_passes_valid_lines_untouched() -> None:
    line = '{"jsonrpc":"2.0","id":3,"method":"tools/list"}'
    assert stdio.screen(line) is line
    assert stdio.screen(" \t") is None


def test_responses_are_never_answered() -> None:
    """An error answering an error could bounce between two peers for ever: a bad response is dropped."""
    good = '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}'
    assert stdio.screen(good) is good
    assert stdio.screen('{"jsonrpc":"2.0","id":1.5,"error":{"code":"x"}}') is None
    assert stdio.screen('{"jsonrpc":"1.0","id":4,"result":{}}') is None
    assert stdio.screen('{"jsonrpc":"2.0","id":4,"result":' + "[" * 300 + "]" * 300 + "}") is None


# -- C1 and C3, in process ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_unknown_tool_or_prompt_name_is_cut_when_echoed() -> None:
    name = "x" * 1_000_000
    async with Client(build_server()) as client:
        result = await client.call_tool(name, {})
        text = result.content[0].text
        assert result.is_error and len(text) < 400
        assert f"the first {NAME_SHOWN} of its 1000000 characters" in text and "Accepted: recommend_model" in text
        with pytest.raises(MCPError) as info:
            await client.get_prompt("y" * 100_000, {})
        assert len(str(info.value)) < 400 and "of its 100000 characters" in str(info.value)
        short = await client.call_tool("no_such_tool", {})
        assert short.content[0].text.startswith("Unknown tool 'no_such_tool'. Accepted:")


@pytest.mark.anyio
@pytest.mark.parametrize(("uri", "words"), [
    ("catalog://models/nope", "Unknown 'model_id' 'nope': not in the catalog"),
    ("catalog://models/", "Unknown 'model_id' ''"),
    ("catalog://models/evil/nope", "Unknown 'model_id' 'evil/nope'"),
    ("licenses://", "Unknown 'license_id' ''"),
    ("licenses://nope", "Unknown 'license_id' 'nope'"),
    ("licenses://a/b", "Unknown resource 'licenses://a/b'. Accepted: gpu://local, catalog://models, "
                       "catalog://models/{model_id}, licenses://{license_id}."),
    ("nope://x", "Unknown resource 'nope://x'. Accepted:"),
])
async def test_unknown_resources_are_not_found_errors_naming_what_is_accepted(uri: str, words: str) -> None:
    async with Client(build_server()) as client:
        with pytest.raises(MCPError) as info:
            await client.read_resource(uri)
    assert info.value.error.code == -32602  # was -32603 (internal error) for unknown ids
    assert words in info.value.error.message and "Accepted:" in info.value.error.message


@pytest.mark.anyio
async def test_a_repo_id_reads_the_catalog_entry_it_names() -> None:
    """The unknown-id error offers "a Hugging Face repo id", which the {model_id} template could not hold."""
    async with Client(build_server()) as client:
        result = await client.read_resource("catalog://models/unsloth/Qwen3-8B")
    assert str(result.contents[0].uri) == "catalog://models/unsloth/Qwen3-8B"
    assert json.loads(result.contents[0].text)["id"] == "qwen3-8b"
