"""Adapter to the Hugging Face Hub (HF_ENDPOINT): model cards, config.json and an organisation's listing.

Used only for models the packaged catalog does not know, and by `catalog refresh`. The Hub, or a
mirror of it, is a server we do not control, so every request:
- goes only to the endpoint's origin (scheme, host and port): a redirect or a pagination `next` link
  elsewhere is not followed, so HF_TOKEN never leaves it;
- ends within one deadline (FINETUNE_ADVISOR_HUB_TIMEOUT), redirects and body included, however slowly
  the server sends;
- reads at most a cap of bytes, counted after decompression, while it streams (a gzip bomb stops there);
- holds one of a few slots, or fails at once: Hub calls never fill the worker threads that tools
  needing no network run in.
Listings stop at a cap of pages and of items; items that are not model records are skipped with a
warning. Everything else the server says is validated before the core sees it. Honours HF_ENDPOINT,
HF_TOKEN, HF_HUB_OFFLINE and FINETUNE_ADVISOR_OFFLINE; `httpx2` and `huggingface_hub` load on first use.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finetune_advisor import settings
from finetune_advisor.errors import HubError, HubNotFoundError
from finetune_advisor.hub_card import HubModel, is_repo_id
from finetune_advisor.redaction import public_url

logger = logging.getLogger(__name__)

MAX_CONFIG_BYTES = 2 * 1024 * 1024
MAX_INFO_BYTES = 4 * 1024 * 1024
MAX_PAGE_BYTES = 32 * 1024 * 1024
MAX_REDIRECTS = 3
MAX_PAGES = 40  # of a listing; the unsloth org fits in a few pages of 500
MAX_LISTED = 20_000  # items of a listing, whatever limit is asked
MAX_CONCURRENT = 8  # Hub requests under way at once; more fail at once rather than wait in a worker thread
MAX_BASE_MODELS = 8
MAX_CARD_CHARS = 1000  # a card value kept (shown cut shorter still, see finetune_advisor.untrusted.quote)
_REDIRECTS = {301, 302, 303, 307, 308}
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT)

# Fields asked for with every model record (`expand`).
INFO_EXPAND = ("cardData", "gated", "pipeline_tag", "tags", "lastModified")
LIST_EXPAND = ("cardData", "gated", "lastModified", "createdAt", "pipeline_tag", "tags", "safetensors")


class _Card(BaseModel):
    model_config = ConfigDict(extra="ignore")

    license: str | None = None
    license_name: str | None = None
    license_link: str | None = None
    base_model: str | list[str] | None = None


class _Safetensors(BaseModel):
    model_config = ConfigDict(extra="ignore")

    total: int | None = Field(default=None, ge=0)


class _Record(BaseModel):
    """A model record of the Hub's API, as far as we read it: the types are checked, the rest ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str
    card: _Card | None = Field(default=None, alias="cardData")
    gated: bool | Literal["auto", "manual"] | None = None
    pipeline_tag: str | None = None
    tags: list[str] = []
    last_modified: datetime | None = Field(default=None, alias="lastModified")
    created_at: datetime | None = Field(default=None, alias="createdAt")
    safetensors: _Safetensors | None = None


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: Any  # httpx2.Headers
    body: bytes  # the body of a 200; empty otherwise
    next_url: str | None  # the Link header's rel="next", as sent


def _check_online(repo_id: str) -> None:
    if settings.hub_offline():
        raise HubError(
            f"Offline (HF_HUB_OFFLINE or FINETUNE_ADVISOR_OFFLINE is set): cannot look up {repo_id!r} on the Hub"
        )
    if not is_repo_id(repo_id):
        raise HubNotFoundError(f"{repo_id!r} is not a Hugging Face repo id (expected 'owner/name')")


def _endpoint() -> str:
    """The endpoint shown in messages: no user name or password."""
    return public_url(settings.hub_endpoint())


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # a port out of range: no origin of ours
        return ("", "", None)
    return parts.scheme, (parts.hostname or ""), port


def _on_endpoint(url: str) -> bool:
    """True when `url` has the endpoint's scheme, host and port (only there does the token go)."""
    return _origin(url) == _origin(settings.hub_endpoint())


def model_info(repo_id: str) -> HubModel:
    """Licence, gating, base models and tags of a Hub repository."""
    _check_online(repo_id)
    what = f"the model card of {repo_id!r}"
    url = f"{settings.hub_endpoint()}/api/models/{repo_id}"
    reply = _get(url, [("expand", e) for e in INFO_EXPAND], what, MAX_INFO_BYTES)
    _refuse(reply, repo_id, "model card")
    try:
        record = _Record.model_validate(_json(reply.body, what))
    except ValidationError as exc:
        raise HubError(f"the Hub at {_endpoint()} answered {what} with no model record ({_first_error(exc)})") from None
    return _hub_model(record, asked=repo_id)


