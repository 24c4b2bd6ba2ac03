"""Why are the transformers-stack QLoRA steps slow at long sequences? (issue 15, round 17)

Round 17's clean per-step cells ran QLoRA at 2 x 4096 tokens 3-3.5x slower than the step-time model, LoRA at the
same shape within 12 %. The suspicion: peft's prepare_model_for_kbit_training casts the norms and embeddings to
float32, so without autocast the residual stream, q, k and v are float32 and attention runs float32 kernels;
transformers' Trainer with bf16=True trains under torch.autocast, which would run attention in bf16. This probe
builds one calibration model the way run_cells.py does and times the same step both ways, recording the dtype
that reaches scaled_dot_product_attention. On the GPU machine (carry .whl):

    PYTHONPATH=/tmp/site python3 bench/throughput/autocast_probe.py --arch Qwen3-4B --shape 2x4096 --method qlora
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "vram_calibration"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from archs import ARCHS, LORA_TARGETS  # noqa: E402
from build import build  # noqa: E402
from train import make_optimizer, train_steps  # noqa: E402

SEEN: set[str] = set()
_sdpa = F.scaled_dot_product_attention


def _spy(q, k, v, *a, **kw):
    SEEN.add(str(q.dtype))
    return _sdpa(q, k, v, *a, **kw)


def run(model, batch: int, seq: int, vocab: int, autocast: bool, steps: int) -> dict:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer("adamw_torch", params)
    ids = torch.randint(0, vocab, (batch, seq), device="cuda")
    SEEN.clear()
    per_step: list = []
    train_steps(model, opt, params, ids, steps, per_step, [], autocast)  # the calibration cells' step
    del opt
    times = [s["seconds"] for s in per_step]
    return {"autocast_bf16": autocast, "sdpa_q_dtypes": sorted(SEEN), "step_times_s": times,
            "step_s": sorted(times[1:])[len(times[1:]) // 2],
            "peak_allocated_gib": round(max(s["peak_allocated_bytes"] for s in per_step) / 2**30, 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="Qwen3-4B")
    p.add_argument("--method", default="qlora", choices=("qlora", "lora"))
    p.add_argument("--shape", default="2x4096")
    p.add_argument("--steps", type=int, default=4)
    a = p.parse_args()
    batch, seq = (int(x) for x in a.shape.split("x"))
    F.scaled_dot_product_attention = _spy  # transformers' sdpa_attention looks it up at call time
    fields = dict(ARCHS[a.arch])
    model, _, _ = build(fields, a.method, True, 16, 0.0, list(LORA_TARGETS), "cuda")
    for autocast in (False, True):
        r = run(model, batch, seq, fields["vocab_size"], autocast, a.steps)
        print(json.dumps({"arch": a.arch, "method": a.method, "shape": a.shape, **r,
                          "torch": torch.__version__, "gpu": torch.cuda.get_device_name()}), flush=True)


if __name__ == "__main__":
    main()
