"""The `check_license` tool: which licences bind a model, and what they mean for the user's plans.

A model is found in the catalog first (ids, aliases, original, Unsloth and quantised repo ids all
map to one entry, so re-uploads carry the original's licence); a repo id the catalog does not know
is looked up on the Hub. `licensing.binding` decides; this module validates and looks things up.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from finetune_advisor.adapters import hub
from finetune_advisor.adapters.cache import catalog_note, load_catalog
from finetune_advisor.catalog.resolve import resolve
from finetune_advisor.errors import HubError, HubNotFoundError, InvalidInputError, UnknownModelError
from finetune_advisor.hub_card import is_repo_id
from finetune_advisor.licensing.binding import LicenseCheck, check_catalog_entry, check_hub_card, result
from finetune_advisor.licensing.rules import Plans, assess, unknown_assessment
from finetune_advisor.licensing.terms import get_license
from finetune_advisor.vocabulary import bounds, check_range, check_text, text_bounds


def check_license(
    model: Annotated[str, Field(**text_bounds("model"), description='Catalog id or HF repo id, e.g. "llama-3.1-8b"; or give license_id.')] = "",
    license_id: Annotated[str, Field(**text_bounds("license_id"), description='A licence id instead of a model, e.g. "llama3.1".')] = "",
    commercial_use: Annotated[bool, Field(description="e.g. false for research only.")] = True,
    monthly_active_users: Annotated[int, Field(**bounds("monthly_active_users"), description="Of your products, affiliates included, e.g. 800000000.")] = 0,
    eu_entity: Annotated[bool, Field(description="e.g. true: EU-domiciled person or EU-based company.")] = False,
    distribute_weights: Annotated[bool, Field(description="e.g. true to publish the weights, a fine-tune or adapter.")] = False,
    train_other_models_on_outputs: Annotated[bool, Field(description="e.g. true to train another model on its outputs.")] = False,
) -> LicenseCheck:
    """Check a model's licence against the user's plans: verdict, obligations, restrictions, reasons.

    Use before recommending, deploying or publishing a fine-tune; inherited base-model terms are included.
    """
    check_text("model", model)
    check_text("license_id", license_id)
    model, license_id = model.strip(), license_id.strip()
    check_range("monthly_active_users", monthly_active_users)
    if not model and not license_id:
        raise InvalidInputError(
            "model", "it is empty and no license_id was given",
            "a catalog id or alias (see catalog://models), a Hugging Face repo id such as 'Qwen/Qwen2.5-7B-Instruct', "
            "or a license_id instead",
        )
    if model and license_id:
        raise InvalidInputError("license_id", "both model and license_id were given", "one of them, not both")
    plans = Plans(
        commercial_use=commercial_use, monthly_active_users=monthly_active_users, eu_entity=eu_entity,
        distribute_weights=distribute_weights, train_other_models_on_outputs=train_other_models_on_outputs,
    )
    if license_id:
        lic = get_license(license_id)
        return result(None, lic.id, "license_id", assess(lic, plans), [], lic.gated_on_hf, [])
    catalog = load_catalog()
    try:
        resolved = resolve(catalog, model)
    except UnknownModelError as not_found:
        if not is_repo_id(model):
            raise
        return _with_catalog_note(_from_hub(model, plans, not_found))
    return _with_catalog_note(check_catalog_entry(resolved.entry, plans, asked=model, resolved=resolved))


def _with_catalog_note(check: LicenseCheck) -> LicenseCheck:
    """The answer, saying so when the catalog it consulted is a cached copy."""
    note = catalog_note()
    return check if note is None else check.model_copy(update={"notes": [*check.notes, note]})


def _from_hub(repo_id: str, plans: Plans, not_found: UnknownModelError) -> LicenseCheck:
    try:
        info = hub.model_info(repo_id)
    except HubNotFoundError:
        raise UnknownModelError(repo_id, "neither in the catalog nor on the Hugging Face Hub", not_found.suggestions) from None
    except HubError as exc:
        reason = f"{repo_id} is not in the catalog and the Hub could not be asked ({exc}), so its licence is unknown."
        if not_found.suggestions:
            reason += f" Closest catalog ids: {', '.join(not_found.suggestions)}."
        return result(repo_id, None, "unresolved", unknown_assessment(reason), [], None, [])
    return check_hub_card(info, plans, load_catalog(), hub.model_info)
