"""The facts `recommend_model` needs from other modules, per catalog entry: the licence verdict for
the user's plans (licence engine) and the peak-memory estimate per method (VRAM estimator).

Both are computed from packaged data only (no Hub call: every entry is in the catalog) and
memoised for the process, keyed by the loaded catalog: estimates per (entry, method, seq_len,
variant), verdicts per (entry, plans).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from finetune_advisor.catalog.resolve import resolve
from finetune_advisor.catalog.schema import Catalog, CatalogEntry
from finetune_advisor.errors import AdvisorError
from finetune_advisor.licensing.binding import check_catalog_entry
from finetune_advisor.licensing.rules import Plans
from finetune_advisor.recommend import ranking
from finetune_advisor.recommend.ranking import Candidate, Facts, Failure, Request
from finetune_advisor.vocabulary import Method, Variant, Verdict
from finetune_advisor.vram import fit
from finetune_advisor.vram.estimator import RunConfig
from finetune_advisor.vram.constants import DRIVER_RESERVED_GIB
from finetune_advisor.vram.ground import ground_notes
from finetune_advisor.vram.report import fitted
from finetune_advisor.vram.resolve import advised_against, from_catalog

COARSE_CAVEAT = "Memory estimated from the parameter count only"
_memo_catalog: list[Catalog] = []  # the catalog the memo tables were filled from (held, so its id stays unique)


def _catalog_key(catalog: Catalog) -> int:
    """The catalog's id; the memo tables are emptied when another catalog is used."""
    if not _memo_catalog or _memo_catalog[0] is not catalog:
        _memo_catalog[:] = [catalog]
        _licence.cache_clear()
        _estimate_cached.cache_clear()
    return id(catalog)


def _entry(model_id: str) -> CatalogEntry:
    entry = _memo_catalog[0].get(model_id)
    assert entry is not None, model_id  # the memo tables only see ids of the catalog they were filled from
    return entry


def methods_needed(req: Request) -> tuple[Method, ...]:
    """Estimates the method choice needs: QLoRA always for auto, LoRA too when memory is known."""
    if req.method == "auto":
        return ("qlora",) if req.memory_gib is None else ("qlora", "lora")
    return (req.method,)


@dataclass(frozen=True)
class FactFinder:
    """Licence verdicts for one set of plans, and memory estimates, for the entries of `catalog`."""

    catalog: Catalog
    commercial_use: bool = True
    monthly_active_users: int | None = None
    eu_entity: bool = False
    bf16: bool = True  # False on a pre-Ampere GPU: fp16 training, float32 weights for some families
    memory_gib: float | None = None  # the GPU's: estimate_vram's figure depends on it (embedding offload)
    reserved_gib: float = DRIVER_RESERVED_GIB  # what its driver keeps
    gpu_capability: str | None = None  # its compute capability, SMs and name, where known (RunConfig's fields)
    gpu_sms: int | None = None
    gpu_name: str | None = None
    image_rows: bool = False  # a vision task: rows carry one image each (Unsloth's vision notebooks' datasets)

    def facts(self, entry: CatalogEntry, methods: Iterable[Method], seq_len: int, variant: Variant = "instruct") -> Facts:
        verdict, note = self.licence(entry)
        estimates: dict[Method, float | None] = {}
        caveats: dict[Method, str | None] = {}
        margins: dict[Method, float] = {}
        chosen = ranking.pick_variant(entry, variant)[0]
        images = int(self.image_rows and "image" in entry.modalities)
        aux_off: dict[Method, float] = {}
        for method in methods:
            key = (_catalog_key(self.catalog), entry.id, method, seq_len, chosen, self.bf16, self.memory_gib,
                   self.reserved_gib, self.gpu_capability, self.gpu_sms, self.gpu_name, images)
            estimates[method], margins[method], caveats[method], first_step = _estimate_cached(*key)
            if first_step:  # a MoE whose first Unsloth step keeps the routers' trials: the run without them too
                aux_off[method] = _estimate_cached(*key, router_aux_loss=False)[0]
        advice = self.catalog.guidance(entry.family)
        against = advised_against(advice)
        avoid, why = tuple(against), next(iter(against.values()), None)
        templates = {v: t for v, t in (("base", advice and advice.chat_template_base),
                                        ("instruct", advice and advice.chat_template_instruct)) if t}
        coarse = any(c and c.startswith(COARSE_CAVEAT) for c in caveats.values())
        return Facts(verdict=verdict, license_note=note, estimates=estimates, estimate_caveats=caveats, margins=margins,
                     avoid_methods=avoid, avoid_reason=why, coarse=coarse,
                     min_transformers=advice.min_transformers if advice else None, chat_templates=templates,
                     aux_off=aux_off)

    def licence(self, entry: CatalogEntry) -> tuple[Verdict, str]:
        return _licence(_catalog_key(self.catalog), entry.id, self.commercial_use, self.monthly_active_users or 0, self.eu_entity)


