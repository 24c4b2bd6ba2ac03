"""`finetune-advisor plan MODEL`: the plan_training answer — settings that fit, steps, time and cost."""

from __future__ import annotations

import argparse
from pathlib import Path

from finetune_advisor.adapters import dataset_file
from finetune_advisor.adapters.cache import load_catalog
from finetune_advisor.catalog.resolve import resolve
from finetune_advisor.errors import InvalidInputError, UnknownModelError
from finetune_advisor.plan.result import TrainingPlan
from finetune_advisor.server.commands import (
    add_model_options, add_run_switches, bounded, in_cli_words, nonblank, one_model, tool_arguments,
)
from finetune_advisor.server.output import emit, emit_json, headroom, say, table
from finetune_advisor.tools.plan_training import plan_training
from finetune_advisor.vram.report import VramEstimate
from finetune_advisor.vocabulary import SHARDINGS, STACKS, MethodRequest, values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="plan a run: the longest context, batch and rank that fit, steps, time and cost",
        description="Plan a fine-tuning run on a GPU: the longest seq_len, the largest micro-batch (and LoRA rank) "
        "that fit comfortably, the gradient accumulation for your effective batch, steps, time and cost. "
        "A value you give (--seq-len, --batch-size) is held; the rest is searched.",
    )
    add_model_options(p)
    p.add_argument("--gpu", type=nonblank, metavar="NAME",
                   help="GPU by name: T4, 'RTX 4090', A100-80GB, 2xH100... (needed for time)")
    p.add_argument("--gpu-gib", dest="gpu_memory_gib", type=bounded("gpu_memory_gib"), metavar="GIB",
                   help="instead of --gpu: memory per GPU (no time estimate)")
    p.add_argument("--gpus", dest="num_gpus", type=bounded("num_gpus"), metavar="N",
                   help="number of GPUs (default 1, or the count in --gpu)")
    p.add_argument("--method", choices=values(MethodRequest), default="auto", help="default: auto")
    p.add_argument("--stack", choices=STACKS, default="unsloth", help="default: unsloth")
    p.add_argument("--rank", dest="lora_rank", type=_rank, default=16, metavar="R|max",
                   help="LoRA rank, or 'max' for --search-rank (default 16)")
    p.add_argument("--search-rank", dest="search_rank", action="store_true", help="also find the largest LoRA rank that fits")
    p.add_argument("--seq-len", dest="seq_len", type=bounded("seq_len"), metavar="N",
                   help="hold this seq_len (default: cover the longest row, else 2048)")
    p.add_argument("--batch-size", dest="batch_size", type=bounded("batch_size"), metavar="N",
                   help="hold this micro-batch (default: the largest that fits)")
    p.add_argument("--rows", dest="dataset_rows", type=bounded("dataset_rows"), metavar="N",
                   help="training rows (with --tokens-per-row)")
    p.add_argument("--tokens-per-row", dest="tokens_per_row", type=bounded("tokens_per_row"), metavar="T",
                   help="mean tokens per row (with --rows)")
    p.add_argument("--longest-row", dest="longest_row", type=bounded("seq_len"), metavar="N",
                   help="tokens in the longest row, if known")
    p.add_argument("--images-per-row", dest="images_per_row", type=bounded("images_per_row"), default=0, metavar="N",
                   help="vision models: images in each row, their tokens counted in the rows' (default 0)")
    p.add_argument("--dataset", type=lambda t: Path(nonblank(t)), metavar="FILE",
                   help="a JSONL or Parquet file to count instead of --rows/--tokens-per-row/--longest-row")
    p.add_argument("--epochs", type=bounded("epochs"), default=1.0, metavar="E", help="default 1")
    p.add_argument("--effective-batch", dest="effective_batch", type=bounded("effective_batch"), default=16, metavar="N",
                   help="rows per optimizer step (default 16)")
    p.add_argument("--price-per-hour", dest="price_per_hour", type=bounded("price_per_hour"), metavar="P",
                   help="price per GPU-hour, for the cost")
    p.add_argument("--sharding", choices=SHARDINGS, default="ddp", help="with several GPUs (default ddp)")
    add_run_switches(p)
    p.add_argument("--json", action="store_true", help="print the plan_training result as JSON")
    p.set_defaults(handler=run, parser=p)


def run(args: argparse.Namespace) -> int:
    architecture = one_model(args)
    search = args.search_rank or args.lora_rank == "max"
    rows, mean, longest, lengths, how = _data(args)
    result = plan_training(**tool_arguments(
        args, plan_training, lora_rank=16 if args.lora_rank == "max" else args.lora_rank, search_rank=search,
        dataset_rows=rows, tokens_per_row=mean, longest_row=longest, architecture=architecture,
    ))
    if lengths:
        counted = result.dataset.model_copy(update={"counted": how}) if result.dataset else None
        result = result.model_copy(update={"dataset": counted, "truncated_rows": sum(1 for n in lengths if n > result.seq_len)})
    if args.json:
        emit_json(result)
    else:
        _print(result, args.parser)
    return 0


