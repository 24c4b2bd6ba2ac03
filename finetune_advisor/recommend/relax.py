"""What would let an excluded model qualify: the one-constraint changes behind `what_would_qualify`.

Each model serving the task is checked against every hard rule at once (not stopping at the first
failure); a model failing exactly one rule is one change away, and that change is reported with
the models it would open: more memory, a shorter seq_len, QLoRA, other licence terms or plans.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from finetune_advisor.catalog.schema import CatalogEntry
from finetune_advisor.recommend import ranking
from finetune_advisor.recommend.facts import FactFinder, evaluate, methods_needed
from finetune_advisor.recommend.ranking import Failure, Request
from finetune_advisor.vram import fit

_SHORTER_SEQ_LENS = (8192, 4096, 2048, 1024, 512)
_MAX_NAMES = 3


def _names(entries: Sequence[CatalogEntry]) -> str:
    shown = ", ".join(e.name for e in entries[:_MAX_NAMES])
    return shown + (f" and {len(entries) - _MAX_NAMES} more" if len(entries) > _MAX_NAMES else "")


def all_failures(entry: CatalogEntry, req: Request, finder: FactFinder, newest: date | None) -> list[Failure]:
    """Every hard rule the entry fails (the licence does not hide a memory failure)."""
    found = ranking.static_failures(entry, req, first_only=False)
    facts = finder.facts(entry, methods_needed(req), req.seq_len, req.variant)
    if facts.verdict == "not_allowed":
        found.append(Failure("license", facts.license_note))
        facts = replace(facts, verdict="allowed")
    outcome = ranking.evaluate(entry, req, facts, newest)
    if isinstance(outcome, Failure):
        found.append(outcome)
    return found


def single_changes(serving: Sequence[CatalogEntry], req: Request, finder: FactFinder, newest: date | None) -> list[str]:
    """Sentences naming one change each and the models it would let qualify."""
    one_away: dict[str, list[tuple[CatalogEntry, Failure]]] = defaultdict(list)
    for entry in serving:
        failures = all_failures(entry, req, finder, newest)
        if len(failures) == 1:
            one_away[failures[0].rule].append((entry, failures[0]))
    out: list[str] = []
    if one_away.get("memory"):
        out += _memory_changes([e for e, _ in one_away["memory"]], req, finder, newest)
    if one_away.get("license"):
        out += _licence_changes([e for e, _ in one_away["license"]], req, finder, newest)
    if one_away.get("allowed_licenses"):
        by_licence: dict[str, list[CatalogEntry]] = defaultdict(list)
        for e, _ in one_away["allowed_licenses"]:
            missing = sorted({lic or "unknown" for lic in ranking.licence_ids(e) if lic not in req.allowed_licenses})
            by_licence[", ".join(missing)].append(e)
        for lic, entries in sorted(by_licence.items(), key=lambda kv: -len(kv[1]))[:2]:
            out.append(f"Adding {lic} to 'allowed_licenses' would let {_names(entries)} qualify.")
    if one_away.get("max_params_b"):
        entries = sorted((e for e, _ in one_away["max_params_b"]), key=lambda e: e.params_total_b or 1e9)
        if entries[0].params_total_b:
            out.append(f"max_params_b {entries[0].params_total_b:g} would let {_names(entries[:1])} qualify.")
    if one_away.get("seq_len"):
        entries = sorted((e for e, _ in one_away["seq_len"]), key=lambda e: -(e.context_length or 0))
        out.append(f"seq_len {entries[0].context_length} or less would let {_names(entries)} qualify.")
    return out


def _memory_changes(entries: list[CatalogEntry], req: Request, finder: FactFinder, newest: date | None) -> list[str]:
    out: list[str] = []
    needs: list[tuple[float, CatalogEntry, str]] = []
    for e in entries:
        facts = finder.facts(e, ("qlora",) if req.method == "auto" else (req.method,), req.seq_len, req.variant)
        method = "qlora" if req.method == "auto" else req.method
        est = facts.estimates.get(method)
        if est is not None:
            needs.append((fit.memory_needed(est, req.reserved_gib, facts.margins[method]), e, method))
    needs.sort(key=lambda t: t[0])
    if needs:
        need, first, method = needs[0]
        out.append(f"A GPU with at least {need:.1f} GiB would fit {first.name} comfortably ({ranking.METHOD_NAMES[method]}, seq_len {req.seq_len}).")
    for seq_len in (s for s in _SHORTER_SEQ_LENS if s < req.seq_len):
        shorter = replace(req, seq_len=seq_len)
        fitting = [e for e in entries if not isinstance(evaluate(e, shorter, finder, newest), Failure)]
        if fitting:
            out.append(f"seq_len {seq_len} would fit {_names(fitting)} in {req.memory_gib:g} GiB.")
            break
    if req.method in ("lora", "full"):
        qlora = replace(req, method="qlora")
        fitting = [e for e in entries if not isinstance(evaluate(e, qlora, finder, newest), Failure)]
        if fitting:
            out.append(f"method qlora (or auto) would fit {_names(fitting)} in {req.memory_gib:g} GiB.")
    return out


def _licence_changes(entries: list[CatalogEntry], req: Request, finder: FactFinder, newest: date | None) -> list[str]:
    relaxations = (
        ("Non-commercial use", replace(finder, commercial_use=False)),
        ("A company outside the EU", replace(finder, eu_entity=False)),
        ("A smaller user base (below the licence's monthly-active-user threshold)", replace(finder, monthly_active_users=None)),
    )
    out: list[str] = []
    for label, relaxed in relaxations:
        if relaxed == finder:
            continue
        opened = [e for e in entries if not isinstance(evaluate(e, req, relaxed, newest), Failure)]
        if opened:
            out.append(f"{label} would let {_names(opened)} qualify.")
    return out
