"""HTTP adapter for the docs' `?ask=` endpoint (httpx2), bounded whatever the server does.

One GET per attempt with explicit connect/read timeouts, all attempts inside one overall deadline;
retries with backoff on 429/5xx, timeouts and broken connections, honouring Retry-After when it fits
the deadline; the body is streamed and abandoned past a size cap; redirects are followed by hand,
only within the docs host. Every failure is a `DocsUnavailableError` whose text says what happened.

A host that cannot be reached at all (its name does not resolve, the connection is refused or times
out) is not retried: it is remembered for `UNREACHABLE_MEMORY` seconds, and calls in that window fail
at once without touching the network, so an offline machine gets its offline answer in milliseconds.
"""

from __future__ import annotations

import email.utils
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from finetune_advisor.errors import (
    DocsTransientError,
    DocsUnavailableError,
    DocsUnreachableError,
)
from finetune_advisor.redaction import public_url

logger = logging.getLogger(__name__)

PROJECT_URL = "https://github.com/finetune-advisor/finetune-advisor"
MAX_BYTES = 256 * 1024
MAX_REDIRECTS = 5
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
ATTEMPTS = 3
BACKOFF = 0.5  # seconds before the 2nd attempt; doubles after
MIN_ATTEMPT = 0.5  # no retry is started with less time than this left
UNREACHABLE_MEMORY = 60.0  # seconds an unreachable docs host is not asked again
_REDIRECTS = {301, 302, 303, 307, 308}
_DEFAULT_PORTS = {"http": 80, "https": 443}

EventHook = Callable[[str], Awaitable[None]]
Origin = tuple[str, str, int]  # scheme, host, port

# Process-wide: origin -> (when it was found unreachable, time.monotonic(); why). Plain dict reads and
# writes; the worst a race can do is one extra connection attempt.
_unreachable: dict[Origin, tuple[float, str]] = {}


@dataclass(frozen=True)
class Reply:
    """A successful (2xx) reply, read in full."""

    url: str  # the URL that answered, after redirects within the docs host (no user info)
    status: int
    content_type: str | None
    body: bytes


def forget_unreachable() -> None:
    """Forget every remembered unreachable host (the next call tries the network again)."""
    _unreachable.clear()


def _remembered(origin: Origin) -> str | None:
    """Why `origin` was unreachable, if that was found less than UNREACHABLE_MEMORY seconds ago."""
    entry = _unreachable.get(origin)
    if entry is None:
        return None
    ago = time.monotonic() - entry[0]
    if ago >= UNREACHABLE_MEMORY:
        _unreachable.pop(origin, None)
        return None
    left = UNREACHABLE_MEMORY - ago
    return f"{entry[1]}; found {ago:.0f} s ago, so not tried again for another {left:.0f} s"


def user_agent() -> str:
    from finetune_advisor import __version__

    return f"finetune-advisor/{__version__} (+{PROJECT_URL})"


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from `now` (epoch seconds); None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


async def fetch(
    url: str,
    question: str,
    *,
    deadline: float,
    on_event: EventHook | None = None,
    max_bytes: int = MAX_BYTES,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
) -> Reply:
    """GET `url?ask=question` and return the 2xx reply, within `deadline` seconds in all."""
    import httpx2

    start_url = _ask_url(url, question)
    host = start_url.host
    origin = (start_url.scheme, host, _port(start_url))
    remembered = _remembered(origin)
    if remembered is not None:
        raise DocsUnreachableError(remembered)
    end = anyio.current_time() + deadline
    headers = {"User-Agent": user_agent(), "Accept": "text/markdown, text/plain;q=0.9"}
    async with httpx2.AsyncClient(headers=headers, follow_redirects=False) as client:
        for attempt in range(1, attempts + 1):
            left = end - anyio.current_time()
            if left <= 0:
                raise DocsUnavailableError(f"{host} gave no complete reply within {deadline:g} s")
            timeout = httpx2.Timeout(min(read_timeout, left), connect=min(connect_timeout, left))
            try:
                with anyio.fail_after(max(left, 0.0)):
                    reply = await _attempt(client, start_url, question, timeout, max_bytes)
                _unreachable.pop(origin, None)
                return reply
            except TimeoutError:
                raise DocsUnavailableError(f"{host} gave no complete reply within {deadline:g} s") from None
            except DocsUnreachableError as exc:
                _unreachable[origin] = (time.monotonic(), str(exc))
                raise
            except DocsTransientError as exc:
                failure = exc
            wait = _retry_wait(failure, attempt, attempts, backoff, end, deadline)
            if on_event is not None:
                await on_event(f"{failure.reason}; retrying in {wait:g} s (attempt {attempt + 1} of {attempts})")
            await anyio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _ask_url(url: str, question: str) -> Any:
    """`url?ask=question` as an httpx2.URL; DocsUnavailableError for a URL that is not valid http(s)."""
    import httpx2

    try:
        start_url = httpx2.URL(url, params={"ask": question})
    except httpx2.InvalidURL as exc:
        raise DocsUnavailableError(f"the docs URL {public_url(url)!r} is not valid ({exc})") from None
    if start_url.scheme not in _DEFAULT_PORTS or not start_url.host:
        raise DocsUnavailableError(f"the docs URL {public_url(url)!r} is not an http(s) URL")
    return start_url


