"""`finetune-advisor catalog list|show|refresh|check|build`: browse the model catalog, refresh it from the Hub,
or (maintainers) check and build it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from finetune_advisor.adapters.cache import load_catalog
from finetune_advisor.catalog.resolve import resolve
from finetune_advisor.catalog.schema import CatalogEntry
from finetune_advisor.errors import InvalidInputError
from finetune_advisor.server.commands import positive_int
from finetune_advisor.server.output import emit, emit_json, say, table
from finetune_advisor.vocabulary import TASKS

if TYPE_CHECKING:
    from finetune_advisor.catalog.refresh import RefreshReport


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("catalog", help="list, show or refresh the model catalog", description=__doc__)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    ls = actions.add_parser("list", help="table of the catalog's models", description="List the catalog's models.")
    ls.add_argument("--task", choices=TASKS, help="only models suited to this task")
    ls.add_argument("--family", help="only this family (e.g. qwen3, gemma-3, llama-3.1)")
    ls.add_argument("--json", action="store_true", help="print the entries as JSON")
    ls.set_defaults(handler=run_list, parser=ls)

    show = actions.add_parser("show", help="one model in full", description="Show one catalog entry.")
    show.add_argument("model", metavar="ID", help="catalog id, alias, Hugging Face repo id or Unsloth id")
    show.add_argument("--json", action="store_true", help="print the entry as JSON")
    show.set_defaults(handler=run_show, parser=show)

    refresh = actions.add_parser(
        "refresh",
        help="update a user-cache copy of the catalog from the Hub's unsloth models",
        description="List the unsloth organisation's models on the Hub (HF_ENDPOINT), check every entry against "
        "it (Unsloth ids, card licence, config.json) and write the result to the user cache; the packaged catalog "
        "is never changed. Progress goes to stderr.",
    )
    refresh.add_argument("--limit", type=positive_int, default=5000, metavar="N",
                         help="list at most this many repositories (default 5000)")
    refresh.add_argument("--json", action="store_true", help="print the refresh report as JSON")
    refresh.set_defaults(handler=run_refresh, parser=refresh)

    check = actions.add_parser(
        "check", help="validate the catalog data (schema, licences, Unsloth ids, sources, self-consistency)",
        description="Validate the packaged catalog: schema, known licence ids, Unsloth ids in the slot their name says, "
        "a source for every fact, parameter counts and context lengths that agree with the architecture. With --source, "
        "check the TOML source in a checkout and whether catalog.json is built from it. Exit 1 on any problem.",
    )
    check.add_argument("--source", action="store_true", help="check the TOML source (finetune_advisor/catalog/data) too")
    check.set_defaults(handler=run_check, parser=check)

    build = actions.add_parser(
        "build", help="write catalog.json from the TOML source (maintainers, in a checkout)",
        description="Validate finetune_advisor/catalog/data/*.toml and write finetune_advisor/catalog/catalog.json from it.",
    )
    build.set_defaults(handler=run_build, parser=build)


def run_list(args: argparse.Namespace) -> int:
    models = load_catalog().models
    if args.task:
        models = [m for m in models if args.task in m.tasks]
    if args.family:
        families = sorted({m.family for m in load_catalog().models})
        if args.family.lower() not in families:
            raise InvalidInputError("family", f"no family {args.family!r} in the catalog", ", ".join(families))
        models = [m for m in models if m.family == args.family.lower()]
    if args.json:
        emit_json([m.model_dump(mode="json") for m in models])
        return 0
    rows = [(m.id, _params(m), ", ".join(m.tasks), m.license_id, m.release_date) for m in models]
    emit(table(("id", "params", "tasks", "licence", "release"), rows, keep=(0,)))
    catalog = load_catalog()
    origin = f"{catalog.generated_by or 'the catalog'}, {catalog.generated_at:%Y-%m-%d}" if catalog.generated_at else "the catalog"
    say(f"{len(models)} models ({origin}); `finetune-advisor catalog show ID` for one in full.")
    return 0


def run_show(args: argparse.Namespace) -> int:
    found = resolve(load_catalog(), args.model)
    entry = found.entry
    if args.json:
        emit_json(entry)
        return 0
    uncertain = set(entry.uncertain_fields)

    def line(label: str, value: object, field: str) -> None:
        flag = "  (unverified)" if any(u == field or u.startswith(field + ".") for u in uncertain) else ""
        say(f"{'-' if value in (None, '', []) else value}{flag}", f"{label:<16}")

    emit(f"{entry.name}  [{entry.id}]")
    if found.repo_id:
        say(f"{found.repo_id}  ({found.variant or 'variant unknown'}, {found.quant or 'quant unknown'})", f"{'matched':<16}")
    if found.note:
        say(found.note, f"{'note':<16}")
    line("family", entry.family, "family")
    line("tasks", ", ".join(entry.tasks), "tasks")
    line("specialised for", ", ".join(entry.specialised_for), "specialised_for")
    line("parameters", _params(entry), "params_total_b")
    line("modalities", ", ".join(entry.modalities), "modalities")
    line("context", entry.context_length, "context_length")
    line("released", entry.release_date, "release_date")
    line("licence", entry.license_id or "unknown", "license_id")
    line("upstream", ", ".join(entry.upstream_license_ids), "upstream_license_ids")
    line("gated", {True: "yes", False: "no"}.get(entry.gated, None), "gated")
    line("chat template", entry.chat_template, "chat_template")
    line("languages", ", ".join(entry.languages), "languages")
    line("base repo", entry.base_id, "base_id")
    line("instruct repo", entry.instruct_id, "instruct_id")
    for repo, variant, quant in entry.unsloth.slots():
        say(f"{repo}  ({variant}, {quant})", f"{'unsloth':<16}")
    arch = entry.architecture
    if arch is not None:
        shape = f"{arch.model_type}, {arch.num_hidden_layers} layers, hidden {arch.hidden_size}, {arch.num_attention_heads} heads"
        if arch.is_moe:
            shape += f", {arch.num_experts} experts (top {arch.num_experts_per_tok})"
        say(f"{shape}  ({entry.architecture_status})", f"{'architecture':<16}")
        layout = f"{entry.unsloth_layout} (Unsloth converted its uploads)" if entry.unsloth_layout else "the original's"
        line("unsloth layout", layout, "unsloth_layout")
    else:
        emit(f"{'architecture':<16}unknown")
    line("strengths", ", ".join(entry.strengths), "strengths")
    if entry.load_caveat:
        line("to load", entry.load_caveat, "load_caveat")
    if entry.fp8_checkpoints:
        line("fp8 weights", ", ".join(f"{repo} ({scales} scales)" for repo, scales in entry.fp8_checkpoints.items()),
             "fp8_checkpoints")
    if entry.notes:
        say(entry.notes, f"{'notes':<16}")
    emit("sources:")
    for source in entry.sources:
        say(source, "  - ")
    return 0


def refresh_cached_catalog(limit: int, progress: Callable[[str], None]) -> RefreshReport:
    """List the Hub's unsloth org, bring the packaged catalog up to date from it, write the user-cache copy."""
    from finetune_advisor import settings
    from finetune_advisor.adapters import cache, hub
    from finetune_advisor.catalog.naming import ORG
    from finetune_advisor.catalog.refresh import refresh
    from finetune_advisor.catalog.store import load_packaged
    from finetune_advisor.redaction import public_url

    if limit < 1:
        raise InvalidInputError("--limit", f"{limit} is not a positive number of repositories", "an integer of at least 1")
    endpoint = public_url(settings.hub_endpoint())  # what the copy and the report name: no credentials
    progress(f"Listing the {ORG} models on {endpoint} (up to {limit})...")
    listing, complete = hub.list_models_detailed(ORG, limit=limit)
    progress(f"{len(listing)} repositories listed{'' if complete else ' (stopped at --limit)'}")
    catalog, report = refresh(load_packaged(), listing, complete, hub.fetch_config, endpoint, progress)
    path = cache.write_catalog_copy(catalog)
    progress(f"Wrote {len(catalog.models)} models to {path}")
    return report.model_copy(update={"path": str(path)})


