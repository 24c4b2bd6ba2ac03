"""The Hub adapter's safety rules: requests stay on the endpoint, tokens never leak, every reply is bounded."""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
import tracemalloc
import zlib
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


@pytest.fixture
def org(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """Three unsloth models on the fake Hub, and an HF_TOKEN that must go to it and nowhere else."""
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    for i in range(3):
        fake_hub.add_model(f"unsloth/m{i}", last_modified=f"2026-09-0{i + 1}T00:00:00.000Z")
    return fake_hub


@pytest.mark.parametrize("where", ["another server", "another host name", "https on the same host and port"])
def test_a_next_link_off_the_endpoint_is_not_followed_and_the_token_stays_home(
    org: FakeHub, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    other = FakeHub().start()
    try:
        other.add_model("unsloth/elsewhere")
        target = {"another server": other.url, "another host name": org.url.replace("127.0.0.1", "localhost"),
                  "https on the same host and port": org.url.replace("http://", "https://")}[where]
        org.next_url = f"{target}/api/models?author=unsloth&cursor=1"
        with caplog.at_level(logging.WARNING):
            models, complete = hub.list_models_detailed("unsloth")
    finally:
        other.stop()
    assert other.requests == [] and len(org.requests) == 1
    assert org.authorizations == [f"Bearer {TOKEN}"]
    assert [m.repo_id for m in models] == ["unsloth/m2", "unsloth/m1", "unsloth/m0"] and complete is False
    assert "stopped early: its next link points to" in caplog.text and TOKEN not in caplog.text


def test_a_next_link_back_to_the_same_page_ends_the_listing(org: FakeHub, caplog: pytest.LogCaptureFixture) -> None:
    org.next_url = f"{org.url}/api/models?author=unsloth&cursor=0"  # the reported loop ran at 1,700 requests/s
    with caplog.at_level(logging.WARNING):
        models, complete = hub.list_models_detailed("unsloth")
    assert len(org.requests) == 2 and len(models) == 3 and complete is False
    assert "repeats a page" in caplog.text


def test_a_listing_stops_at_the_page_cap(org: FakeHub, caplog: pytest.LogCaptureFixture) -> None:
    for i in range(hub.MAX_PAGES + 5):
        org.add_model(f"unsloth/more-{i}")
    org.page_size = 1  # a fresh next link on every page
    with caplog.at_level(logging.WARNING):
        models, complete = hub.list_models_detailed("unsloth")
    assert len(org.requests) == hub.MAX_PAGES and len(models) == hub.MAX_PAGES and complete is False
    assert f"more than {hub.MAX_PAGES} pages" in caplog.text


WRONG_ITEMS = [
    5, "unsloth/x", None, [], {"id": 7}, {"no": "id"}, {"id": "../../etc/passwd"}, {"id": "unsloth/a", "tags": "x"},
    {"id": "unsloth/b", "cardData": "apache-2.0"}, {"id": "unsloth/c", "cardData": {"license": ["mit"]}},
    {"id": "unsloth/d", "lastModified": "yesterday"}, {"id": "unsloth/e", "safetensors": {"total": "many"}},
    {"id": "unsloth/f", "gated": "sometimes"}, {"id": "unsloth/g", "cardData": {"base_model": {"x": 1}}},
    {"id": "unsloth/h", "pipeline_tag": ["text-generation"]},
]


def test_listing_items_of_the_wrong_type_are_skipped_with_a_warning(org: FakeHub, caplog: pytest.LogCaptureFixture) -> None:
    org.extra_items = WRONG_ITEMS
    with caplog.at_level(logging.WARNING):
        models, complete = hub.list_models_detailed("unsloth")
    assert [m.repo_id for m in models] == ["unsloth/m2", "unsloth/m1", "unsloth/m0"]
    assert complete is False  # a skipped item may be a model that exists: nothing may be dropped for its absence
    assert f"Skipped {len(WRONG_ITEMS)} item(s) of the Hub's listing of unsloth" in caplog.text


def test_a_model_card_of_the_wrong_shape_is_a_clear_error(fake_hub: FakeHub) -> None:
    fake_hub.add_model("org/odd", card={"license": {"name": "mit"}})
    with pytest.raises(HubError, match=r"no model record \(cardData.license"):
        hub.model_info("org/odd")


def _gzip_bomb(size: int, layers: int) -> bytes:
    """`size` zero bytes gzipped `layers` times, compressed in pieces so that the test itself stays small."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    data = b"".join(packer.compress(zeros) for _ in range(size >> 20)) + packer.flush()
    for _ in range(layers - 1):
        data = gzip.compress(data, 9)
    return data


def test_a_gzip_bomb_is_stopped_at_the_cap_while_it_streams(fake_hub: FakeHub) -> None:
    bomb = _gzip_bomb(256 << 20, layers=2)  # 256 MiB once decoded; the reported one reached 4.25 GB
    fake_hub.add_model("org/bomb", raw_config=bomb, headers={"Content-Encoding": "gzip, gzip"})
    tracemalloc.start()
    try:
        with pytest.raises(HubError, match="cap once decompressed; reading stopped"):
            hub.fetch_config("org/bomb")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(bomb) < 4096 and peak < 32 * 1024 * 1024


def test_compressed_replies_are_read_and_unknown_encodings_refused(fake_hub: FakeHub) -> None:
    config = json.dumps({"model_type": "llama", "hidden_size": 64}).encode()
    fake_hub.add_model("org/gz", raw_config=gzip.compress(config), headers={"Content-Encoding": "gzip"})
    fake_hub.add_model("org/br", raw_config=config, headers={"Content-Encoding": "br"})
    assert hub.fetch_config("org/gz") == {"model_type": "llama", "hidden_size": 64}
    with pytest.raises(HubError, match=r"encoding that is not read here \(br\)"):
        hub.fetch_config("org/br")


def test_a_dripping_hub_is_cut_off_at_the_deadline(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_HUB_TIMEOUT", "1")
    fake_hub.add_model("org/drip", config={"model_type": "llama"}, card={"license": "mit"}, drip=0.05)  # 20 bytes/s
    for call in (hub.model_info, hub.fetch_config):
        started = time.monotonic()
        with pytest.raises(HubError, match="did not answer for .* within 1 s"):
            call("org/drip")
        assert time.monotonic() - started < 3  # the reported drip held each call for 100 s


@pytest.mark.parametrize("raw", [b"[" * 100_000 + b"]" * 100_000, b'{"a": ' * 100_000 + b"1" + b"}" * 100_000])
def test_a_deeply_nested_config_is_a_clear_error(fake_hub: FakeHub, raw: bytes) -> None:
    fake_hub.add_model("org/deep", raw_config=raw)
    with pytest.raises(HubError, match="config.json of 'org/deep' is nested too deeply to be read as JSON"):
        hub.fetch_config("org/deep")
