"""`finetune-advisor recommend`: which model to fine-tune, the same answer recommend_model gives."""

from __future__ import annotations

import argparse

from finetune_advisor.server.commands import non_negative_int
from finetune_advisor.server.output import emit, emit_json, table
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
    p.add_argument("--use-case", default="", help="the goal in words (languages, domain, function calling, long context)")
    p.add_argument("--rows", type=non_negative_int, metavar="N", help="training examples; decides base vs instruct")
    p.add_argument("--gpu", metavar="NAME", help="GPU by name: T4, 'RTX 4090', A100-80GB... (default: the local GPU)")
    p.add_argument("--gpu-gib", type=float, metavar="GIB", help="instead of --gpu: GPU memory to fit in GiB")
    p.add_argument("--method", choices=values(MethodRequest), default="auto", help="fine-tuning method (default: auto)")
    p.add_argument("--seq-len", type=int, default=2048, metavar="N", help="training sequence length (default 2048)")
    p.add_argument(
        "--commercial", action=argparse.BooleanOptionalAction, default=True, help="commercial use (default: yes)"
    )
    p.add_argument("--mau", type=non_negative_int, metavar="N", help="expected monthly active users")
    p.add_argument("--eu", action="store_true", help="the user or company is in the EU")
    p.add_argument(
        "--license", dest="licenses", action="extend", nargs="+", default=[], metavar="ID", help="only these licence ids"
    )
    p.add_argument("--max-params-b", type=float, metavar="B", help="largest model size, in billions of parameters")
    p.add_argument("--lang", dest="languages", action="extend", nargs="+", default=[], metavar="XX", help="required languages")
    p.add_argument("--top-k", type=int, default=3, metavar="N", help="how many to show (1-10, default 3)")
    p.add_argument("--json", action="store_true", help="print the recommend_model result as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    result = recommend_model(
        task=args.task,
        use_case=args.use_case,
        dataset_rows=args.rows,
        gpu=args.gpu,
        gpu_memory_gib=args.gpu_gib,
        commercial_use=args.commercial,
        monthly_active_users=args.mau,
        eu_entity=args.eu,
        allowed_licenses=args.licenses,
        max_params_b=args.max_params_b,
        method=args.method,
        seq_len=args.seq_len,
        languages=args.languages,
        top_k=args.top_k,
    )
    if args.json:
        emit_json(result)
    else:
        _print(result)
    return 0


def _print(result: RecommendResult) -> None:
    emit(f"Task: {result.task}. GPU: {result.gpu}")
    split = result.base_vs_instruct
    emit(f"Base or instruct: {split.choice}. {split.reason}")
    emit()
    if result.recommendations:
        rows = [
            (i, r.name, r.unsloth_model_id or f"(original) {r.repo_id}", r.method, r.variant, r.estimated_vram_gib, "tight" if r.tight else r.fits,
             f"{r.license_id or '?'} ({r.license_verdict})")
            for i, r in enumerate(result.recommendations, 1)
        ]
        emit(table(("#", "model", "load", "method", "variant", "VRAM GiB", "fits", "licence"), rows))
        for i, r in enumerate(result.recommendations, 1):
            emit()
            emit(f"{i}. {r.name}")
            for reason in r.reasons:
                emit(f"   + {reason}")
            for caveat in r.caveats:
                emit(f"   ! {caveat}")
    else:
        emit("No model qualifies.")
    if result.what_would_qualify:
        emit()
        emit("What would qualify:")
        for line in result.what_would_qualify:
            emit(f"  - {line}")
    if result.excluded:
        emit()
        emit("Excluded: " + ", ".join(f"{rule} {n}" for rule, n in sorted(result.excluded.items())))
    emit()
    for note in result.notes:
        emit(f"Note: {note}")
