"""`finetune-advisor recommend`: which model to fine-tune, the same answer recommend_model gives."""

from __future__ import annotations

import argparse

from finetune_advisor.server.commands import bounded, in_cli_words, nonblank, tool_arguments
from finetune_advisor.server.output import emit, emit_json, say, table
from finetune_advisor.recommend.engine import RecommendResult
from finetune_advisor.tools.recommend_model import recommend_model
from finetune_advisor.vocabulary import TASKS, MethodRequest, values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recommend",
        help="recommend models to fine-tune for a task, GPU and licence plans",
        description="Recommend open-weight models to fine-tune: task first, then licence, GPU memory, recency and size.",
    )
    p.add_argument("--task", default="chat", choices=TASKS, help="what the model must do (default: chat)")
    p.add_argument("--use-case", dest="use_case", default="", metavar="TEXT",
                   help="the goal in words (languages, domain, function calling, long context)")
    p.add_argument("--rows", dest="dataset_rows", type=bounded("dataset_rows"), metavar="N",
                   help="training examples; decides base vs instruct")
    p.add_argument("--gpu", type=nonblank, metavar="NAME", help="GPU by name: T4, 'RTX 4090', A100-80GB... (default: the local GPU)")
    p.add_argument("--gpu-gib", dest="gpu_memory_gib", type=bounded("gpu_memory_gib"), metavar="GIB",
                   help="instead of --gpu: GPU memory to fit in GiB")
    p.add_argument("--method", choices=values(MethodRequest), default="auto", help="fine-tuning method (default: auto)")
    p.add_argument("--seq-len", dest="seq_len", type=bounded("seq_len"), default=2048, metavar="N",
                   help="training sequence length (default 2048)")
    p.add_argument("--commercial", dest="commercial_use", action=argparse.BooleanOptionalAction, default=True,
                   help="commercial use (default: yes)")
    p.add_argument("--mau", dest="monthly_active_users", type=bounded("monthly_active_users"), metavar="N",
                   help="monthly active users of your products, affiliates included (licence thresholds)")
    p.add_argument("--eu", dest="eu_entity", action="store_true", help="the user or company is in the EU")
    p.add_argument("--license", dest="allowed_licenses", action="extend", nargs="+", default=[], metavar="ID",
                   help="only these licence ids")
    p.add_argument("--max-params-b", dest="max_params_b", type=bounded("max_params_b"), metavar="B",
                   help="largest model size, in billions of parameters")
    p.add_argument("--lang", dest="languages", action="extend", nargs="+", default=[], metavar="XX",
                   help="required languages")
    p.add_argument("--top-k", dest="top_k", type=bounded("top_k"), default=3, metavar="N", help="how many to show (1-10, default 3)")
    p.add_argument("--json", action="store_true", help="print the recommend_model result as JSON")
    p.set_defaults(handler=run, parser=p)


def run(args: argparse.Namespace) -> int:
    result = recommend_model(**tool_arguments(args, recommend_model))
    if args.json:
        emit_json(result)
    else:
        _print(result, args.parser)
    return 0


def _print(result: RecommendResult, parser: argparse.ArgumentParser) -> None:
    say(f"Task: {result.task}. GPU: {in_cli_words(result.gpu, parser, bare=False)}")
    split = result.base_vs_instruct
    say(f"Base or instruct: {split.choice}. {split.reason}")
    emit()
    if result.recommendations:
        rows = [
            (i, r.name, r.method, r.variant, r.estimated_vram_gib,
             ("tight" if r.tight else r.fits) if r.router_aux_loss else "yes, with aux loss off",
             f"{r.license_id or '?'} ({r.license_verdict})")
            for i, r in enumerate(result.recommendations, 1)
        ]
        emit(table(("#", "model", "method", "variant", "VRAM GiB", "fits", "licence"), rows))
        for i, r in enumerate(result.recommendations, 1):
            emit()
            emit(f"{i}. {r.name}")
            say(f"load: {r.unsloth_model_id or f'{r.repo_id} (the original: no Unsloth upload listed)'}", "   ")
            for reason in r.reasons:
                say(in_cli_words(reason, parser, bare=False), "   + ")
            for caveat in r.caveats:
                say(in_cli_words(caveat, parser, bare=False), "   ! ")
    else:
        emit("No model qualifies.")
    if result.what_would_qualify:
        emit()
        emit("What would qualify:")
        for line in result.what_would_qualify:
            say(in_cli_words(line, parser, bare=False), "  - ")
    if result.excluded:
        emit()
        say("Excluded: " + ", ".join(f"{rule} {n}" for rule, n in sorted(result.excluded.items())))
    emit()
    for note in result.notes:
        say(in_cli_words(note, parser, bare=False), "Note: ")
