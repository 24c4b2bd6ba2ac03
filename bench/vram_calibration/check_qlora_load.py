"""Check that the harness's QLoRA build gives the same weights as `from_pretrained`.

Saves a random bf16 model, loads it with `from_pretrained(..., quantization_config=nf4+double
quant)`, and compares with build.quantize_4bit on the same architecture: allocated bytes, module
classes and parameter dtypes/shapes must all match. Writes one JSON line per architecture.

    python check_qlora_load.py --out check.jsonl [--device cuda] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from archs import ARCHS  # noqa: E402
from build import bnb_config, param_facts, quantize_4bit, random_model  # noqa: E402
from memory import cuda_stat, release  # noqa: E402
from run_cells import shrink  # noqa: E402

CASES = [("Qwen2.5-0.5B", None), ("Mistral-7B-v0.3", 4)]  # (arch, layers kept)


def layout(model) -> dict:
    mods = {n: type(m).__name__ for n, m in model.named_modules() if n}
    params = {n: [str(p.dtype), list(p.shape), type(p).__name__] for n, p in model.named_parameters()}
    return {"modules": mods, "params": params}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true")
    args = ap.parse_args()
    from transformers import AutoModelForCausalLM

    if args.device == "cuda":
        torch.ones(1, device="cuda")
    for arch, layers in CASES:
        fields = dict(ARCHS[arch])
        if layers:
            fields["num_hidden_layers"] = layers
        if args.tiny:
            fields = shrink(fields)
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as d:
            m = random_model(fields, args.device)
            m.save_pretrained(d)
            del m
            release()
            base = cuda_stat("memory_allocated")
            loaded = AutoModelForCausalLM.from_pretrained(
                d, quantization_config=bnb_config(), dtype=torch.bfloat16,
                device_map={"": 0} if args.device == "cuda" else {"": "cpu"},
                attn_implementation="sdpa",
            )
            release()
            a_bytes = cuda_stat("memory_allocated") - base
            a_layout, a_facts = layout(loaded), param_facts(loaded)
            del loaded
            release()
        m = random_model(fields, args.device)
        m, skipped = quantize_4bit(m, args.device)
        release()
        b_bytes = cuda_stat("memory_allocated") - base
        b_layout, b_facts = layout(m), param_facts(m)
        del m
        release()
        diff_mods = sorted(k for k in set(a_layout["modules"]) | set(b_layout["modules"])
                           if a_layout["modules"].get(k) != b_layout["modules"].get(k))
        diff_params = sorted(k for k in set(a_layout["params"]) | set(b_layout["params"])
                             if a_layout["params"].get(k) != b_layout["params"].get(k))
        rec = {
            "check": "qlora_weights_vs_from_pretrained", "arch": arch, "config": fields,
            "from_pretrained_allocated_bytes": a_bytes, "harness_allocated_bytes": b_bytes,
            "from_pretrained_params": a_facts, "harness_params": b_facts, "not_quantized": skipped,
            "module_class_differences": diff_mods[:20], "param_differences": diff_params[:20],
            "match": a_bytes == b_bytes and not diff_mods and not diff_params
            and a_facts == b_facts,
            "torch": torch.__version__,
        }
        with open(args.out, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        print(json.dumps({k: v for k, v in rec.items() if k != "config"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
