"""A local fake of the Hugging Face Hub HTTP API, for tests of every Hub code path.

Serves what huggingface_hub 2.4 and `finetune_advisor.adapters.hub` call, on 127.0.0.1:
- `GET /api/models?author=ORG&limit=N&expand=...&sort=...`   (paginated through a `Link: <...>; rel="next"` header)
- `GET /api/models/{owner}/{name}`                            (model_info; 404 + `X-Error-Code: RepoNotFound`)
- `GET|HEAD /{owner}/{name}/resolve/{revision}/{file}`        (config.json; 404 `EntryNotFound`, 403 `GatedRepo`)

Use it through the `fake_hub` fixture (tests/conftest.py), which points HF_ENDPOINT at it and lifts
the offline switch for that test:

    def test_x(fake_hub):
        fake_hub.add_model("unsloth/Qwen3-8B", config={...}, card={"license": "apache-2.0"}, parameters=8_190_735_360)
        fake_hub.add_model("org/slow", config={...}, delay=30)        # answers after 30 s (timeouts)
        fake_hub.add_model("org/broken", raw_config=b"{not json")      # a bad config.json
        fake_hub.add_model("org/gated", config={...}, gated="manual")  # config.json answers 403 without a token
        fake_hub.add_model("org/drip", config={...}, drip=0.2)         # every body byte 0.2 s after the last
        fake_hub.add_model("org/bomb", raw_config=gz, headers={"Content-Encoding": "gzip"})  # extra file headers
        fake_hub.next_url = "http://elsewhere/api/models"              # where every listing page's Link points
        fake_hub.extra_items = [5, {"id": 7}]                          # raw items added to the listing
        ...
        assert "/api/models/org/x" in fake_hub.paths
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class FakeRepo:
    """One model repository as the fake Hub serves it."""

    repo_id: str
    config: dict[str, Any] | None = None
    raw_config: bytes | None = None  # served verbatim instead of `config` (malformed files)
    card: dict[str, Any] = field(default_factory=dict)  # cardData: license, license_name, license_link, base_model, ...
    gated: bool | str = False  # False, "auto" or "manual"; gated files need an Authorization header
    pipeline_tag: str | None = "text-generation"
    tags: list[str] = field(default_factory=list)
    last_modified: str = "2026-09-01T00:00:00.000Z"
    created_at: str = "2026-09-01T00:00:00.000Z"
    parameters: int | None = None  # safetensors total
    delay: float = 0.0  # seconds before answering model_info and file requests
    drip: float = 0.0  # seconds between the body bytes of model_info and file replies
    headers: dict[str, str] = field(default_factory=dict)  # extra headers on its file replies
    files: dict[str, bytes] = field(default_factory=dict)  # other files under resolve/

    def info(self) -> dict[str, Any]:
        owner = self.repo_id.split("/")[0]
        item: dict[str, Any] = {
            "_id": f"fake-{abs(hash(self.repo_id))}",
            "id": self.repo_id,
            "modelId": self.repo_id,
            "author": owner,
            "private": False,
            "gated": self.gated,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "library_name": "transformers",
            "pipeline_tag": self.pipeline_tag,
            "tags": list(self.tags),
            "lastModified": self.last_modified,
            "createdAt": self.created_at,
            "cardData": dict(self.card),
            "sha": "0" * 40,
            "siblings": [{"rfilename": name} for name in self._file_names()],
        }
        if self.parameters is not None:
            item["safetensors"] = {"parameters": {"BF16": self.parameters}, "total": self.parameters}
        return item

    def _file_names(self) -> list[str]:
        names = list(self.files)
        if self.config is not None or self.raw_config is not None:
            names.append("config.json")
        return names

    def file(self, name: str) -> bytes | None:
        if name == "config.json":
            if self.raw_config is not None:
                return self.raw_config
            return json.dumps(self.config).encode() if self.config is not None else None
        return self.files.get(name)


class FakeHub:
    """The server and its registered repositories; `url` is what HF_ENDPOINT should be."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[str] = []  # path?query of every request, in order
        self.authorizations: list[str | None] = []  # the Authorization header of every request, in order
        self.next_url: str | None = None  # when set, every listing page's Link rel="next" points here
        self.extra_items: list[Any] = []  # raw items appended to the first listing page
        self.list_delay = 0.0  # seconds before answering /api/models
        self.page_size: int | None = None  # force pagination of /api/models
        self.fail_list_with: int | None = None  # answer /api/models with this HTTP status
        self._stop = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-hub", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def paths(self) -> list[str]:
        """Requested paths without their query strings."""
        return [r.split("?", 1)[0] for r in self.requests]

    def add_model(self, repo_id: str, **fields: Any) -> FakeRepo:
        repo = FakeRepo(repo_id=repo_id, **fields)
        self.repos[repo_id.lower()] = repo
        return repo

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes handlers sleeping in a delay
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            self._stop.wait(seconds)

    def listing(self, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        if self.fail_list_with:
            return self.fail_list_with, {"error": "failing on purpose"}, {}
        author = (query.get("author") or [""])[0].lower()
        repos = [r for r in self.repos.values() if not author or r.repo_id.split("/")[0].lower() == author]
        repos.sort(key=lambda r: r.last_modified, reverse=True)
        limit = int((query.get("limit") or [len(repos) or 1])[0])
        size = min(limit, self.page_size or limit)
        start = int((query.get("cursor") or ["0"])[0])
        page: list[Any] = [r.info() for r in repos[start : start + size]]
        if start == 0:
            page += self.extra_items
        headers = {}
        if self.next_url:
            headers["Link"] = f'<{self.next_url}>; rel="next"'
        elif start + size < len(repos):
            next_query = {k: v for k, v in query.items() if k != "cursor"}
            next_query["cursor"] = [str(start + size)]
            headers["Link"] = f'<{self.url}/api/models?{urlencode(next_query, doseq=True)}>; rel="next"'
        return 200, page, headers


class _QuietServer(ThreadingHTTPServer):
    """A client hanging up (a deadline, a cap) is not an error of the fake; a bug in the fake still shows."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # keep test output clean

        def do_HEAD(self) -> None:  # noqa: N802 - stdlib naming
            self._answer(head=True)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(head=False)

        def _answer(self, head: bool) -> None:
            hub.requests.append(self.path)
            hub.authorizations.append(self.headers.get("Authorization"))
            parts = urlsplit(self.path)
            path, query = parts.path.strip("/"), parse_qs(parts.query)
            if path == "api/models":
                hub.wait(hub.list_delay)
                status, body, headers = hub.listing(query)
                return self._json(status, body, headers, head)
            if path.startswith("api/models/"):
                repo = hub.repos.get(path.removeprefix("api/models/").lower())
                if repo is None:
                    return self._json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}, head)
                hub.wait(repo.delay)
                return self._send(200, json.dumps(repo.info()).encode(), "application/json", {}, head, repo.drip)
            segments = path.split("/")
            if len(segments) >= 5 and segments[2] == "resolve":
                repo = hub.repos.get("/".join(segments[:2]).lower())
                if repo is None:
                    return self._json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}, head)
                hub.wait(repo.delay)
                if repo.gated and not self.headers.get("Authorization"):
                    return self._json(403, {"error": "Access to this model is restricted"}, {"X-Error-Code": "GatedRepo"}, head)
                content = repo.file("/".join(segments[4:]))
                if content is None:
                    return self._json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"}, head)
                headers = {"ETag": '"fake-etag"', "X-Repo-Commit": "0" * 40, **repo.headers}
                return self._send(200, content, "application/json", headers, head, repo.drip)
            return self._json(404, {"error": "no such endpoint in the fake Hub"}, {}, head)

        def _json(self, status: int, body: Any, headers: dict[str, str], head: bool) -> None:
            self._send(status, json.dumps(body).encode(), "application/json", headers, head)

        def _send(
            self, status: int, body: bytes, content_type: str, headers: dict[str, str], head: bool, drip: float = 0.0
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if head:
                    return
                if not drip:
                    self.wfile.write(body)
                for i in range(len(body) if drip else 0):  # one byte at a time, until the body or the fake ends
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    if hub._stop.wait(drip):
                        return
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

    return Handler