def _retry_wait(failure: DocsTransientError, attempt: int, attempts: int, backoff: float, end: float,
                deadline: float) -> float:
    """Seconds to wait before the next attempt (the server's Retry-After, else exponential backoff);
    DocsUnavailableError when no attempt is left or the wait would pass the deadline."""
    wait = failure.retry_after if failure.retry_after is not None else backoff * 2 ** (attempt - 1)
    if attempt == attempts:
        raise DocsUnavailableError(f"{failure.reason} (after {attempts} attempts)")
    if anyio.current_time() + wait + MIN_ATTEMPT > end:
        why = "the server asked to wait" if failure.retry_after is not None else "a retry would need"
        raise DocsUnavailableError(f"{failure.reason}; {why} {wait:g} s, beyond the {deadline:g} s bound, so not retried")
    return wait


async def _attempt(client: Any, start_url: Any, question: str, timeout: Any, max_bytes: int) -> Reply:
    """One attempt: follow redirects within the host, read a 2xx body up to `max_bytes`."""
    import httpx2

    current = start_url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            async with client.stream("GET", current, timeout=timeout) as response:
                if response.status_code in _REDIRECTS:
                    current = _redirect_target(start_url, response, question)
                    continue
                _check_status(response)
                body = await _read_capped(response, max_bytes)
                return Reply(
                    url=public_url(str(response.url)),
                    status=response.status_code,
                    content_type=response.headers.get("content-type"),
                    body=body,
                )
        except httpx2.ConnectTimeout:
            raise DocsUnreachableError(f"connecting to {current.host}:{_port(current)} timed out") from None
        except httpx2.TimeoutException:
            raise DocsTransientError(f"{current.host} stopped sending (read timeout {timeout.read:g} s)") from None
        except httpx2.ConnectError as exc:
            if _caused_by(exc, socket.gaierror):
                raise DocsUnreachableError(f"the name {current.host} could not be resolved ({_short(exc)})") from None
            raise DocsUnreachableError(f"could not connect to {current.host}:{_port(current)} ({_short(exc)})") from None
        except httpx2.TransportError as exc:
            raise DocsTransientError(f"network error talking to {current.host} ({_short(exc)})") from None
    raise DocsUnavailableError(f"more than {MAX_REDIRECTS} redirects from {start_url.host}")


def _redirect_target(start_url: Any, response: Any, question: str) -> Any:
    """The next URL of a redirect, if it stays on the docs host; the question is kept."""
    location = response.headers.get("location")
    if not location:
        raise DocsUnavailableError(f"HTTP {response.status_code} redirect from {start_url.host} without a Location")
    target = response.url.join(location)
    same_host = target.host == start_url.host and _port(target) == _port(start_url)
    downgrade = start_url.scheme == "https" and target.scheme != "https"
    if target.scheme not in _DEFAULT_PORTS or not same_host or downgrade:
        shown = f"{target.scheme}://{target.host}" + (f":{target.port}" if target.port else "")
        raise DocsUnavailableError(f"the docs redirected to another host ({shown}); not followed")
    if "ask" not in target.params:
        target = target.copy_merge_params({"ask": question})
    return target


def _check_status(response: Any) -> None:
    status = response.status_code
    host = response.url.host
    if status == 429 or status >= 500:
        retry_after = retry_after_seconds(response.headers.get("retry-after"), time.time())
        label = "rate limited (HTTP 429)" if status == 429 else f"HTTP {status}"
        raise DocsTransientError(f"{host} answered {label}", retry_after)
    if status == 404:
        raise DocsUnavailableError(f"{host} answered HTTP 404: no such page, or questions are switched off")
    if not 200 <= status < 300:
        raise DocsUnavailableError(f"{host} answered HTTP {status}")


async def _read_capped(response: Any, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise DocsUnavailableError(f"the reply is {int(declared)} bytes, over the {max_bytes // 1024} KiB cap; not read")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise DocsUnavailableError(f"the reply exceeded the {max_bytes // 1024} KiB cap; reading stopped")
        chunks.append(chunk)
    return b"".join(chunks)


def _port(url: Any) -> int:
    return url.port or _DEFAULT_PORTS.get(url.scheme, 0)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """True when `kind` is anywhere in the chain of causes of `exc`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _short(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
