"""Our step-time model beside public throughput figures (public_throughput.json, every row linked).

    python bench/throughput/public.py            # the comparison tables
    python bench/throughput/public.py --markdown # the same, as the README's tables

Three kinds of rows are compared:
- torchtune's and LLaMA-Factory's tokens/s, with their batch and sequence length (packed or fixed-length
  sequences, so tokens per row = the sequence length): predicted tokens/s beside theirs, per GPU;
- Unsloth's Colab notebooks' seconds per step on a Tesla T4 and on A100s: their datasets' token counts are
  not printed, so instead of inventing one we show the mean tokens per row our model would need to match
  their time ("implied tokens/row"): a plausible figure (Alpaca rows are a few hundred tokens) means the
  model is in the right range; a very large or tiny one shows how far off it is. Their runtimes (train_runtime
  over 30-60 steps) include the first step's compilation: the median we measured for the kind of model on our
  H200 (plan's FIRST_STEP) is taken out first, and Colab's few CPU cores compile slower, so they still read slow.
Different machines, versions and settings: these are sanity checks, not calibration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from finetune_advisor.adapters.cache import load_catalog  # noqa: E402
from finetune_advisor.catalog.resolve import resolve  # noqa: E402
from finetune_advisor.errors import AdvisorError  # noqa: E402
from finetune_advisor.gpus.table import find  # noqa: E402
from finetune_advisor.gpus.table import GpuSpec  # noqa: E402
from finetune_advisor.plan.throughput import first_step, micro_step  # noqa: E402
from finetune_advisor.plan.timing import matmul_tflops  # noqa: E402
from finetune_advisor.vram.architecture import Architecture  # noqa: E402
from finetune_advisor.vram.estimator import RunConfig, precision  # noqa: E402
from finetune_advisor.vram.resolve import from_catalog  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# meta-llama/Llama-2-7b-hf's config.json (https://huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json);
# the catalog does not list Llama 2, and LLaMA-Factory's tables measured it.
LLAMA2_7B = Architecture(model_type="llama", num_hidden_layers=32, hidden_size=4096, intermediate_size=11008,
                         num_attention_heads=32, num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096)
MODELS = {"Llama 3.1 8B": "llama-3.1-8b", "Llama 3.2 3B": "llama-3.2-3b", "LLaMA2-7B": None}
GPUS = {"RTX 4090": "RTX 4090", "RTX A6000": "RTX A6000", "A100": "A100-80GB-SXM", "A100 40GB": "A100-40GB-SXM",
        "Tesla T4": "T4", "NVIDIA A100-SXM4-80GB": "A100-80GB-SXM", "NVIDIA A100-SXM4-40GB": "A100-40GB-SXM", "NVIDIA L4": "L4"}


def architecture(name: str) -> Architecture | None:
    if name.startswith("LLaMA2-7B"):
        return LLAMA2_7B
    try:
        found = resolve(load_catalog(), MODELS.get(name) or name)
    except AdvisorError:
        return None
    return from_catalog(found, None).arch


def rate(gpu: GpuSpec, run: RunConfig, arch: Architecture) -> float:
    """The matmul rate the product's plan uses: the fp32 rate for a family Unsloth trains in float32 without bf16."""
    return matmul_tflops(gpu, run, precision(arch, run, None).fp32_compute) or 0.0


def stack_of(row: dict) -> str:
    return "unsloth" if "unsloth" in (row["stack"] or "") else "transformers"


def predicted_tokens_per_s(row: dict, arch: Architecture, gpu_name: str) -> float:
    gpu = find(gpu_name)
    run = RunConfig(method=row["method"], seq_len=row["seq_len"], batch_size=row["batch_size"], lora_rank=row["lora_rank"] or 8,
                    stack=stack_of(row), bf16=gpu.bf16, autocast=stack_of(row) == "transformers")  # peers train in bf16
    step = micro_step(arch, run, row["seq_len"], rate(gpu, run, arch), gpu.bandwidth_gbs or 1.0)
    return row["batch_size"] * row["seq_len"] / step.seconds


def implied_tokens_per_row(row: dict, arch: Architecture, gpu_name: str) -> float | None:
    """Mean tokens per row at which our model's micro-steps add up to the notebook's seconds per step."""
    gpu = find(gpu_name)
    accum = row["grad_accum"] or 1
    run = RunConfig(method=row["method"] or "qlora", seq_len=row["seq_len"], batch_size=row["batch_size"],
                    lora_rank=row["lora_rank"] or 16, stack="unsloth", bf16=gpu.bf16)
    first = first_step(arch, run) if row.get("train_runtime_s") and row.get("steps") else None
    target = (row["s_per_it"] - (first.seconds / row["steps"] if first else 0.0)) / accum
    def seconds(tokens: float) -> float:
        return micro_step(arch, run, tokens, rate(gpu, run, arch), gpu.bandwidth_gbs or 1.0).seconds
    low, high = 1.0, float(row["seq_len"])
    if seconds(low) > target:
        return 0.0  # even one-token rows take longer in our model than their whole step
    if seconds(high) < target:
        return None  # slower than full-length rows: our model is too fast for this run
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if seconds(mid) < target else (low, mid)
    return low


def tables(rows: list[dict]) -> tuple[list[tuple], list[tuple]]:
    speed, notebooks = [], []
    for row in rows:
        gpu = GPUS.get((row["gpu"] or "").split(" (")[0])
        arch = architecture(row["model"] or "")
        if gpu is None or arch is None or (row["num_gpus"] or 1) != 1 or not row["method"]:
            continue
        if row["kind"] in ("torchtune", "llama-factory") and row["tokens_per_s"] and row["seq_len"] and row["batch_size"]:
            ours = predicted_tokens_per_s(row, arch, gpu)
            speed.append((row["kind"], row["model"], row["stack"], row["method"], gpu, row["batch_size"], row["seq_len"],
                          row["tokens_per_s"], round(ours), f"{ours / row['tokens_per_s'] - 1:+.0%}", row["source"]))
        elif row["kind"] == "unsloth-notebook" and row["s_per_it"] and row["batch_size"]:
            implied = implied_tokens_per_row(row, arch, gpu)
            notebooks.append((row["model"], row["method"], gpu, row["batch_size"], row["grad_accum"], row["seq_len"],
                              row["s_per_it"], "-" if implied is None else round(implied), (row["dataset"] or "")[:28], row["source"]))
    return speed, notebooks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    with open(os.path.join(HERE, "public_throughput.json")) as fh:
        rows = json.load(fh)
    speed, notebooks = tables(rows)
    heads = (("source", "model", "their stack", "method", "GPU", "batch", "seq", "their tok/s", "ours", "ours vs theirs", "link"),
             ("model", "method", "GPU", "batch", "accum", "max seq", "their s/step", "implied tokens/row", "dataset", "link"))
    for head, body in zip(heads, (speed, notebooks), strict=True):
        if args.markdown:
            print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
            for r in body:
                print("| " + " | ".join(f"[link]({c})" if str(c).startswith("http") else str(c) for c in r) + " |")
        else:
            for r in body:
                print("  ".join(str(c) for c in r[:-1]))
        print()


if __name__ == "__main__":
    main()
