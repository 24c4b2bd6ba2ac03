"""MCP over stdio in which every line the host sends gets an answer.

The SDK's stdio transport parses each line itself and silently drops one it cannot read (malformed
JSON, a lone surrogate escape, nesting beyond pydantic-core's recursion limit of about 200 levels, a
batch, a bare number, an `id` of 1.5, null or an object, a missing `"jsonrpc"`), so the host waits
forever for a reply. Here the lines reach the SDK through `GuardedLines`, which screens each one
first (`screen`) and answers what the SDK would drop, on stdout through the SDK's own writer (so
messages never interleave), as JSON-RPC 2.0 asks:

- `-32700 Parse error` with id null for text that is not JSON, worded as the HTTP transport words it;
- `-32600 Invalid Request`, with the request's id when one can be read, for JSON that is not one valid
  message (naming the member at fault and what is accepted);
- a line longer than an HTTP body may be (`HttpLimits.max_body_bytes`) is read no further than that:
  the rest of it is skipped and the answer is `-32600`, with the id when its first 64 KiB hold it.

A tool call whose arguments nest deeper than pydantic-core reads has the excess cut at
`CAP_DEPTH` levels and goes on to the server, whose argument check then refuses the argument by name
exactly as at 40 levels. Every other line that the SDK parses is passed on untouched; blank lines are
skipped, and so is a response (the host's answer to a request of ours) that the SDK cannot read: a response
is never answered. A host that closes stdout ends the server quietly (`BrokenPipeError`, which the CLI turns into
its usual status 141), not with a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import re
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError, jsonrpc_message_adapter
from pydantic import TypeAdapter, ValidationError

from finetune_advisor.server.arguments import MAX_DEPTH
from finetune_advisor.server.http_limits import HttpLimits

logger = logging.getLogger(__name__)

# One JSON-RPC message: as long as an HTTP body may be.
MAX_LINE_BYTES = HttpLimits.max_body_bytes
# Tool arguments nested deeper than pydantic-core reads are cut here (levels from the message itself):
# far below its limit, far above the MAX_DEPTH levels (plus the message, params and arguments) an
# argument may have, so the argument check still refuses what was cut.
CAP_DEPTH = 64
CUT = "(nested too deep: cut)"
_HEAD_CHARS = 64 * 1024  # of an overlong line, what is searched for its id
_CHUNK = 64 * 1024
_SHOWN = 60  # characters of a member's value quoted in an error
_JSON: TypeAdapter[Any] = TypeAdapter(Any)  # pydantic-core's JSON parser, the SDK's


def _parse(text: str) -> Any:
    """`text` parsed as the SDK parses a line; ValueError with pydantic-core's words for what it cannot read."""
    try:
        return _JSON.validate_json(text)
    except ValidationError as exc:
        raise ValueError(str(exc.errors()[0].get("msg", "invalid JSON")).removeprefix("Invalid JSON: ")) from None


# -- what to do with one line ----------------------------------------------------------------------


def screen(line: str) -> str | JSONRPCError | None:
    """The text to hand the SDK (the line itself, or a tool call with its over-deep arguments cut), the
    error to answer instead, or None for a blank line."""
    if not line.strip():
        return None
    try:
        value = _parse(line)  # the SDK's parser, so what passes here parses there
    except ValueError as exc:
        return _unreadable(line, str(exc))
    return _checked(line, value)


