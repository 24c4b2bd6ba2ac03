"""Credentials in HF_ENDPOINT and the docs URL never reach a tool's answer or error, the catalog, or a log."""

from __future__ import annotations

import io
import json
import logging
import subprocess

import pytest
from fake_docs import FakeDocs, closed_port_url
from fake_hub import FakeHub
from live_server import CLI, server_env

from finetune_advisor import settings
from finetune_advisor.redaction import RedactingFilter, install, public_url, redact

DOCS_SECRET = "s3cret-docs-pw"
HUB_SECRET = "s3cret-hub-pw"


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("GET http://alice:pw@127.0.0.1:8000/docs/a.md?ask=q", "GET http://127.0.0.1:8000/docs/a.md?ask=q"),
        ("https://user@mirror.example/api and ftp://a:b@c/d", "https://mirror.example/api and ftp://c/d"),
        ("http://u:p@ss@host/x", "http://host/x"),  # an '@' in the password: all of it goes
        ("http://u:pw@host?x=1 http://u:pw@host#f", "http://host?x=1 http://host#f"),
        ("mail bob@example.com, see http://example.com/@user", "mail bob@example.com, see http://example.com/@user"),
    ],
)
def test_redact_removes_user_info_from_every_url(text: str, clean: str) -> None:
    assert redact(text) == clean


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@docs.example.com:8443/docs/a.md?ask=q", "https://docs.example.com:8443/docs/a.md?ask=q"),
        ("http://user:secret@[::1]:80/x", "http://[::1]:80/x"),
        ("http://user:secret@host:99999/x", "http://host:99999/x"),  # a port out of range no longer raises
    ],
)
def test_public_url(url: str, shown: str) -> None:
    assert public_url(url) == shown


def test_the_log_filter_cleans_messages_arguments_and_tracebacks() -> None:
    logger = logging.getLogger("finetune_advisor.test_redaction")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        install(logger)
        install(logger)  # once is enough
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        logger.warning("HTTP Request: GET %s", "http://alice:pw-one@127.0.0.1/docs")
        try:
            raise ConnectionError("cannot reach https://bob:pw-two@mirror.example/api")
        except ConnectionError:
            logger.exception("the Hub failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "HTTP Request: GET http://127.0.0.1/docs" in text and "cannot reach https://mirror.example/api" in text
    assert "pw-one" not in text and "pw-two" not in text


@pytest.mark.parametrize("reachable", [True, False])
def test_a_password_in_the_docs_url_is_in_no_log_line_and_no_answer(fake_docs: FakeDocs, reachable: bool) -> None:
    """Issue 13 (7): httpx2 logs every request's URL at INFO, the password included."""
    base = fake_docs.url if reachable else closed_port_url()
    env = server_env(FINETUNE_ADVISOR_DOCS_URL=base.replace("http://", f"http://alice:{DOCS_SECRET}@"),
                     FINETUNE_ADVISOR_LOG_LEVEL="DEBUG", FINETUNE_ADVISOR_DOCS_TIMEOUT="3")
    proc = subprocess.run([*CLI, "ask", "What LoRA rank?", "--json"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["origin"] == ("live" if reachable else "offline")
    if reachable:
        assert "HTTP Request: GET http://127.0.0.1:" in proc.stderr  # the line that carried the password
        assert fake_docs.requests[0].headers["authorization"].startswith("Basic ")  # still used for the request
    assert DOCS_SECRET not in proc.stdout + proc.stderr


def test_credentials_in_hf_endpoint_are_in_no_error_no_catalog_and_no_log(fake_hub: FakeHub) -> None:
    """Issue 13 (7): HF_ENDPOINT's user:pass@ must stay out of tool errors, the served catalog and the logs."""
    fake_hub.add_model("unsloth/Qwen3-8B", card={"license": "apache-2.0"}, last_modified="2026-10-02T00:00:00.000Z")
    fake_hub.add_model("someone/drip", config={"model_type": "llama"}, card={"license": "mit"}, drip=0.5)
    env = server_env(HF_ENDPOINT=fake_hub.url.replace("http://", f"http://bob:{HUB_SECRET}@"),
                     FINETUNE_ADVISOR_LOG_LEVEL="DEBUG", FINETUNE_ADVISOR_HUB_TIMEOUT="1")
    runs = [subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False) for args in (
        ["catalog", "refresh", "--json"],
        ["license", "someone/drip", "--json"],  # the Hub's deadline runs out: the reason names the endpoint
        ["vram", "someone/drip", "--gpu-gib", "24"],  # an error naming the endpoint, on stderr
    )]
    refresh, licence, vram = runs
    assert refresh.returncode == 0 and licence.returncode == 0 and vram.returncode == 1, [r.stderr for r in runs]
    copy = (settings.cache_dir() / "catalog.json").read_text(encoding="utf-8")
    assert f"catalog refresh from {fake_hub.url}" in copy
    assert f"the Hub at {fake_hub.url} did not answer" in " ".join(json.loads(licence.stdout)["reasons"])
    assert f"the Hub at {fake_hub.url}" in vram.stderr
    assert "HTTP Request: GET http://127.0.0.1:" in refresh.stderr
    everything = copy + "".join(r.stdout + r.stderr for r in runs)
    assert HUB_SECRET not in everything
    assert fake_hub.authorizations[0].startswith("Basic ")  # the credentials were sent to the Hub itself
