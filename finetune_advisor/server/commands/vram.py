"""`finetune-advisor vram MODEL`: the estimate_vram answer with a readable breakdown."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from finetune_advisor.errors import InvalidInputError
from finetune_advisor.server.output import emit, emit_json, table
from finetune_advisor.tools.estimate_vram import estimate_vram
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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "vram",
        help="estimate the peak GPU memory of a fine-tuning run",
        description="Estimate peak GPU memory per GPU (as nvidia-smi shows it) to fine-tune a model, with a breakdown "
        "and, when it does not fit, what to change.",
    )
    p.add_argument("model", nargs="?", help="catalog id or alias, or a Hugging Face repo id (Unsloth variants included)")
    p.add_argument("--architecture", type=Path, metavar="CONFIG_JSON", help="a config.json file instead of MODEL")
    p.add_argument("--params-b", type=float, metavar="B", help="parameters in billions instead of MODEL (coarse)")
    p.add_argument("--method", choices=METHODS, default="qlora", help="default: qlora")
    p.add_argument("--seq-len", type=int, default=2048, metavar="N", help="tokens per sample (default 2048)")
    p.add_argument("--batch-size", type=int, default=1, metavar="N", help="micro-batch per GPU (default 1)")
    p.add_argument("--rank", type=int, default=16, metavar="R", help="LoRA rank (default 16)")
    p.add_argument("--target", dest="targets", action="extend", nargs="+", choices=ALL_LINEAR, metavar="MODULE",
                   help="LoRA target modules (default: all of " + ", ".join(ALL_LINEAR) + ")")
    p.add_argument("--dropout", type=float, default=0.0, help="LoRA dropout (default 0)")
    p.add_argument("--no-checkpointing", dest="checkpointing", action="store_false", help="turn gradient checkpointing off")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw_8bit", help="default: adamw_8bit")
    p.add_argument("--stack", choices=STACKS, default="unsloth", help="default: unsloth")
    p.add_argument("--gpus", type=int, default=None, metavar="N", help="number of GPUs (default 1, or the count in --gpu)")
    p.add_argument("--sharding", choices=SHARDINGS, default="ddp", help="multi-GPU strategy (default ddp)")
    p.add_argument("--fp32-master", action="store_true", help="full fine-tuning with fp32 master weights")
    p.add_argument("--attention", choices=ATTENTIONS, default="sdpa", help="default: sdpa")
    p.add_argument("--gpu", metavar="NAME", help="GPU by name: T4, 'RTX 4090', A100-80GB, 4xH100... (default: the local GPU)")
    p.add_argument("--gpu-gib", type=float, metavar="GIB", help="instead of --gpu: memory per GPU in GiB")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="whether the GPU has bf16 (default: the local GPU's; --no-bf16 for T4/V100)")
    p.add_argument("--json", action="store_true", help="print the estimate_vram result as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    result = estimate_vram(
        model=args.model,
        architecture=_read_config(args.architecture) if args.architecture else None,
        params_b=args.params_b,
        gpu=args.gpu,
        gpu_memory_gib=args.gpu_gib,
        bf16=args.bf16,
        method=args.method,
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        lora_rank=args.rank,
        target_modules=list(args.targets) if args.targets else None,
        lora_dropout=args.dropout,
        gradient_checkpointing=args.checkpointing,
        optimizer=args.optimizer,
        stack=args.stack,
        num_gpus=args.gpus,
        sharding=args.sharding,
        full_fp32_master=args.fp32_master,
        attention=args.attention,
    )
    if args.json:
        emit_json(result)
    else:
        _print(result, f"{args.method} on the {args.stack} stack")
    return 0


def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError("architecture", f"cannot read {path} ({type(exc).__name__})", "a config.json file") from None
    if not isinstance(data, dict):
        raise InvalidInputError("architecture", f"{path} is not a JSON object", "a config.json file")
    return data


def _print(r: VramEstimate, how: str) -> None:
    size = f"{r.params_b:g}B params, {r.trainable_params_m:g}M trainable"
    emit(f"{r.model} ({size}): {how}" + (" [coarse]" if r.coarse else ""))
    emit()
    parts = r.breakdown.model_dump()
    rows = [(name.replace("_", " "), f"{parts[name]:.2f}") for name in _PARTS]
    rows.append(("total per GPU", f"{r.total_gib:.2f}"))
    emit(table(("component", "GiB"), rows))
    emit()
    if r.gpu_memory_gib is None:
        emit(f"GPU: {r.gpu}")
    else:
        verdict = ("fits, tightly" if r.tight else "fits") if r.fits else "does NOT fit"
        emit(f"GPU: {r.gpu_memory_gib:g} GiB, {r.gpu}: {verdict} (headroom {r.headroom_gib:+.2f} GiB)")
    if r.suggestions:
        emit()
        emit(table(("to fit, change", "GiB", "fits"), [(s.change, f"{s.total_gib:.2f}", s.fits) for s in r.suggestions]))
    emit()
    emit("Assumptions:")
    for line in r.assumptions:
        emit(f"- {line}")