def _checked(text: str, value: Any, cut: int = 0) -> str | JSONRPCError | None:
    """`text` (parsed as `value`, with `cut` parts cut) if it is one message the SDK accepts, else the error
    to answer (None for a response the SDK cannot read: responses are never answered)."""
    if isinstance(value, list):
        return _error(None, "a batch (a JSON array) is not accepted. Accepted: one JSON-RPC message object a line; "
                            "MCP has no batches")
    if not isinstance(value, dict):
        return _error(None, f"{_kind(value)} is not a JSON-RPC message. Accepted: one JSON-RPC 2.0 message object a line")
    if "method" not in value and ("result" in value or "error" in value):
        # The host's answer to a request of ours. A response is never answered (two peers answering each
        # other's malformed errors would never stop): one the SDK cannot read is dropped, as it always was.
        try:
            if not cut:
                jsonrpc_message_adapter.validate_json(text, by_name=False)
                return text
        except ValueError as exc:
            logger.debug("dropped a response the SDK cannot read: %s", str(exc).splitlines()[0])
        return None
    raw_id = value.get("id")
    rid = raw_id if isinstance(raw_id, str) or (isinstance(raw_id, int) and not isinstance(raw_id, bool)) else None
    if "id" in value and rid is None:
        return _error(None, f"'id' is {_show(raw_id)}. Accepted: a string or an integer")
    if value.get("jsonrpc") != "2.0":
        got = "missing" if "jsonrpc" not in value else _show(value["jsonrpc"])
        return _error(rid, f"'jsonrpc' is {got}. Accepted: \"2.0\"")
    if "method" in value and not isinstance(value["method"], str):
        return _error(rid, f"'method' is {_show(value['method'])}. Accepted: a string such as \"tools/call\"")
    if cut:
        where = _cut_paths(value)
        arguments = [p for p in where if p[:2] == ["params", "arguments"] and len(p) > 2]
        if value.get("method") != "tools/call" or len(arguments) != cut:
            shown = ".".join(str(p) for p in (where or [["params"]])[0])
            shown = shown if len(shown) <= _SHOWN else shown[:_SHOWN - 3] + "..."
            return _error(rid, f"'{shown}' is nested more than {CAP_DEPTH} levels deep. Accepted: messages nested at "
                               f"most {CAP_DEPTH} levels (tool arguments at most {MAX_DEPTH})")
    try:
        jsonrpc_message_adapter.validate_json(text, by_name=False)
    except ValidationError as exc:
        return _error(rid, _explain(value, exc))
    except ValueError as exc:  # pragma: no cover - parsed above; kept so that no line goes unanswered
        return _error(rid, str(exc))
    return text


def _unreadable(line: str, problem: str) -> str | JSONRPCError | None:
    if "recursion limit" in problem:
        capped = cap_depth(line, CAP_DEPTH)
        if capped is not None:
            text, cut = capped
            try:
                value = _parse(text)
            except ValueError:
                pass
            else:
                return _checked(text, value, cut)
    try:  # JSON by the RFC that pydantic-core refuses (a lone surrogate escape): the id can still be read
        value = json.loads(line)
    except (ValueError, RecursionError):
        return _error(None, f"{problem}", code=PARSE_ERROR)
    rid = _id_of(value)
    if "surrogate" in problem or "hex escape" in problem:
        problem += " (a \\ud800-\\udfff escape is half of a UTF-16 pair: alone it is not a character)"
    return _error(rid, f"{problem}. Accepted: JSON text whose strings are Unicode text")


def overlong(head: str, size: int) -> JSONRPCError:
    """The answer to a line of `size` bytes, more than MAX_LINE_BYTES; `head` is how it began."""
    return _error(sniff_id(head), f"a message of more than {MAX_LINE_BYTES} bytes ({size} bytes) is too large. "
                                  f"Accepted: one JSON-RPC message a line, at most {MAX_LINE_BYTES} bytes")


def _error(rid: str | int | None, message: str, code: int = INVALID_REQUEST) -> JSONRPCError:
    prefix = "Parse error" if code == PARSE_ERROR else "Invalid Request"
    return JSONRPCError(jsonrpc="2.0", id=rid, error=ErrorData(code=code, message=f"{prefix}: {message}."))


def _id_of(value: Any) -> str | int | None:
    rid = value.get("id") if isinstance(value, dict) else None
    return rid if isinstance(rid, str) or (isinstance(rid, int) and not isinstance(rid, bool)) else None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, (int, float)):
        return f"the number {_show(value)}"
    return f"the string {_show(value)}"


