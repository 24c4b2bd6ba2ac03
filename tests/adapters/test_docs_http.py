"""The docs HTTP adapter against a real local server: timeouts, retries, caps, redirects, identity."""

from __future__ import annotations

import socket
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import anyio
import httpx2
import pytest
from fake_docs import EN_GUIDE, ZH_GUIDE, FakeDocs, closed_port_url

from finetune_advisor.adapters import docs_http as docs_client
from finetune_advisor.adapters.docs_http import fetch, retry_after_seconds
from finetune_advisor.errors import (
    DocsTransientError,
    DocsUnavailableError,
    DocsUnreachableError,
)

pytestmark = pytest.mark.anyio


def _url(fake: FakeDocs, page: str = EN_GUIDE) -> str:
    return f"{fake.url}/{page}.md"


async def test_answer_with_identifying_headers(fake_docs: FakeDocs) -> None:
    reply = await fetch(_url(fake_docs), "What rank?", deadline=5)
    assert reply.status == 200 and reply.content_type.startswith("text/markdown")
    assert reply.body.decode().startswith("# What rank?\n")
    request = fake_docs.requests[0]
    assert request.path == f"/docs/{EN_GUIDE}.md" and request.ask == "What rank?"
    assert request.headers["user-agent"].startswith("finetune-advisor/")
    assert "(+https://github.com/finetune-advisor/finetune-advisor)" in request.headers["user-agent"]
    assert "text/markdown" in request.headers["accept"]


async def test_question_with_reserved_characters_arrives_intact(fake_docs: FakeDocs) -> None:
    question = "LoRA r=16 & alpha=32? #1 50% of 中文 /x"
    await fetch(_url(fake_docs), question, deadline=5)
    assert fake_docs.requests[0].ask == question


async def test_5xx_is_retried_with_backoff_then_answers(fake_docs: FakeDocs) -> None:
    fake_docs.set("error_then_ok", failures=2, status=503)
    events: list[str] = []

    async def on_event(message: str) -> None:
        events.append(message)

    start = time.monotonic()
    reply = await fetch(_url(fake_docs), "q", deadline=5, backoff=0.1, on_event=on_event)
    assert reply.status == 200 and len(fake_docs.requests) == 3
    assert time.monotonic() - start >= 0.3  # 0.1 then 0.2
    assert events == [
        "127.0.0.1 answered HTTP 503; retrying in 0.1 s (attempt 2 of 3)",
        "127.0.0.1 answered HTTP 503; retrying in 0.2 s (attempt 3 of 3)",
    ]


async def test_persistent_5xx_gives_up_after_the_attempts(fake_docs: FakeDocs) -> None:
    fake_docs.set("status", status=500)
    with pytest.raises(DocsUnavailableError, match=r"HTTP 500 \(after 3 attempts\)"):
        await fetch(_url(fake_docs), "q", deadline=5, backoff=0.05)
    assert len(fake_docs.requests) == 3


async def test_429_waits_as_long_as_retry_after_says(fake_docs: FakeDocs) -> None:
    fake_docs.set("rate_limited", failures=1, retry_after="1")
    start = time.monotonic()
    reply = await fetch(_url(fake_docs), "q", deadline=5, backoff=0.01)
    assert reply.status == 200
    assert time.monotonic() - start >= 1.0  # the server's 1 s, not our 0.01 s backoff


async def test_retry_after_beyond_the_deadline_gives_up_at_once(fake_docs: FakeDocs) -> None:
    fake_docs.set("rate_limited", failures=5, retry_after="120")
    start = time.monotonic()
    with pytest.raises(DocsUnavailableError) as err:
        await fetch(_url(fake_docs), "q", deadline=5)
    assert time.monotonic() - start < 1.0
    assert "rate limited (HTTP 429)" in str(err.value) and "asked to wait 120 s" in str(err.value)
    assert len(fake_docs.requests) == 1


async def test_404_is_not_retried(fake_docs: FakeDocs) -> None:
    with pytest.raises(DocsUnavailableError, match="HTTP 404"):
        await fetch(_url(fake_docs, "zh/get-started/no-such-page"), "q", deadline=5)
    assert len(fake_docs.requests) == 1