def run_refresh(args: argparse.Namespace) -> int:
    report = refresh_cached_catalog(args.limit, lambda message: sys.stderr.write(message + "\n"))
    if args.json:
        emit_json(report)
        return 0
    say(f"Refreshed catalog written to {report.path} ({report.models} models; the packaged file is unchanged).")
    say(f"{report.listed_repos} repositories listed on {report.endpoint}"
        + ("" if report.complete_listing else " (not the whole org, so ids not seen were kept)") + ".")
    say(f"{len(report.updated)} entries updated, {len(report.added)} added, {len(report.kept_out)} items kept out.")
    for change in report.updated:
        say(f"{change.id}: " + "; ".join(change.changes), "  ", "    ")
    for added in report.added:
        say(f"added {added}", "  ", "    ")
    for item in report.kept_out:
        say(f"kept out {item.ref}: {item.reason}", "  ", "    ")
    return 0


def _params(entry: CatalogEntry) -> str | None:
    if entry.params_total_b is None:
        return None
    text = f"{entry.params_total_b:g}B"
    return text + (f" ({entry.params_active_b:g}B active)" if entry.params_active_b else "")


def run_check(args: argparse.Namespace) -> int:
    from finetune_advisor.catalog import source, store
    from finetune_advisor.catalog.check import check
    from finetune_advisor.licensing.terms import load_licenses

    catalog = source.load() if args.source else store.load_packaged()
    problems = [str(p) for p in check(catalog, set(load_licenses().ids()))]
    if args.source and source.render(catalog) != source.BUILT.read_text(encoding="utf-8"):
        problems.append("catalog.json: not what the TOML source builds; run `finetune-advisor catalog build`")
    for problem in problems:
        sys.stderr.write(problem + "\n")
    what = "the TOML source" if args.source else "the packaged catalog"
    emit(f"{len(catalog.models)} models, {len(catalog.families)} families in {what}: "
         + (f"{len(problems)} problem(s)" if problems else "no problems"))
    return 1 if problems else 0


def run_build(args: argparse.Namespace) -> int:
    from finetune_advisor.catalog import source
    from finetune_advisor.catalog.check import check
    from finetune_advisor.licensing.terms import load_licenses

    catalog = source.load()
    problems = check(catalog, set(load_licenses().ids()))
    for problem in problems:
        sys.stderr.write(f"{problem}\n")
    if problems:
        emit(f"Not built: {len(problems)} problem(s) in the TOML source.")
        return 1
    path = source.build()
    emit(f"Wrote {len(catalog.models)} models to {path}.")
    return 0
