"""A fake Unsloth docs site: a real HTTP server on 127.0.0.1 (in a thread) answering `?ask=`.

Written from the documented format (reference/unsloth-docs.md §2.2): `GET /docs/[<lang>/]<page>.md?ask=<q>`
returns `text/markdown` with `# <question>`, the answer, `# Suggested Follow-up Questions:` and
`# Sources:`; an empty question gets "You forgot to pass a question..."; unknown pages get 404.
`mode` switches to the faults a real server can produce.
"""

from __future__ import annotations

import socket
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

EN_GUIDE = "get-started/fine-tuning-llms-guide/what-model-should-i-use"
ZH_GUIDE = "zh/kai-shi-shi-yong/fine-tuning-llms-guide/what-model-should-i-use"
EN_LORA = "get-started/fine-tuning-llms-guide/lora-hyperparameters-guide"
EN_REQUIREMENTS = "get-started/fine-tuning-for-beginners/unsloth-requirements"
PAGES = {
    EN_GUIDE: "What model should I use?",
    ZH_GUIDE: "我应该使用哪个模型？",
    EN_LORA: "LoRA Hyperparameters Guide",
    EN_REQUIREMENTS: "Unsloth Requirements",
}
FORGOT = (
    "You forgot to pass a question in the `?ask=` parameter. Append a question to the URL in the "
    "`?ask=<question>` search parameter to get a complete answer and associated sources."
)
MODES = {
    "answer", "no_answer", "forgot", "html", "json", "page", "slow", "trickle", "error_then_ok",
    "rate_limited", "oversized", "redirect", "status",
}  # fmt: skip


@dataclass
class Request:
    path: str
    ask: str | None
    headers: dict[str, str]


@dataclass
class FakeDocs:
    mode: str = "answer"
    failures: int = 1  # error_then_ok / rate_limited / redirect: how many such replies before a good one
    status: int = 503  # error_then_ok / status: the bad status
    retry_after: str | None = "1"
    delay: float = 30.0  # slow: seconds before replying
    size: int = 2 * 1024 * 1024  # oversized: body bytes
    declare_length: bool = True  # oversized: send Content-Length (else stream without it)
    redirect_to: str = ""  # redirect: Location (absolute or relative)
    answer_text: str = ""  # answer: override the answer paragraph
    answer_type: str = "text/markdown; charset=utf-8"  # answer: the Content-Type (the body stays UTF-8)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """What FINETUNE_ADVISOR_DOCS_URL should be."""
        return self.root + "/docs"

    def __enter__(self) -> FakeDocs:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def set(self, mode: str, **options: object) -> FakeDocs:
        assert mode in MODES, mode
        self.mode = mode
        for name, value in options.items():
            assert hasattr(self, name), name
            setattr(self, name, value)
        return self

    def record(self, request: Request) -> int:
        with self._lock:
            self.requests.append(request)
            return len(self.requests)

    def answer_body(self, page: str, question: str) -> str:
        zh = page.startswith("zh/")
        text = self.answer_text or (
            "根据数据集大小选择：超过 1,000 行用基础模型，少于 300 行用指令模型。参见 [显存需求](/docs/zh/kai-shi-shi-yong/fine-tuning-for-beginners/unsloth-requirements.md)。"
            if zh
            else "With more than 1,000 rows, start from a **base** model; with fewer than 300, use an instruct model. "
            f"See [the requirements](/docs/{EN_REQUIREMENTS}.md) and the [catalog]({self.url}/get-started/unsloth-model-catalog.md)."
        )
        follow = ["Which model fits 24 GB?", "What is the difference between QLoRA and LoRA?"]
        sources = [(PAGES[page], f"{self.url}/{page}.md"), (PAGES[EN_REQUIREMENTS], f"{self.url}/{EN_REQUIREMENTS}.md")]
        lines = [f"# {question}", "", text, "", "# Suggested Follow-up Questions:", ""]
        lines += [
            "If you need more information, consider asking one of these follow-up questions by performing "
            "an HTTP GET request on the URL:",
            "",
        ]
        lines += [f"- [{q}]({self.url}?ask={quote(q)})" for q in follow]
        lines += ["", "# Sources:", ""]
        lines += [f"- [{title}]({url})" for title, url in sources]
        return "\n".join(lines) + "\n"


class _QuietServer(ThreadingHTTPServer):
    """Handler threads never block shutdown; a client hanging up mid-reply is not an error here."""

    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a bug in the fake itself still shows
            super().handle_error(request, client_address)