@pytest.mark.parametrize("mode", ["slow", "trickle"])
async def test_the_overall_deadline_holds_whatever_the_server_does(fake_docs: FakeDocs, mode: str) -> None:
    """`trickle` sends a byte every 0.3 s: no read timeout ever fires, only the overall bound."""
    fake_docs.set(mode, delay=30)
    start = time.monotonic()
    with pytest.raises(DocsUnavailableError, match=r"no complete reply within 1\.5 s"):
        await fetch(_url(fake_docs), "q", deadline=1.5)
    assert 1.4 <= time.monotonic() - start < 2.5


async def test_read_timeout_is_retried_within_the_deadline(fake_docs: FakeDocs) -> None:
    fake_docs.set("slow", delay=30)
    start = time.monotonic()
    with pytest.raises(DocsUnavailableError) as err:
        await fetch(_url(fake_docs), "q", deadline=3, read_timeout=0.5, backoff=0.1)
    assert time.monotonic() - start < 3.5
    assert "read timeout 0.5 s" in str(err.value)
    assert len(fake_docs.requests) >= 2


UNRESOLVABLE = "docs.unresolvable.test"


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The system resolver, except that UNRESOLVABLE does not resolve (no DNS query leaves the machine);
    returns the names looked up, in order."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        asked.append(name)
        if name == UNRESOLVABLE:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


async def test_connection_refused_is_not_retried() -> None:
    """The old client retried after 0.5 s and 1 s: 1.5 s per offline call. A 0.4 s bound fails that."""
    start = time.monotonic()
    with pytest.raises(DocsUnreachableError, match=r"^could not connect to 127\.0\.0\.1:\d+ \("):
        await fetch(closed_port_url() + f"/{EN_GUIDE}.md", "q", deadline=5, backoff=0.5)
    assert time.monotonic() - start < 0.4


async def test_an_unresolvable_name_is_looked_up_once(resolver: list[str]) -> None:
    with pytest.raises(DocsUnreachableError, match=f"^the name {UNRESOLVABLE} could not be resolved"):
        await fetch(f"https://{UNRESOLVABLE}/docs/{EN_GUIDE}.md", "q", deadline=5, backoff=0.5)
    assert resolver == [UNRESOLVABLE]


async def test_an_unreachable_host_is_remembered_and_not_asked_again(resolver: list[str]) -> None:
    url = f"https://{UNRESOLVABLE}/docs/{EN_GUIDE}.md"
    with pytest.raises(DocsUnreachableError):
        await fetch(url, "q", deadline=5)
    for _ in range(3):
        start = time.monotonic()
        with pytest.raises(DocsUnreachableError) as err:
            await fetch(url, "another question", deadline=5)
        assert time.monotonic() - start < 0.1  # no network at all: generous for a loaded machine
        assert str(err.value).startswith(f"the name {UNRESOLVABLE} could not be resolved")
        assert "s ago, so not tried again for another " in str(err.value)
    assert resolver == [UNRESOLVABLE]
    # the memory is per host: another docs host is still asked
    with pytest.raises(DocsUnreachableError, match="could not connect to 127.0.0.1"):
        await fetch(closed_port_url() + f"/{EN_GUIDE}.md", "q", deadline=5)


