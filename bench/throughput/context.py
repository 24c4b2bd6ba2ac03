"""The longest context for Llama 3.1 8B QLoRA (rank 32, batch 1, all linear layers) on 8-80 GB cards, both
stacks, beside Unsloth's published "max. context length" table (bench/vram_accuracy/public_unsloth.json,
linked there), as plan_training finds it: bisection on the memory estimator.

    python bench/throughput/context.py [--markdown]

"fits" is estimate_vram's verdict (peak + the driver's share within the card); "comfortably" leaves the
estimator's measured error (10 % of the estimate) free, which is what plan_training answers with. The
published table states GB without saying GB or GiB; it is read as GiB here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from finetune_advisor.adapters.cache import load_catalog  # noqa: E402
from finetune_advisor.catalog.resolve import resolve  # noqa: E402
from finetune_advisor.plan.search import _largest  # noqa: E402
from finetune_advisor.vram.estimator import RunConfig  # noqa: E402
from finetune_advisor.vram.report import fitted  # noqa: E402
from finetune_advisor.vram.resolve import from_catalog  # noqa: E402

PUBLIC = os.path.join(ROOT, "bench", "vram_accuracy", "public_unsloth.json")


def published() -> list[tuple[int, int, str]]:
    """(GB, Unsloth's context, Hugging Face + FA2's context) from the table's rows."""
    with open(PUBLIC) as fh:
        points = json.load(fh)["points"]
    rows = []
    for p in points:
        if p["id"].startswith("ctx-llama31-8b-"):
            hf = re.search(r"Hugging Face \+ FA2: ([\w,]+)", p["notes"])
            rows.append((int(p["gpu_total_gib"]), p["seq_len"], hf.group(1) if hf else "?"))
    return sorted(rows)


def longest(stack: str, memory: float, comfortably: bool) -> int | None:
    catalog = load_catalog()
    found = resolve(catalog, "llama-3.1-8b")
    resolved = from_catalog(found, catalog.guidance(found.entry.family))
    base = RunConfig(method="qlora", lora_rank=32, batch_size=1, stack=stack, storage=resolved.storage_for("qlora", stack),
                     autocast=stack == "transformers")  # Hugging Face + FA2 trains in bf16 mixed precision
    context = 2_000_000  # beyond the model's 131072: the table itself goes past it (RoPE scaling)
    resolved.context = context

    def ok(n: int) -> bool:
        verdict = fitted(resolved, base.model_copy(update={"seq_len": n}), memory)[2]
        return verdict is not None and (verdict.comfortable if comfortably else verdict.fits)

    return _largest(1, context, ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    head = ("GPU GB", "Unsloth published", "ours: fits", "ours: comfortably", "vs published", "HF+FA2 published",
            "ours transformers: fits", "comfortably")
    rows = []
    for gb, ours_pub, hf_pub in published():
        fits, comfy = longest("unsloth", gb, False), longest("unsloth", gb, True)
        t_fits, t_comfy = longest("transformers", gb, False), longest("transformers", gb, True)
        ratio = f"{fits / ours_pub - 1:+.0%}" if fits else "-"
        rows.append((gb, ours_pub, fits or "does not fit", comfy or "does not fit", ratio, hf_pub,
                     t_fits or "does not fit", t_comfy or "does not fit"))
    if args.markdown:
        print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(f"{c:,}" if isinstance(c, int) else str(c) for c in r) + " |")
    else:
        for r in rows:
            print("  ".join(str(c) for c in r))


if __name__ == "__main__":
    main()