def evaluate(entry: CatalogEntry, req: Request, finder: FactFinder, newest: date | None) -> Candidate | Failure:
    """The first hard rule the entry fails, else the entry as a scored candidate."""
    failures = ranking.static_failures(entry, req)
    if failures:
        return failures[0]
    return ranking.evaluate(entry, req, finder.facts(entry, methods_needed(req), req.seq_len, req.variant), newest)


@functools.lru_cache(maxsize=8192)
def _licence(catalog_key: int, model_id: str, commercial_use: bool, mau: int, eu_entity: bool) -> tuple[Verdict, str]:
    """check_license's verdict for the entry (its own and inherited licences), with the deciding words."""
    entry = _entry(model_id)
    plans = Plans(commercial_use=commercial_use, monthly_active_users=mau, eu_entity=eu_entity)
    result = check_catalog_entry(entry, plans)
    if result.verdict in ("not_allowed", "unknown"):
        words = result.reasons[:1]
    else:
        words = [*result.obligations, *result.restrictions][:2]
    return result.verdict, " ".join(words) or "no conditions for these plans"


@functools.lru_cache(maxsize=8192)
def _estimate_cached(
    catalog_key: int, model_id: str, method: Method, seq_len: int, variant: Variant, bf16: bool, memory_gib: float | None,
    reserved_gib: float, gpu_capability: str | None, gpu_sms: int | None, gpu_name: str | None, images: int = 0,
    router_aux_loss: bool = True,
) -> tuple[float | None, float, str | None, float]:
    """estimate_vram's need for the checkpoint recommend_model would name on this GPU (needs_gib: same resolution,
    same estimate, same verdict), its expected error as a share, a caveat, and what of it only the first step of a
    fresh Unsloth process holds (RunConfig.router_aux_loss)."""
    entry, catalog = _entry(model_id), _memo_catalog[0]
    repo = ranking.load_ids(entry, variant, method)[0] or (entry.base_id if variant == "base" else entry.instruct_id)
    try:
        found = resolve(catalog, repo or entry.id)
        if found.entry.id != entry.id:  # a repo id shared with another entry: size this one
            found = resolve(catalog, entry.id)
        resolved = from_catalog(found, catalog.guidance(found.entry.family), catalog)
        run = RunConfig(method=method, seq_len=seq_len, storage=resolved.storage, bf16=bf16, gpu_capability=gpu_capability,
                        gpu_sms=gpu_sms, gpu_name=gpu_name, images_per_row=images, router_aux_loss=router_aux_loss)
        core = fitted(resolved, run, memory_gib, reserved_gib)[1]
    except AdvisorError as exc:
        return None, fit.TIGHT_FRACTION, f"Memory not estimated: {str(exc).split(' Accepted:')[0]}", 0.0
    need = round(core.need_gib, 2)
    if resolved.coarse:
        return need, core.margin, COARSE_CAVEAT + " (no architecture in the catalog): treat it as rough; ranked lower.", 0.0
    said = []
    if entry.architecture_status == "unverified":
        said.append("The catalog's architecture for this model is unverified: treat the memory estimate as rough.")
    said.extend(ground_notes(resolved.arch, run))  # issue 11 item 7: say how little the figure rests on
    return need, core.margin, " ".join(said) or None, core.first_step_gib