def hostile_answer(size: int) -> str:
    """`size` bytes (ASCII) of Markdown made of what made the old reply parser take minutes on a few KiB: a
    heading line of spaces between two words (cubic), runs of `[](`, `![](`, `[`, escaped brackets and
    unclosed destinations (quadratic), and long lists of sources and follow-ups (searched per item)."""
    lines = [
        "The answer starts here.",
        "# a" + " " * (size // 4) + "b",
        "[](" * (size // 24), "![](" * (size // 32), "[\\[" * (size // 24), "[" * (size // 16), "[](a" * (size // 32),
        "# Suggested Follow-up Questions:",
        *(f"- [Question {i}?](https://unsloth.ai/docs?ask=q{i})" for i in range(size // 500)),
        "# Sources:",
        *(f"- [Page {i % 7}](https://unsloth.ai/docs/p{i % 7}.md)" for i in range(size // 20)),
    ]
    text = "\n".join(lines)
    return text[: text.rfind("\n", 0, size)]


def closed_port_url() -> str:
    """A docs URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/docs"


def _handler_for(fake: FakeDocs) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            asks = parse_qs(parts.query, keep_blank_values=True).get("ask")
            ask = asks[0] if asks else None
            n = fake.record(Request(parts.path, ask, {k.lower(): v for k, v in self.headers.items()}))
            mode = fake.mode
            if mode == "slow":
                fake._release.wait(fake.delay)
            elif mode == "trickle":
                return self._trickle()
            elif mode == "status" or (mode == "error_then_ok" and n <= fake.failures):
                return self._send(fake.status, "Internal error: upstream failed\n", "text/plain")
            elif mode == "rate_limited" and n <= fake.failures:
                extra = {"Retry-After": fake.retry_after} if fake.retry_after is not None else {}
                return self._send(429, "Too many requests\n", "text/plain", extra)
            elif mode == "redirect" and n <= fake.failures:
                return self._send(302, "", "text/plain", {"Location": fake.redirect_to})
            elif mode == "oversized":
                return self._oversized()
            elif mode == "html":
                return self._send(200, "<!DOCTYPE html><html><body><h1>Unsloth</h1></body></html>", "text/html")
            elif mode == "json":
                return self._send(200, '{"answer": "hello"}', "application/json")
            if not parts.path.startswith("/docs/") or not parts.path.endswith(".md"):
                return self._send(404, "Not Found\n", "text/plain")
            page = parts.path[len("/docs/") : -len(".md")]
            if page not in PAGES:
                return self._send(404, "# Page Not Found\n\nTry `?ask=` or sitemap.md.\n", "text/markdown")
            if ask is None or not ask.strip() or ask.strip() == "<question>" or mode == "forgot":
                return self._send(200, FORGOT, "text/markdown; charset=utf-8")
            if mode == "no_answer":
                return self._send(200, "We couldn't answer this question.", "text/markdown; charset=utf-8")
            if mode == "page":
                body = f"# {PAGES[page]}\n\nSome page text.\n\n## Agent Instructions: Querying This Documentation\n\nGET with ?ask=.\n"
                return self._send(200, body, "text/markdown; charset=utf-8")
            self._send(200, fake.answer_body(page, ask.strip()), fake.answer_type, {"X-Robots-Tag": "noindex", "Vary": "Accept"})

        def _send(self, status: int, body: str, content_type: str, extra: dict[str, str] | None = None) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _oversized(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/markdown; charset=utf-8")
            if fake.declare_length:
                self.send_header("Content-Length", str(fake.size))
            else:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            line = b"# q\n\n" + b"x" * 8186 + b"\n"
            sent = 0
            try:
                while sent < fake.size and not fake._release.is_set():
                    chunk = line[: fake.size - sent]
                    if fake.declare_length:
                        self.wfile.write(chunk)
                    else:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
                if not fake.declare_length:
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the client stopped reading: what a size cap should do

        def _trickle(self) -> None:
            """Headers at once, then one byte every 0.3 s: never a read timeout, never the end."""
            self.send_response(200)
            self.send_header("Content-Type", "text/markdown; charset=utf-8")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                self.wfile.write(b"# q\n\n")
                while not fake._release.wait(0.3):
                    self.wfile.write(b"x")
                    self.wfile.flush()
            except OSError:
                pass

    return Handler

