"""The facts `recommend_model` needs from other modules, per catalog entry: the licence verdict for
the user's plans (licence engine) and the peak-memory estimate per method (VRAM estimator).

Both are computed from packaged data only (no Hub call: every entry is in the catalog), and
memoised: estimates per (entry, method, seq_len) for the process, verdicts per request.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from finetune_advisor.tools import ranking
from finetune_advisor.tools.catalog import CatalogEntry, Variant, load_catalog
from finetune_advisor.tools.errors import AdvisorError
from finetune_advisor.tools.check_license import check_catalog_entry
from finetune_advisor.tools.licenses import Plans
from finetune_advisor.tools.vram import RunConfig, Storage, estimate
from finetune_advisor.tools.vram_shapes import architecture_for_params
from finetune_advisor.tools.ranking import Candidate, Facts, Failure, Method, Request, Verdict


def methods_needed(req: Request) -> tuple[Method, ...]:
    """Estimates the method choice needs: QLoRA always for auto, LoRA too when memory is known."""
    if req.method == "auto":
        return ("qlora",) if req.memory_gib is None else ("qlora", "lora")
    return (req.method,)


@dataclass(frozen=True)
class FactFinder:
    """Licence verdicts for one set of plans, and memory estimates, for catalog entries."""

    commercial_use: bool = True
    monthly_active_users: int | None = None
    eu_entity: bool = False
    _verdicts: dict[str, tuple[Verdict, str]] = field(default_factory=dict, compare=False, repr=False, init=False)

    def facts(self, entry: CatalogEntry, methods: Iterable[Method], seq_len: int, variant: Variant = "instruct") -> Facts:
        verdict, note = self.licence(entry)
        estimates: dict[Method, float | None] = {}
        caveat = None
        chosen = ranking.pick_variant(entry, variant)[0]
        for method in methods:
            estimates[method], why = _estimate(entry, method, seq_len, chosen)
            caveat = caveat or why
        return Facts(verdict=verdict, license_note=note, estimates=estimates, estimate_caveat=caveat)

    def licence(self, entry: CatalogEntry) -> tuple[Verdict, str]:
        if entry.id not in self._verdicts:
            plans = Plans(commercial_use=self.commercial_use, monthly_active_users=self.monthly_active_users or 0, eu_entity=self.eu_entity)
            self._verdicts[entry.id] = _licence(entry, plans)
        return self._verdicts[entry.id]


def evaluate(entry: CatalogEntry, req: Request, finder: FactFinder, newest: date | None) -> Candidate | Failure:
    """The first hard rule the entry fails, else the entry as a scored candidate."""
    failures = ranking.static_failures(entry, req)
    if failures:
        return failures[0]
    return ranking.evaluate(entry, req, finder.facts(entry, methods_needed(req), req.seq_len, req.variant), newest)


def _licence(entry: CatalogEntry, plans: Plans) -> tuple[Verdict, str]:
    """check_license's verdict for the entry (its own and inherited licences), with the deciding words."""
    result = check_catalog_entry(entry, plans)
    if result.verdict in ("not_allowed", "unknown"):
        words = result.reasons[:1]
    else:
        words = [*result.obligations, *result.restrictions][:2]
    return result.verdict, " ".join(words) or "no conditions for these plans"


def storage_for(entry: CatalogEntry, variant: Variant, method: Method) -> Storage:
    """How the checkpoint recommend_model names is stored (the dynamic 4-bit one costs a little more)."""
    if method != "qlora":
        return "16bit"
    repo = ranking.load_ids(entry, variant, method)[0] or ""
    return "unsloth-bnb-4bit" if repo.endswith("-unsloth-bnb-4bit") else "bnb-4bit" if repo.endswith("-bnb-4bit") else "16bit"


@functools.lru_cache(maxsize=8192)
def _estimate_cached(catalog_key: int, model_id: str, method: Method, seq_len: int, variant: Variant) -> tuple[float | None, str | None]:
    entry = load_catalog().get(model_id)
    assert entry is not None
    arch, caveat = entry.architecture, None
    if entry.architecture_status in ("unverified",):
        caveat = "Its architecture in the catalog is not verified: treat the memory estimate as rough."
    if arch is None:
        if entry.params_total_b is None:
            return None, "Memory not estimated: neither the architecture nor the parameter count is recorded."
        arch, template = architecture_for_params(entry.params_total_b)
        caveat = f"Memory estimated from the parameter count only (layout scaled from {template}): treat it as rough."
    run = RunConfig(method=method, seq_len=seq_len, storage=storage_for(entry, variant, method))
    params = entry.params_total_b * 1e9 if entry.params_total_b else None
    try:
        result = estimate(arch, run, params_total=params, context_length=entry.context_length)
    except AdvisorError as exc:
        return None, f"Memory not estimated: {exc}"
    return result.total_gib, caveat


def _estimate(entry: CatalogEntry, method: Method, seq_len: int, variant: Variant) -> tuple[float | None, str | None]:
    return _estimate_cached(id(load_catalog()), entry.id, method, seq_len, variant)
