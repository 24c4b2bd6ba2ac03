"""`finetune-advisor vram MODEL`: the estimate_vram answer with a readable breakdown."""

from __future__ import annotations

import argparse

from finetune_advisor.server.commands import (
    add_model_options, add_run_switches, bounded, flag_names, in_cli_words, nonblank, one_model, tool_arguments,
)
from finetune_advisor.server.output import emit, emit_json, headroom, say, table, warn
from finetune_advisor.tools.estimate_vram import estimate_vram, ineffective
from finetune_advisor.vram.report import VramEstimate
from finetune_advisor.vocabulary import (
    ALL_LINEAR,
    ATTENTIONS,
    METHODS,
    OPTIMIZERS,
    SHARDINGS,
    STACKS,
)

_PARTS = ("weights", "adapters", "gradients", "optimizer", "activations", "logits_and_loss", "overhead")
LORA_OPTIONS = ("lora_rank", "target_modules", "lora_dropout")  # what full fine-tuning has no use for


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "vram",
        help="estimate the peak GPU memory of a fine-tuning run",
        description="Estimate peak GPU memory per GPU (as nvidia-smi shows it) to fine-tune a model, with a breakdown "
        "and, when it does not fit, what to change.",
    )
    add_model_options(p)
    p.add_argument("--method", choices=METHODS, default="qlora", help="default: qlora")
    p.add_argument("--seq-len", dest="seq_len", type=bounded("seq_len"), default=2048, metavar="N",
                   help="tokens per sample (default 2048)")
    p.add_argument("--batch-size", dest="batch_size", type=bounded("batch_size"), default=1, metavar="N",
                   help="micro-batch per GPU (default 1)")
    p.add_argument("--rank", dest="lora_rank", type=bounded("lora_rank"), default=16, metavar="R", help="LoRA rank (default 16)")
    p.add_argument("--target", dest="target_modules", action="extend", nargs="+", choices=ALL_LINEAR, metavar="MODULE",
                   help="LoRA target modules (default: all of " + ", ".join(ALL_LINEAR) + ")")
    p.add_argument("--dropout", dest="lora_dropout", type=bounded("lora_dropout"), default=0.0, metavar="P",
                   help="LoRA dropout (default 0)")
    p.add_argument("--images-per-row", dest="images_per_row", type=bounded("images_per_row"), default=0, metavar="N",
                   help="vision models: images in each row, their tokens counted in --seq-len (default 0: text rows)")
    p.add_argument("--no-checkpointing", dest="gradient_checkpointing", action="store_false",
                   help="turn gradient checkpointing off")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw_8bit", help="default: adamw_8bit")
    p.add_argument("--stack", choices=STACKS, default="unsloth", help="default: unsloth")
    p.add_argument("--gpus", dest="num_gpus", type=bounded("num_gpus"), metavar="N",
                   help="number of GPUs (default 1, or the count in --gpu)")
    p.add_argument("--sharding", choices=SHARDINGS, default="ddp", help="multi-GPU strategy (default ddp)")
    p.add_argument("--fp32-master", dest="full_fp32_master", action="store_true",
                   help="full fine-tuning with fp32 master weights")
    p.add_argument("--attention", choices=ATTENTIONS, default="sdpa", help="default: sdpa")
    add_run_switches(p)
    p.add_argument("--gpu", type=nonblank, metavar="NAME", help="GPU by name: T4, 'RTX 4090', A100-80GB, 4xH100... (default: the local GPU)")
    p.add_argument("--gpu-gib", dest="gpu_memory_gib", type=bounded("gpu_memory_gib"), metavar="GIB",
                   help="instead of --gpu: memory per GPU in GiB")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="whether the GPU has bf16 (default: the local GPU's; --no-bf16 for T4/V100)")
    p.add_argument("--detail", action="store_true", help="also print the background: how the estimate is built")
    p.add_argument("--json", action="store_true", help="print the estimate_vram result as JSON")
    p.set_defaults(handler=run, parser=p)


def run(args: argparse.Namespace) -> int:
    architecture = one_model(args)
    result = estimate_vram(**tool_arguments(args, estimate_vram, architecture=architecture))
    _warn_ineffective(args, result)
    if args.json:
        emit_json(result)
    else:
        _print(result, f"{args.method} on the {args.stack} stack", args.parser)
    return 0


def _warn_ineffective(args: argparse.Namespace, result: VramEstimate) -> None:
    """Options that cannot change this estimate: said on stderr rather than ignored silently."""
    given = [name for name in ("sharding", *LORA_OPTIONS) if getattr(args, name) != args.parser.get_default(name)]
    flags = flag_names(args.parser)
    if "sharding" in given and set(ineffective(1, args.sharding)) <= set(result.assumptions):  # the tool said so
        warn(f"--sharding {args.sharding} has no effect with one GPU")
    if args.method == "full":
        for name in (n for n in LORA_OPTIONS if n in given):
            warn(f"{flags[name]} has no effect with --method full (no LoRA adapters)")


def _print(r: VramEstimate, how: str, parser: argparse.ArgumentParser) -> None:
    total = f"{r.params_b:g}B" if r.params_b >= 1 else f"{r.params_b * 1000:.4g}M"
    size = f"{total} params, {r.trainable_params_m:g}M trainable"
    say(f"{r.model} ({size}): {how}" + (" [coarse]" if r.coarse else ""))
    emit()
    parts = r.breakdown.model_dump()
    rows = [(name.replace("_", " "), f"{parts[name]:.2f}") for name in _PARTS]
    rows.append(("total per GPU", f"{r.total_gib:.2f}"))
    if r.needs_gib != r.total_gib:
        rows.append(("of it, needed where memory runs short", f"{r.needs_gib:.2f}"))
    emit(table(("component", "GiB"), rows))
    emit()
    if r.gpu_memory_gib is None:
        say(f"GPU: {in_cli_words(r.gpu, parser, bare=False)}")
    else:
        verdict = ("fits, tightly" if r.tight else "fits") if r.fits else "does NOT fit"
        margin = ", within the estimate's error margin: see the first assumption" if r.tight else ""
        room = headroom(r.needs_gib, r.gpu_memory_gib, r.headroom_gib or 0.0)
        say(f"GPU: {r.gpu}: {verdict} ({room}{margin})")  # every description names its GiB
    if r.suggestions:
        emit()
        emit(table(("to fit, change", "GiB needed", "fits"), [(s.change, f"{s.needs_gib:.2f}", s.fits) for s in r.suggestions]))
    for title, lines in (("Assumptions:", r.assumptions), ("Background:", r.background)):
        if lines:
            emit()
            emit(title)
            for line in lines:
                say(in_cli_words(line, parser, bare=False), "- ")
    if not r.background:
        emit()
        say("(--detail adds the background: how the estimate is built.)")
