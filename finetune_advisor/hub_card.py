"""What the Hugging Face Hub says about a repository, as the Hub adapter returns it and the core
reads it (licence binding, catalog refresh). Card values (licence fields, base models) are text from
the network: whoever shows one goes through `finetune_advisor.untrusted.quote`, which cleans it,
quotes it and cuts it short."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def is_repo_id(ref: str) -> bool:
    """True for strings shaped like `owner/name`."""
    return bool(_REPO_ID.match(ref)) and ".." not in ref


@dataclass(frozen=True)
class HubModel:
    """What the Hub says about a model repository."""

    repo_id: str
    license: str | None = None
    license_name: str | None = None
    license_link: str | None = None
    base_models: tuple[str, ...] = ()
    gated: str | bool = False
    pipeline_tag: str | None = None
    tags: tuple[str, ...] = ()
    last_modified: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