def _show(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):  # pragma: no cover - parsed JSON always dumps
        text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _explain(value: dict[str, Any], exc: ValidationError) -> str:
    """pydantic's errors for the one message kind the object's members say it is."""
    if "method" in value:
        branch, kind = ("JSONRPCRequest", "a request") if "id" in value else ("JSONRPCNotification", "a notification")
    elif "error" in value:
        branch, kind = "JSONRPCError", "an error response"
    elif "result" in value:
        branch, kind = "JSONRPCResponse", "a response"
    else:
        return "the object has no 'method' (a request or notification) and no 'result' or 'error' (a response). " \
               "Accepted: a JSON-RPC 2.0 request, notification or response"
    found = [e for e in exc.errors() if e.get("loc", ())[:1] == (branch,)] or exc.errors()
    parts = []
    for err in found[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ())[1:]) or "message"
        msg = str(err.get("msg", "invalid"))
        parts.append(f"'{loc}': {msg[:1].lower()}{msg[1:]}")
    return f"as {kind}, " + "; ".join(parts) + ". Accepted: a JSON-RPC 2.0 message as MCP defines it"


def _cut_paths(value: Any, path: list[Any] | None = None) -> list[list[Any]]:
    """Where `cap_depth` cut (the value is at most CAP_DEPTH + 1 levels deep, so recursion is bounded)."""
    path = path or []
    if value == CUT:
        return [path]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return [p for key, item in items for p in _cut_paths(item, [*path, key])]


# A JSON string, a run of openers or a run of closers: the structure of a JSON text, strings skipped.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[{]+|[\]}]+')


def cap_depth(text: str, limit: int) -> tuple[str, int] | None:
    """`text` with every array or object deeper than `limit` levels replaced by the string CUT, and how
    many were; None when the brackets do not balance. Linear in the text, without recursion."""
    out: list[str] = []
    pos = depth = cut = 0
    deep = False
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token[0] == '"':
            continue
        if token[0] in "[{":
            if not deep and depth + len(token) > limit:
                out.append(text[pos:match.start() + limit - depth])
                out.append(json.dumps(CUT))
                cut += 1
                deep = True
            depth += len(token)
        else:
            depth -= len(token)
            if depth < 0:
                return None
            if deep and depth <= limit:
                deep = False
                pos = match.end() - (limit - depth)  # the closers of the levels kept
    if deep or depth:
        return None
    out.append(text[pos:])
    return "".join(out), cut


_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+)')


def sniff_id(head: str) -> str | int | None:
    """The top-level "id" of a message that begins with `head`, when it can be read there; else None."""
    depth, pos, previous, key = 0, 0, "", None
    while True:
        match = _TOKEN.match(head, pos)
        if match is None:
            return None
        token, pos = match.group(1), match.end()
        if token in "{[":
            depth += 1
        elif token in "}]":
            depth -= 1
        elif depth == 1 and token[0] == '"' and previous in "{,":
            key = token
        elif depth == 1 and previous == ":" and key == '"id"':
            try:
                value = json.loads(token)
            except ValueError:
                return None
            return value if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)) else None
        if depth < 1 and token not in "{":
            return None
        previous = token


# -- reading the wire --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overlong:
    head: bytes
    size: int


class LineSplitter:
    """Lines of at most `limit` bytes from `read(n)`; a longer one is skipped to its end and reported as
    `Overlong`, so memory stays bounded whatever the host sends. None at the end of input (a last line
    without a newline still counts, as the SDK reads it)."""

    def __init__(self, read: Callable[[int], bytes], limit: int = MAX_LINE_BYTES) -> None:
        self.read, self.limit = read, limit
        self.buffer = b""
        self.done = False

    def next(self) -> bytes | Overlong | None:
        scanned = 0
        while True:
            end = self.buffer.find(b"\n", scanned)
            if end >= 0:
                line, self.buffer = self.buffer[:end], self.buffer[end + 1:]
                if len(line) > self.limit:
                    return Overlong(line[:_HEAD_CHARS], len(line))
                return line
            if len(self.buffer) > self.limit:
                return self._skip()
            scanned = len(self.buffer)
            chunk = b"" if self.done else self.read(_CHUNK)
            if not chunk:
                self.done = True
                line, self.buffer = self.buffer, b""
                return line or None
            self.buffer += chunk

    def _skip(self) -> Overlong:
        head, size = self.buffer[:_HEAD_CHARS], len(self.buffer)
        self.buffer = b""
        while True:
            chunk = self.read(_CHUNK)
            if not chunk:
                self.done = True
                return Overlong(head, size)
            end = chunk.find(b"\n")
            if end >= 0:
                self.buffer = chunk[end + 1:]
                return Overlong(head, size + end)
            size += len(chunk)