async def test_the_memory_lasts_a_minute_then_the_host_is_tried_again(
    resolver: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert docs_client.UNREACHABLE_MEMORY == 60.0
    monkeypatch.setattr(docs_client, "UNREACHABLE_MEMORY", 0.3)
    url = f"https://{UNRESOLVABLE}/docs/{EN_GUIDE}.md"
    with pytest.raises(DocsUnreachableError):
        await fetch(url, "q", deadline=5)
    with pytest.raises(DocsUnreachableError):
        await fetch(url, "q", deadline=5)
    assert resolver == [UNRESOLVABLE]
    await anyio.sleep(0.35)
    with pytest.raises(DocsUnreachableError):
        await fetch(url, "q", deadline=5)
    assert resolver == [UNRESOLVABLE, UNRESOLVABLE]


async def test_http_errors_are_still_retried_and_never_taken_for_an_unreachable_host(
    fake_docs: FakeDocs, resolver: list[str]
) -> None:
    """Only a failure to connect is final: a 5xx from a reachable host is retried, and the host is asked again."""
    with pytest.raises(DocsUnreachableError):
        await fetch(f"https://{UNRESOLVABLE}/docs/x.md", "q", deadline=5)
    fake_docs.set("status", status=503)
    with pytest.raises(DocsUnavailableError) as err:
        await fetch(_url(fake_docs), "q", deadline=5, backoff=0.01)
    assert not isinstance(err.value, DocsUnreachableError) and len(fake_docs.requests) == 3
    fake_docs.set("answer")
    assert (await fetch(_url(fake_docs), "q", deadline=5)).status == 200
    assert issubclass(DocsUnreachableError, DocsUnavailableError) and not issubclass(DocsUnreachableError, DocsTransientError)


@pytest.mark.parametrize("declare_length", [True, False])
async def test_oversized_replies_are_not_read_past_the_cap(fake_docs: FakeDocs, declare_length: bool) -> None:
    fake_docs.set("oversized", size=4 * 1024 * 1024, declare_length=declare_length)
    with pytest.raises(DocsUnavailableError, match="256 KiB cap"):
        await fetch(_url(fake_docs), "q", deadline=5)
    assert len(fake_docs.requests) == 1


async def test_a_reply_just_under_the_cap_is_read(fake_docs: FakeDocs) -> None:
    fake_docs.set("oversized", size=docs_client.MAX_BYTES, declare_length=False)
    reply = await fetch(_url(fake_docs), "q", deadline=5)
    assert len(reply.body) == docs_client.MAX_BYTES


async def test_redirect_within_the_host_is_followed_and_keeps_the_question(fake_docs: FakeDocs) -> None:
    fake_docs.set("redirect", redirect_to=f"/docs/{ZH_GUIDE}.md")  # e.g. an old zh slug moved
    reply = await fetch(_url(fake_docs, "zh/kai-shi/fine-tuning-llms-guide/what-model-should-i-use"), "问题", deadline=5)
    assert reply.url.startswith(f"{fake_docs.url}/{ZH_GUIDE}.md?ask=")
    assert [r.ask for r in fake_docs.requests] == ["问题", "问题"]
    assert fake_docs.requests[1].path == f"/docs/{ZH_GUIDE}.md"


async def test_redirect_to_another_host_is_never_followed(fake_docs: FakeDocs) -> None:
    with FakeDocs() as elsewhere:  # same IP, other port: another origin
        fake_docs.set("redirect", redirect_to=f"{elsewhere.url}/{EN_GUIDE}.md?ask=q")
        with pytest.raises(DocsUnavailableError, match="redirected to another host"):
            await fetch(_url(fake_docs), "q", deadline=5)
        assert elsewhere.requests == []


async def test_endless_redirects_stop(fake_docs: FakeDocs) -> None:
    fake_docs.set("redirect", failures=100, redirect_to=f"/docs/{EN_GUIDE}.md")
    with pytest.raises(DocsUnavailableError, match="more than 5 redirects"):
        await fetch(_url(fake_docs), "q", deadline=5)
    assert len(fake_docs.requests) == docs_client.MAX_REDIRECTS + 1


@pytest.mark.parametrize(
    ("location", "allowed"),
    [
        ("/docs/zh/x.md", True),
        ("https://unsloth.ai/docs/y.md", True),
        ("https://unsloth.ai:443/docs/y.md", True),
        ("http://unsloth.ai/docs/y.md", False),  # downgrade from https
        ("https://unsloth.ai:8443/docs/y.md", False),
        ("https://docs.unsloth.ai/x.md", False),
        ("//evil.com/x", False),
        ("https://unsloth.ai.evil.com/docs", False),
        ("https://unsloth.ai@evil.com/docs", False),
        ("ftp://unsloth.ai/docs", False),
    ],
)
def test_redirect_policy(location: str, allowed: bool) -> None:
    start = httpx2.URL("https://unsloth.ai/docs/a.md", params={"ask": "q"})
    response = httpx2.Response(302, headers={"location": location}, request=httpx2.Request("GET", start))
    if allowed:
        target = docs_client._redirect_target(start, response, "q")
        assert target.host == "unsloth.ai" and target.params["ask"] == "q"
    else:
        with pytest.raises(DocsUnavailableError, match="another host"):
            docs_client._redirect_target(start, response, "q")


@pytest.mark.parametrize("url", ["ftp://unsloth.ai/docs/a.md", "file:///etc/passwd", "unsloth.ai/docs/a.md"])
async def test_non_http_docs_urls_are_refused(url: str) -> None:
    with pytest.raises(DocsUnavailableError, match="not an http"):
        await fetch(url, "q", deadline=1)


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("7", now.timestamp()) == 7.0
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(later, now.timestamp()) == pytest.approx(30.0)
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(past, now.timestamp()) == 0.0
    for junk in (None, "", "soon", "-5", "1.5e9"):
        assert retry_after_seconds(junk, now.timestamp()) is None
