"""The model a tool is asked about, however it was named: a catalog name, a Hub repo id (its
config.json), config.json fields given inline, or a bare parameter count."""

from __future__ import annotations

from typing import Any

from finetune_advisor.adapters import hub
from finetune_advisor.adapters.cache import catalog_note, load_catalog
from finetune_advisor.catalog.resolve import resolve
from finetune_advisor.errors import HubError, HubNotFoundError, InvalidInputError, UnknownModelError
from finetune_advisor.hub_card import is_repo_id
from finetune_advisor.vram import resolve as resolving
from finetune_advisor.vram.resolve import ResolvedArch


def resolve_model(model: str | None, architecture: dict[str, Any] | None, params_b: float | None) -> ResolvedArch:
    """Exactly one of the three ways to name a model, turned into an architecture."""
    given = [name for name, v in (("model", model), ("architecture", architecture), ("params_b", params_b)) if v is not None]
    if len(given) != 1:
        raise InvalidInputError(given[1] if len(given) > 1 else "model", "give exactly one of model, architecture or params_b"
                                + (f" (got {', '.join(given)})" if given else ""),
                                "a catalog id or repo id in model, or config.json fields in architecture, or params_b")
    if params_b is not None:
        return resolving.from_params(params_b)
    if architecture is not None:
        return resolving.from_architecture(architecture)
    catalog = load_catalog()
    try:
        found = resolve(catalog, model or "")
    except UnknownModelError as exc:
        if not is_repo_id((model or "").strip()):
            raise
        return _from_hub((model or "").strip(), exc.suggestions)
    resolved = resolving.from_catalog(found, catalog.guidance(found.entry.family), catalog)
    if note := catalog_note():
        resolved.notes.append(note)
    return resolved


def _from_hub(repo_id: str, suggestions: list[str]) -> ResolvedArch:
    try:
        config = hub.fetch_config(repo_id)
    except HubNotFoundError:
        raise UnknownModelError(repo_id, "not in the catalog, and the Hub has no config.json for it", suggestions) from None
    except HubError as exc:
        raise UnknownModelError(repo_id, f"not in the catalog, and the Hub could not be asked ({exc}); without the "
                                "Hub, give its config.json fields as 'architecture' or its size as 'params_b'",
                                suggestions) from None
    return resolving.from_hub_config(repo_id, config)
