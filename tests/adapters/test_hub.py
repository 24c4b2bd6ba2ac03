"""The Hub adapter's safety rules: redirects stay on the Hub host, tokens never leak."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fake_hub import FakeHub

from finetune_advisor.adapters import hub
from finetune_advisor.errors import HubError

TOKEN = "hf_secretTOKENvalue123456789"


@pytest.fixture
def redirecting_hub(monkeypatch: pytest.MonkeyPatch, fake_hub: FakeHub) -> Iterator[dict]:
    """A Hub endpoint that redirects config.json: within itself, or to the fake Hub on another host name."""
    seen: dict = {"auth": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen["auth"].append(self.headers.get("Authorization"))
            if self.path.startswith("/org/elsewhere/"):
                target = fake_hub.url.replace("127.0.0.1", "localhost") + "/org/real/resolve/main/config.json"
            elif self.path.startswith("/org/renamed/"):
                target = "/org/real/resolve/main/config.json"
            elif self.path.startswith("/org/real/"):
                body = b'{"model_type": "llama", "hidden_size": 64}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            else:
                target = self.path  # a loop
            self.send_response(307)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    fake_hub.add_model("org/real", config={"model_type": "llama"})
    yield seen
    server.shutdown()


def test_same_host_redirect_is_followed(redirecting_hub: dict) -> None:
    assert hub.fetch_config("org/renamed")["model_type"] == "llama"


def test_redirect_to_another_host_is_refused_and_the_token_stays_home(
    redirecting_hub: dict, fake_hub: FakeHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(HubError, match="redirected config.json of 'org/elsewhere' to another host"):
        hub.fetch_config("org/elsewhere")
    assert not any(p.startswith("/org/real/resolve") for p in fake_hub.paths)  # never reached
    assert TOKEN not in caplog.text


def test_redirect_loop_ends(redirecting_hub: dict) -> None:
    with pytest.raises(HubError, match="too many redirects"):
        hub.fetch_config("org/loop")


def test_token_is_sent_to_the_hub_but_never_shown(
    fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    fake_hub.add_model("org/gated", config={"model_type": "llama"}, gated="manual")
    fake_hub.add_model("org/open", config={"model_type": "llama"})
    assert hub.fetch_config("org/open")["model_type"] == "llama"
    for call in (lambda: hub.model_info("org/missing"), lambda: hub.fetch_config("org/missing")):
        with pytest.raises(HubError) as err:
            call()
        assert TOKEN not in str(err.value)
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("ref", ["../etc/passwd", "https://evil.example.com/x", "a/b/c", "org/..", ""])
def test_non_repo_ids_never_reach_the_network(fake_hub: FakeHub, ref: str) -> None:
    with pytest.raises(HubError):
        hub.fetch_config(ref)
    assert fake_hub.paths == []


def test_offline_switch(monkeypatch: pytest.MonkeyPatch, fake_hub: FakeHub) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_OFFLINE", "1")
    with pytest.raises(HubError, match="Offline"):
        hub.model_info("org/open")
    assert fake_hub.paths == []
