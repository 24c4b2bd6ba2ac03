"""Adapter to the Hugging Face Hub through `huggingface_hub`: model metadata and config.json.

Used only for models the packaged catalog does not know, and by `catalog refresh`. Every call
has an explicit timeout, honours HF_ENDPOINT / HF_TOKEN / HF_HUB_OFFLINE / FINETUNE_ADVISOR_OFFLINE,
and maps the library's errors onto ours. `huggingface_hub` is imported on first use only.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from finetune_advisor import settings
from finetune_advisor.errors import HubError, HubNotFoundError
from finetune_advisor.hub_card import HubModel, is_repo_id

logger = logging.getLogger(__name__)

_MAX_CONFIG_BYTES = 2 * 1024 * 1024
_MAX_REDIRECTS = 3


def _check_online(repo_id: str) -> None:
    if settings.hub_offline():
        raise HubError(
            f"Offline (HF_HUB_OFFLINE or FINETUNE_ADVISOR_OFFLINE is set): cannot look up {repo_id!r} on the Hub"
        )
    if not is_repo_id(repo_id):
        raise HubNotFoundError(f"{repo_id!r} is not a Hugging Face repo id (expected 'owner/name')")


def _api() -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=settings.hub_endpoint(), token=settings.hub_token(), library_name="finetune-advisor")


def _translate(exc: Exception, repo_id: str, what: str) -> HubError:
    """Map huggingface_hub / httpx2 errors to ours, never echoing a token."""
    from huggingface_hub import errors as hf_errors

    if isinstance(exc, hf_errors.GatedRepoError):
        return HubError(f"{repo_id!r} is gated on the Hub: accept its terms on its page and set HF_TOKEN to read {what}")
    if isinstance(exc, (hf_errors.RepositoryNotFoundError, hf_errors.RemoteEntryNotFoundError)):
        return HubNotFoundError(f"the Hub has no {what} for {repo_id!r}")
    status = getattr(getattr(exc, "response", None), "status_code", None)
    kind = f"HTTP {status}" if status else type(exc).__name__
    return HubError(f"the Hub at {settings.hub_endpoint()} did not answer for {repo_id!r} ({kind})")


def model_info(repo_id: str) -> HubModel:
    """Licence, gating, base models and tags of a Hub repository."""
    _check_online(repo_id)
    try:
        info = _api().model_info(repo_id, timeout=settings.hub_timeout(), expand=["cardData", "gated", "pipeline_tag", "tags", "lastModified"])
    except Exception as exc:  # noqa: BLE001 - every library and transport error is mapped
        raise _translate(exc, repo_id, "model card") from None
    return _from_info(info)


def fetch_config(repo_id: str) -> dict[str, Any]:
    """The repository's config.json as a dict."""
    _check_online(repo_id)
    from huggingface_hub import get_session, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(repo_id, "config.json", endpoint=settings.hub_endpoint())
    headers = build_hf_headers(token=settings.hub_token(), library_name="finetune-advisor")
    response = _get_on_hub_host(get_session(), url, headers, repo_id)
    if response.status_code in (401, 403):
        raise HubError(f"{repo_id!r} is gated or private on the Hub: set HF_TOKEN with access to read config.json")
    if response.status_code == 404:
        raise HubNotFoundError(f"the Hub has no config.json for {repo_id!r}")
    if response.status_code != 200:
        raise HubError(f"the Hub at {settings.hub_endpoint()} answered HTTP {response.status_code} for {repo_id!r}")
    if len(response.content) > _MAX_CONFIG_BYTES:
        raise HubError(f"config.json of {repo_id!r} is larger than {_MAX_CONFIG_BYTES} bytes")
    try:
        config = json.loads(response.content)
    except ValueError:
        raise HubError(f"config.json of {repo_id!r} is not valid JSON") from None
    if not isinstance(config, dict):
        raise HubError(f"config.json of {repo_id!r} is not a JSON object")
    return config


def _get_on_hub_host(session: Any, url: str, headers: dict[str, str], repo_id: str) -> Any:
    """GET, following redirects only while they stay on the Hub endpoint's host (the token goes nowhere else)."""
    from urllib.parse import urljoin, urlsplit

    home = urlsplit(settings.hub_endpoint()).netloc
    for _ in range(_MAX_REDIRECTS + 1):
        try:
            response = session.get(url, headers=headers, timeout=settings.hub_timeout(), follow_redirects=False)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, repo_id, "config.json") from None
        if response.status_code not in (301, 302, 303, 307, 308):
            return response
        url = urljoin(url, response.headers.get("location", ""))
        if urlsplit(url).netloc != home:
            raise HubError(f"the Hub redirected config.json of {repo_id!r} to another host ({urlsplit(url).netloc}); not followed")
    raise HubError(f"too many redirects for config.json of {repo_id!r}")


# Fields `list_models_detailed` asks the Hub to expand for every repository.
LIST_EXPAND = ("cardData", "gated", "lastModified", "createdAt", "pipeline_tag", "tags", "safetensors")


def list_models_detailed(author: str, limit: int = 1000, page_size: int = 500) -> tuple[list[HubModel], bool]:
    """An organisation's models with card licence, dates, pipeline tag and parameter count.

    Returns (models newest first, complete) where complete is False when `limit` cut the list.
    Pages are followed through the Link header; each request has the Hub timeout and no retries.
    """
    _check_online(f"{author}/x")
    from huggingface_hub import get_session
    from huggingface_hub.hf_api import ModelInfo
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

    headers = build_hf_headers(token=settings.hub_token(), library_name="finetune-advisor")
    url: str | None = f"{settings.hub_endpoint()}/api/models"
    params: list[tuple[str, Any]] | None = [
        ("author", author), ("sort", "lastModified"), ("limit", min(limit, page_size)),
        *(("expand", e) for e in LIST_EXPAND),
    ]
    found: list[HubModel] = []
    while url and len(found) < limit:
        try:
            response = get_session().get(url, params=params, headers=headers, timeout=settings.hub_timeout())
            hf_raise_for_status(response)
            page = response.json()
        except Exception as exc:  # noqa: BLE001 - every library and transport error is mapped
            raise _translate(exc, author, "model list") from None
        if not isinstance(page, list):
            raise HubError(f"the Hub at {settings.hub_endpoint()} answered the model list of {author!r} with no list")
        found += [_from_info(ModelInfo(**{"siblings": None, **item})) for item in page if isinstance(item, dict) and item.get("id")]
        url, params = response.links.get("next", {}).get("url"), None
    return found[:limit], url is None and len(found) <= limit


def _from_info(info: Any) -> HubModel:
    """A HubModel from huggingface_hub's ModelInfo (listing or model_info answer)."""
    card = info.card_data.to_dict() if getattr(info, "card_data", None) else {}
    base = card.get("base_model") or ()
    if isinstance(base, str):
        base = (base,)
    safetensors = getattr(info, "safetensors", None)
    created = getattr(info, "created_at", None)
    return HubModel(
        repo_id=info.id,
        license=card.get("license"),
        license_name=card.get("license_name"),
        license_link=card.get("license_link"),
        base_models=tuple(str(b) for b in base),
        gated=info.gated if info.gated is not None else False,
        pipeline_tag=info.pipeline_tag,
        tags=tuple(info.tags or ()),
        last_modified=info.last_modified.isoformat() if getattr(info, "last_modified", None) else None,
        extra={
            "created_at": created.isoformat() if created else None,
            "parameters": getattr(safetensors, "total", None),
        },
    )