_EOF = object()


class GuardedLines:
    """The stdin the SDK's stdio transport iterates: screened lines, read by a daemon thread (so that a
    host that never closes stdin cannot keep the process from exiting), answering bad ones itself
    through `answer_through`'s stream."""

    def __init__(self, read: Callable[[int], bytes], limit: int = MAX_LINE_BYTES) -> None:
        self.splitter = LineSplitter(read, limit)
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=4)
        self.thread: threading.Thread | None = None
        self.writer: Any = None
        self.ready = anyio.Event()

    def answer_through(self, write_stream: Any) -> None:
        self.writer = write_stream
        self.ready.set()

    def __aiter__(self) -> GuardedLines:
        return self

    async def __anext__(self) -> str:
        if self.thread is None:
            self.thread = threading.Thread(target=self._pump, name="finetune-advisor stdin", daemon=True)
            self.thread.start()
        while True:
            item = await anyio.to_thread.run_sync(self.queue.get, abandon_on_cancel=True)
            if item is _EOF:
                self.close()  # a second read ends too
                raise StopAsyncIteration
            if isinstance(item, Overlong):
                await self._answer(overlong(item.head.decode("utf-8", errors="replace"), item.size))
                continue
            result = screen(item.decode("utf-8", errors="replace"))  # decoded as the SDK decodes stdin
            if isinstance(result, str):
                return result
            if result is not None:
                await self._answer(result)

    async def _answer(self, error: JSONRPCError) -> None:
        logger.debug("answered a line the SDK cannot read: %s", error.error.message)
        await self.ready.wait()
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            await self.writer.send(SessionMessage(error))

    def _pump(self) -> None:
        try:
            while (item := self.splitter.next()) is not None:
                self.queue.put(item)
        except (OSError, ValueError) as exc:
            logger.debug("stopped reading stdin: %r", exc)
        self.queue.put(_EOF)

    def close(self) -> None:
        """Wake a worker thread still waiting for a line (one abandoned by cancellation), so it can end."""
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(_EOF)


@contextlib.contextmanager
def claimed_stdin() -> Iterator[Callable[[int], bytes]]:
    """A reader of the wire on a private descriptor, fd 0 pointed at the null device meanwhile, as the SDK
    claims it (handlers and child processes then read EOF, never a host's message); restored after."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        fd = -1
    private = -1
    if fd == 0:
        with contextlib.suppress(OSError):
            private = os.dup(0)
    if private < 0:
        buffer = sys.stdin.buffer
        yield getattr(buffer, "read1", buffer.read)
        return
    diverted = False
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            os.dup2(null, 0)
            diverted = True
        finally:
            os.close(null)
    except OSError:
        pass
    try:
        # The private descriptor is never closed: the reading thread may still wait on it at exit.
        yield lambda n: os.read(private, n)
    finally:
        if diverted:
            with contextlib.suppress(OSError):
                os.dup2(private, 0)


def _broken_pipe(group: BaseExceptionGroup) -> bool:
    """Whether a transport failure is the host having closed stdout (and what followed from it)."""
    rest = group.split(BrokenPipeError)[1]
    if rest is None:
        return True
    others = rest.split((anyio.ClosedResourceError, anyio.BrokenResourceError))[1]
    return others is None and rest is not group


async def serve(lowlevel: Any) -> None:
    """Serve `lowlevel` (the SDK's low-level server) over stdio, every line answered."""
    with claimed_stdin() as read:
        lines = GuardedLines(read)
        try:
            async with stdio_server(stdin=lines) as (read_stream, write_stream):  # type: ignore[arg-type]
                lines.answer_through(write_stream)
                await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
        except BaseExceptionGroup as group:
            if not _broken_pipe(group):
                raise
            logger.info("the host closed stdout: stopping")
            raise BrokenPipeError from None
        finally:
            lines.close()
