"""The `query_docs` tool: ask the Unsloth docs, from the cache, or from the packaged notes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Annotated
from urllib.parse import SplitResult, urlsplit

import anyio
from pydantic import Field

from finetune_advisor import settings
from finetune_advisor.adapters import docs_http
from finetune_advisor.adapters.cache import DocsCache, cache_key
from finetune_advisor.errors import DocsReplyError, DocsUnavailableError
from finetune_advisor.redaction import public_url
from finetune_advisor.unsloth_docs import pages
from finetune_advisor.unsloth_docs.notes import OfflineAnswer, offline_answer, offline_note
from finetune_advisor.unsloth_docs.reply import NOTICE_LIVE, NOTICE_OFFLINE, DocsAnswer, ParsedAnswer, parse_reply
from finetune_advisor.vocabulary import DocsLanguage, DocsOrigin, check_text, text_bounds

logger = logging.getLogger(__name__)

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]

Question = Annotated[
    str,
    Field(min_length=1, max_length=pages.MAX_QUESTION_CHARS,
          description='Self-contained, e.g. "Which LoRA rank to start with?"'),
]
Page = Annotated[
    str,
    Field(**text_bounds("page"), description='Docs path, e.g. "basics/chat-templates"; default: the model guide.'),
]
Language = Annotated[DocsLanguage, Field(description='e.g. "zh" (the page path is translated).')]

HEARTBEAT_SECONDS = 1.0


async def query_docs(
    question: Question,
    page: Page = pages.DEFAULT_PAGE,
    language: Language = "en",
    progress: ProgressFn | None = None,
) -> DocsAnswer:
    """Ask the Unsloth docs a question and get a Markdown answer with its sources.

    Use for how-to questions the other tools do not cover (hyperparameters, chat templates, datasets, errors).
    """
    question = pages.check_question(question)
    check_text("page", page)
    path = pages.localized_path(page, language)
    base = settings.docs_url()
    url = pages.page_url(base, path)
    asked = public_url(pages.ask_url(url, question))
    cache = DocsCache(settings.cache_dir(), settings.docs_cache_ttl())
    key = cache_key(base, path, question)
    reporter = _Progress(progress, settings.docs_timeout())

    def result(parsed: ParsedAnswer, origin: DocsOrigin, asked_url: str, note: str | None, covered: bool = True) -> DocsAnswer:
        return _answer(parsed, origin, asked_url, note, covered, path, language)

    def offline(found: OfflineAnswer, reason: str, reached: bool = False) -> DocsAnswer:
        return result(found.parsed, "offline", asked, offline_note(reason, reached=reached), covered=found.covered)

    cached = await anyio.to_thread.run_sync(cache.get, key)  # file I/O stays off the event loop
    if cached is not None and _same_host(cached.asked_url, url):
        stamp = datetime.fromtimestamp(cached.stored_at, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return result(cached.parsed, "cache", cached.asked_url, f"Served from the local cache (asked {stamp}).")
    if settings.offline():
        return offline(offline_answer(question), "offline mode is on (FINETUNE_ADVISOR_OFFLINE is set)")
    try:
        reply, parsed = await _ask(url, question, reporter)
    except DocsUnavailableError as exc:
        logger.info("docs not reached, answering from notes: %s", exc)
        await reporter.done("Docs not reached; answering from the packaged notes")
        return offline(offline_answer(question), str(exc), reached=isinstance(exc, DocsReplyError))
    await reporter.done("Answer received")
    await anyio.to_thread.run_sync(cache.put, key, reply.url, parsed)
    return result(parsed, "live", reply.url, None)


def _same_host(cached_url: str, url: str) -> bool:
    """True when a cached answer was asked of the docs host asked now, as every live answer is (redirects are
    followed within the host only); one from another host was planted, and is not served."""
    cached, asked = urlsplit(cached_url), urlsplit(url)
    if (cached.hostname, _port(cached)) == (asked.hostname, _port(asked)):
        return True
    logger.warning("docs cache: ignoring an answer cached as asked of %.100s, not of %s", cached.hostname, asked.hostname)
    return False


def _port(parts: SplitResult) -> int | None:
    return parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def _answer(parsed: ParsedAnswer, origin: DocsOrigin, asked_url: str, note: str | None, covered: bool, page: str,
            language: Language) -> DocsAnswer:
    """The tool's answer from a parsed reply (live, cached or the packaged notes'), saying when it was truncated."""
    if parsed.truncated:
        note = " ".join(filter(None, [note, "The answer was truncated; ask a narrower question."]))
    return DocsAnswer(
        answer=parsed.answer,
        notice=NOTICE_OFFLINE if origin == "offline" else NOTICE_LIVE,
        sources=parsed.sources,
        follow_up_questions=parsed.follow_up_questions,
        origin=origin,
        covered=covered,
        asked_url=asked_url,
        page=page,
        language=language,
        note=note,
    )


async def _ask(url: str, question: str, reporter: _Progress) -> tuple[docs_http.Reply, ParsedAnswer]:
    """The live answer, with a progress heartbeat while waiting; DocsUnavailableError on any fault."""
    await reporter.report(f"Asking the Unsloth docs ({urlsplit(url).hostname})")
    outcome: tuple[docs_http.Reply, ParsedAnswer] | None = None
    failure: DocsUnavailableError | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(reporter.heartbeat)
        try:
            reply = await docs_http.fetch(url, question, deadline=reporter.deadline, on_event=reporter.report)
            outcome = reply, await _parse(reply, reporter)
        except DocsUnavailableError as exc:
            failure = exc
        finally:
            tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    assert outcome is not None
    return outcome


async def _parse(reply: docs_http.Reply, reporter: _Progress) -> ParsedAnswer:
    """The reply read in a worker thread (the event loop serves other sessions meanwhile), within the time left."""
    with anyio.move_on_after(reporter.left()):
        return await anyio.to_thread.run_sync(
            parse_reply, reply.body, reply.content_type, reply.url, abandon_on_cancel=True
        )
    raise DocsReplyError("unexpected", f"the reply could not be read within the {reporter.deadline:g} s bound")


class _Progress:
    """Progress in seconds waited out of the deadline, strictly increasing; a failing hook is ignored."""

    def __init__(self, hook: ProgressFn | None, deadline: float) -> None:
        self.hook = hook
        self.deadline = deadline
        self.start = anyio.current_time()
        self.last = -1.0

    def left(self) -> float:
        """Seconds left of the deadline."""
        return max(0.0, self.deadline - (anyio.current_time() - self.start))

    async def report(self, message: str) -> None:
        await self._send(min(anyio.current_time() - self.start, self.deadline), message)

    async def heartbeat(self) -> None:
        while True:
            await anyio.sleep(HEARTBEAT_SECONDS)
            waited = anyio.current_time() - self.start
            await self._send(min(waited, self.deadline), f"Waiting for the docs: {waited:.0f} s of at most {self.deadline:g} s")

    async def done(self, message: str) -> None:
        await self._send(self.deadline, message)

    async def _send(self, value: float, message: str) -> None:
        if self.hook is None:
            return
        value = max(round(value, 3), self.last + 0.001)
        self.last = value
        try:
            await self.hook(value, self.deadline, message)
        except Exception as exc:  # a client that went away must not cost the user the answer
            logger.debug("progress notification failed: %s", exc)