def fetch_config(repo_id: str) -> dict[str, Any]:
    """The repository's config.json as a dict."""
    _check_online(repo_id)
    from huggingface_hub import hf_hub_url

    what = f"config.json of {repo_id!r}"
    reply = _get(hf_hub_url(repo_id, "config.json", endpoint=settings.hub_endpoint()), None, what, MAX_CONFIG_BYTES)
    _refuse(reply, repo_id, "config.json")
    config = _json(reply.body, what)
    if not isinstance(config, dict):
        raise HubError(f"{what} is not a JSON object")
    return config


def list_models_detailed(author: str, limit: int = 1000, page_size: int = 500) -> tuple[list[HubModel], bool]:
    """An organisation's models with card licence, dates, pipeline tag and parameter count.

    Returns (models newest first, complete): complete is False when `limit` or a cap cut the list, a
    `next` link was not followed, or items had to be skipped. Pages follow the Link header, only on the
    endpoint's origin, at most MAX_PAGES of them; each request has the Hub deadline and no retries.
    """
    _check_online(f"{author}/x")
    limit = min(limit, MAX_LISTED)
    what = f"the model list of {author!r}"
    url: str | None = f"{settings.hub_endpoint()}/api/models"
    params: list[tuple[str, Any]] | None = [
        ("author", author), ("sort", "lastModified"), ("limit", min(limit, page_size)),
        *(("expand", e) for e in LIST_EXPAND),
    ]
    found: list[HubModel] = []
    skipped: list[str] = []
    asked: set[str] = set()
    stopped: str | None = None
    while url and len(found) < limit:
        stopped = _stop_reason(url, asked)
        if stopped:
            break
        asked.add(url)
        reply = _get(url, params, what, MAX_PAGE_BYTES)
        _refuse(reply, author, "model list")
        page = _json(reply.body, what)
        if not isinstance(page, list):
            raise HubError(f"the Hub at {_endpoint()} answered the model list of {author!r} with no list")
        found += _records(page[: limit - len(found)], {m.repo_id for m in found}, skipped)
        url, params = reply.next_url, None
    if stopped:
        logger.warning("The Hub's listing of %s stopped early: %s.", author, stopped)
    if skipped:
        logger.warning("Skipped %d item(s) of the Hub's listing of %s; the first: %s.", len(skipped), author, skipped[0])
    return found[:limit], url is None and not skipped


def _stop_reason(url: str, asked: set[str]) -> str | None:
    """Why a listing's next page is not asked for, if it is not."""
    if not _on_endpoint(url):
        scheme, host, port = _origin(url)
        return f"its next link points to {scheme}://{host}:{port}, not to {_endpoint()}"
    if url in asked:
        return "its next link repeats a page"
    if len(asked) >= MAX_PAGES:
        return f"more than {MAX_PAGES} pages"
    return None


def _records(items: list[Any], known: set[str], skipped: list[str]) -> list[HubModel]:
    """The model records among a page's items not `known` yet; the items that are not are described in `skipped`."""
    models = []
    for item in items:
        try:
            record = _Record.model_validate(item)
        except ValidationError as exc:
            skipped.append(f"an item that is not a model record ({_first_error(exc)})")
            continue
        if not is_repo_id(record.id):
            skipped.append(f"an item whose id {record.id[:80]!r} is not a repo id")
            continue
        if record.id not in known:
            known.add(record.id)
            models.append(_hub_model(record))
    return models


def _hub_model(record: _Record, asked: str | None = None) -> HubModel:
    """A HubModel from a validated record; `asked` stands in for an id that is not a repo id."""
    card = record.card or _Card()
    bases = [card.base_model] if isinstance(card.base_model, str) else (card.base_model or [])
    return HubModel(
        repo_id=record.id if is_repo_id(record.id) or asked is None else asked,
        license=card.license and card.license[:MAX_CARD_CHARS],
        license_name=card.license_name and card.license_name[:MAX_CARD_CHARS],
        license_link=card.license_link and card.license_link[:MAX_CARD_CHARS],
        base_models=tuple(b[:MAX_CARD_CHARS] for b in bases[:MAX_BASE_MODELS]),
        gated=record.gated if record.gated is not None else False,
        pipeline_tag=record.pipeline_tag,
        tags=tuple(record.tags),
        last_modified=record.last_modified.isoformat() if record.last_modified else None,
        extra={
            "created_at": record.created_at.isoformat() if record.created_at else None,
            "parameters": record.safetensors.total if record.safetensors else None,
        },
    )


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc']) or 'the item'}: {error['msg']}"