def _rank(text: str) -> int | str:
    """argparse type for --rank: a rank within its bounds, or 'max' (search for the largest that fits)."""
    if text.strip().lower() == "max":
        return "max"
    try:
        return bounded("lora_rank")(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, or 'max'") from None


def _data(args: argparse.Namespace) -> tuple[int | None, float | None, int | None, list[int], str]:
    if args.dataset is None:
        return args.dataset_rows, args.tokens_per_row, args.longest_row, [], ""
    if any(v is not None for v in (args.dataset_rows, args.tokens_per_row, args.longest_row)):
        raise InvalidInputError("dataset", "give a file or --rows/--tokens-per-row/--longest-row, not both", "one of the two")
    lengths, how = dataset_file.row_lengths(args.dataset, _tokenizer_repos(args.model))
    if not lengths:
        raise InvalidInputError("dataset", "no row has a text field the planner knows",
                                "rows with text, messages/conversations, or instruction/input/output")
    return len(lengths), sum(lengths) / len(lengths), max(lengths), lengths, how


def _tokenizer_repos(model: str | None) -> list[str]:
    """Repos whose cached tokenizer.json counts the rows: the one named and the catalog's originals (no Hub call:
    plan_training itself looks the model up); none for a model given by its config or size."""
    if model is None:
        return []
    try:
        found = resolve(load_catalog(), model)
    except UnknownModelError:
        return [model]
    repos = (found.repo_id, found.entry.instruct_id, found.entry.base_id, model)
    return list(dict.fromkeys(r for r in repos if r))


def _peak(m: VramEstimate) -> str:
    """The peak, and what the run needs where memory runs short when that is less (VramEstimate.needs_gib)."""
    return f"{m.total_gib:.2f} GiB" + (f" (needs {m.needs_gib:.2f} where memory runs short)" if m.needs_gib != m.total_gib else "")


def _print(r: TrainingPlan, parser: argparse.ArgumentParser) -> None:
    say(f"{r.model}: {r.method} on the {r.stack} stack, {r.num_gpus} x GPU: {r.gpu}")
    if not r.fits:
        say("Does NOT fit comfortably. " + in_cli_words(" ".join(r.notes), parser, bare=False))
        if r.memory.gpu_memory_gib is not None:
            room = headroom(r.memory.needs_gib, r.memory.gpu_memory_gib, r.memory.headroom_gib or 0.0)
            say(f"Peak memory {_peak(r.memory)} of {r.memory.gpu_memory_gib:g} ({room}).")
        if r.memory.suggestions:
            emit(table(("to fit, change", "GiB needed", "fits"), [(s.change, f"{s.needs_gib:.2f}", s.fits) for s in r.memory.suggestions]))
        _print_memory(r, parser)
        return
    rows = [
        ("seq_len", f"{r.seq_len} ({r.seq_len_reason}); longest that fits comfortably: {r.max_seq_len}"),
        ("micro-batch x accumulation", f"{r.micro_batch} x {r.grad_accumulation} x {r.num_gpus} GPU = {r.effective_batch} rows/step"),
        ("LoRA rank", r.lora_rank if r.lora_rank is not None else "-"),
        ("peak memory", f"{_peak(r.memory)} of {r.memory.gpu_memory_gib:g} "
                        f"({headroom(r.memory.needs_gib, r.memory.gpu_memory_gib or 0.0, r.memory.headroom_gib or 0.0)})"),
    ]
    if r.truncated_rows:
        rows.append(("rows longer than seq_len", f"{r.truncated_rows} (the trainer cuts them)"))
    if r.total_steps is not None:
        rows.append(("steps", f"{r.steps_per_epoch} per epoch, {r.total_steps} in all ({r.epochs:g} epoch{'' if r.epochs == 1 else 's'})"))
    if r.hours is not None and r.hours_range is not None:
        first = f", first step +{r.first_step_seconds:.0f} s" if r.first_step_seconds else ""
        rows.append(("time", f"{r.hours:.2f} h (range {r.hours_range[0]:.2f}-{r.hours_range[1]:.2f} h), "
                             f"{r.step_seconds:.2f} s/step{first}, ~{r.tokens_per_second:,.0f} tokens/s"))
    if r.cost is not None and r.cost_range is not None:
        rows.append(("cost", f"{r.cost:,.2f} (range {r.cost_range[0]:,.2f}-{r.cost_range[1]:,.2f}) at {r.price_per_gpu_hour:g}/GPU-hour"))
    emit(table(("", ""), rows))
    if r.alternatives:
        emit()
        emit(table(("instead", "fits comfortably", "micro-batch", "hours", "vs plan"),
                   [(a.change, a.fits, a.micro_batch or "-", a.hours if a.hours is not None else "-", a.vs_plan or "-") for a in r.alternatives]))
    emit()
    for note in r.notes:
        say(in_cli_words(note, parser, bare=False), "- ")
    _print_memory(r, parser)


def _print_memory(r: TrainingPlan, parser: argparse.ArgumentParser) -> None:
    """What the peak memory figure assumes (estimate_vram's assumptions), less what the plan's notes already said."""
    said = [a for a in r.memory.assumptions if a not in r.notes]
    if said:
        emit()
        say("Peak memory assumes:")
        for note in said:
            say(in_cli_words(note, parser, bare=False), "- ")