def _refuse(reply: _Reply, repo_id: str, what: str) -> None:
    """HubError (or HubNotFoundError) for any answer but 200, in words the user can act on."""
    status = reply.status
    if status == 200:
        return
    code = reply.headers.get("x-error-code", "")
    if code == "GatedRepo":
        raise HubError(f"{repo_id!r} is gated on the Hub: accept its terms on its page and set HF_TOKEN to read {what}")
    if code in ("RepoNotFound", "EntryNotFound") or status == 404:
        raise HubNotFoundError(f"the Hub has no {what} for {repo_id!r}")
    if status in (401, 403):
        raise HubError(f"{repo_id!r} is gated or private on the Hub: set HF_TOKEN with access to read {what}")
    raise HubError(f"the Hub at {_endpoint()} answered HTTP {status} for the {what} of {repo_id!r}")


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise HubError(f"{what} is nested too deeply to be read as JSON") from None
    except ValueError:
        raise HubError(f"{what} is not valid JSON") from None


def _get(url: str, params: list[tuple[str, Any]] | None, what: str, max_bytes: int) -> _Reply:
    """GET on the Hub endpoint, holding one of MAX_CONCURRENT slots (or failing at once when none is free)."""
    if not _SLOTS.acquire(blocking=False):
        raise HubError(f"{MAX_CONCURRENT} requests to the Hub are already under way, so {what} was not asked; "
                       "try again in a few seconds")
    try:
        return anyio.run(_fetch, url, params, what, max_bytes)
    finally:
        _SLOTS.release()


async def _fetch(url: str, params: list[tuple[str, Any]] | None, what: str, max_bytes: int) -> _Reply:
    """The reply, within the Hub deadline: redirects followed only on the endpoint's origin, the body capped."""
    import httpx2

    deadline = settings.hub_timeout()
    try:
        with anyio.fail_after(deadline):
            async with httpx2.AsyncClient(follow_redirects=False, timeout=deadline, verify=_ssl_context()) as client:
                for _ in range(MAX_REDIRECTS + 1):
                    if not _on_endpoint(url):
                        raise HubError(f"the Hub redirected {what} to another host ({urlsplit(url).hostname}); not followed")
                    async with client.stream("GET", url, params=params, headers=_headers()) as response:
                        if response.status_code not in _REDIRECTS:
                            body = await _read(response, max_bytes, what) if response.status_code == 200 else b""
                            next_url = response.links.get("next", {}).get("url")
                            return _Reply(response.status_code, response.headers, body, next_url)
                        url, params = urljoin(str(response.url), response.headers.get("location", "")), None
    except TimeoutError:
        raise HubError(f"the Hub at {_endpoint()} did not answer for {what} within {deadline:g} s") from None
    except httpx2.HTTPError as exc:
        raise HubError(f"the Hub at {_endpoint()} did not answer for {what} ({type(exc).__name__})") from None
    raise HubError(f"too many redirects for {what}")


def _headers() -> dict[str, str]:
    """User agent and, for the endpoint only (the only place requests go), the token."""
    from huggingface_hub.utils import build_hf_headers

    return {**build_hf_headers(token=settings.hub_token(), library_name="finetune-advisor"), "Accept-Encoding": "gzip"}


@functools.cache
def _ssl_context() -> Any:
    import httpx2

    return httpx2.create_ssl_context()


async def _read(response: Any, max_bytes: int, what: str) -> bytes:
    """The body, its encodings undone, stopped as soon as it passes `max_bytes` before or after decoding."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise HubError(f"{what} is {int(declared)} bytes, over the {max_bytes // 1024} KiB cap; not read")
    decoder = _Decoder(response.headers.get("content-encoding", ""), max_bytes, what)
    async for chunk in response.aiter_raw():
        decoder.feed(chunk)
    return bytes(decoder.body)


class _Decoder:
    """Content-Encoding (gzip, deflate, stacked) undone chunk by chunk; no layer may produce more than the cap."""

    def __init__(self, header: str, cap: int, what: str) -> None:
        names = [n.strip().lower() for n in header.split(",") if n.strip() and n.strip().lower() != "identity"]
        unknown = [n for n in names if n not in _WBITS]
        if unknown:
            raise HubError(f"{what} came in an encoding that is not read here ({', '.join(unknown)})")
        self.layers = [zlib.decompressobj(_WBITS[n]) for n in reversed(names)]
        self.cap, self.what = cap, what
        self.raw = 0
        self.body = bytearray()

    def feed(self, chunk: bytes) -> None:
        self.raw += len(chunk)
        if self.raw > self.cap:
            raise HubError(f"{self.what} passed the {self.cap // 1024} KiB cap; reading stopped")
        for layer in self.layers:
            chunk = self._inflate(layer, chunk)
        self.body += chunk
        if len(self.body) > self.cap:
            raise HubError(f"{self.what} passed the {self.cap // 1024} KiB cap once decompressed; reading stopped")

    def _inflate(self, layer: Any, data: bytes) -> bytes:
        out = bytearray()
        try:
            while data and not layer.eof:
                out += layer.decompress(data, self.cap + 1 - len(out))
                if len(out) > self.cap:
                    raise HubError(f"{self.what} passed the {self.cap // 1024} KiB cap once decompressed; reading stopped")
                data = layer.unconsumed_tail
        except zlib.error:
            raise HubError(f"{self.what} is not valid compressed data") from None
        return bytes(out)
