"""Write the estimator's predictions for every cell of a plan, before the cells are measured.

    python bench/vram_calibration/predict_unsloth.py PLAN OUT.jsonl [GPU]

Each model goes to the estimator as its config.json (configs/NAME.json) plus the parameter count of
the whole checkpoint (vision and audio towers included), as a catalog entry gives it; `--emulate` cells
are estimated for the real card that leaves Unsloth the free memory the emulated one reports (unsloth_sft.unsloth_card_gib;
through `report.fitted`, which applies Unsloth's own embedding offload and loss chunks where the card is tight), `--emulate t4` without bf16, and predicted at what the run needs there
(CoreEstimate.need_gib: a capped allocator gives back the cache the estimate counts; the peak is kept beside it). A cell that is not the first in its process (its job's shapes run in
one process, smallest first) is predicted without the MoE first-step transient, as fit_unsloth.py
scores it. Rounds 1-3 recorded the estimate of the day through estimate_vram; from round 4 on, this. From round 54
on each prediction also records its margin: the share of the estimate a fit must leave free to be called comfortable
rather than tight, which score_holdout_round.py checks every measured peak against.
GPU (default H200, the GPU machine's usual card; name an H100 when one is lent) gives the compute capability and
SM count that spilling kernels' stack scales with (finetune_advisor/vram/local_memory.py).
A `--quant fp8` cell (QLoRA's call on a per-tensor FP8 save, which Unsloth trains as LoRA over the FP8 weights) is
predicted at the figure the product's answer gives for that run (ResolvedArch.over_fp8: 16-bit LoRA's less a byte a
block linear weight, plus the widest one in 16 bits), with 16-bit LoRA's own figure beside it as lora_16bit_gib.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from unsloth_batch import job_cells, read_plan  # noqa: E402
from unsloth_sft import (  # noqa: E402
    CARDS, OVER_FP8, estimator_storage, estimator_targets, first_step_trials, load_config, lora_targets, parse_shapes,
    unsloth_card_gib,
)


def main() -> None:
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: python bench/vram_calibration/predict_unsloth.py PLAN OUT.jsonl [GPU]")
    from finetune_advisor.vram.architecture import Architecture
    from finetune_advisor.vram.estimator import RunConfig, estimate
    from finetune_advisor.vram.report import fitted
    from finetune_advisor.vram.resolve import ResolvedArch
    from finetune_advisor.vram.constants import CUDA_CONTEXT_GIB, DRIVER_RESERVED_GIB

    from finetune_advisor.gpus.target import named

    silicon = named(sys.argv[3] if len(sys.argv) > 3 else "H200").silicon
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    with open(sys.argv[2], "w") as fh:
        for name, args in read_plan(sys.argv[1]):
            args = [a for a in args if a != "--big"]
            flag = lambda f, d: args[args.index(f) + 1] if f in args else d  # noqa: E731
            spec = load_config(name)
            params = spec.get("params_counted_b")
            params_total = params * 1e9 if params else None
            env = dict(e.partition("=")[::2] for e in (args[i + 1] for i, a in enumerate(args) if a == "--env"))
            arch = Architecture.from_hf_config(spec["config"])
            images = "vision_config" in spec["config"]  # loads as *ForConditionalGeneration on Unsloth
            card = CARDS.get(flag("--emulate", ""))  # what estimate_vram says for a card of that memory
            ordered = sorted(parse_shapes(args[1]), key=lambda s: (s[0] * s[1], s[0]))
            resolved = ResolvedArch(arch, name, "architecture", params_total=params_total, takes_images=images)
            fp8 = flag("--quant", "on-load") == OVER_FP8  # estimated as 16-bit LoRA, then fp8_row
            cells = dict(zip(map(tuple, parse_shapes(args[1])), job_cells(name, args)))
            for i, (batch, seq) in enumerate(ordered):
                run = RunConfig(method="lora" if fp8 else args[0], seq_len=seq, batch_size=batch,
                                lora_rank=int(flag("--rank", "16")),
                                target_modules=estimator_targets(lora_targets(env)),
                                bf16=card["bf16"] if card else True, stack="unsloth", router_aux_loss=first_step_trials(env),
                                storage=estimator_storage(flag("--quant", "on-load")), **silicon)
                row = {"cell": cells[(batch, seq)], "estimator_commit": commit, "fresh": i == 0}
                try:
                    if card:  # through report.fitted: Unsloth's own offloading where the card is tight
                        est = fitted(resolved, run, unsloth_card_gib(card, CUDA_CONTEXT_GIB, DRIVER_RESERVED_GIB))[1]
                    else:
                        est = estimate(arch, run, params_total=params_total, takes_images=images)
                    # An emulated card caps the allocator, which gives back the cache the estimate counts first.
                    peak = est.need_gib if card else est.total_gib
                    row["predicted_gib"] = round(peak - (est.first_step_gib if i else 0.0), 3)
                    if peak != est.total_gib:
                        row["peak_gib"] = round(est.total_gib - (est.first_step_gib if i else 0.0), 3)
                    row["margin"] = est.margin  # a fit leaving less than this share of the estimate free is tight
                    if fp8:
                        row = fp8_row(resolved, row, est.breakdown.weights)
                except Exception as exc:  # noqa: BLE001 - a prediction that fails is recorded as such
                    row.update(predicted_gib=None, error=str(exc)[:300])
                fh.write(json.dumps(row) + "\n")


def fp8_row(resolved, row: dict, weights_gib: float) -> dict:
    """A `--quant fp8` cell's row, predicted as 16-bit LoRA (of which the weights take `weights_gib`): its figures moved
    to what the product's answer counts for LoRA over the FP8 weights (ResolvedArch.over_fp8), the 16-bit LoRA
    figure kept as lora_16bit_gib (the run below compute capability 8.9), so the cell scores the answer's count."""
    lora = row["predicted_gib"]
    shift = resolved.over_fp8(lora, weights_gib).fp8_gib - lora
    moved = {key: round(row[key] + shift, 3) for key in ("predicted_gib", "peak_gib") if key in row}
    return {**row, **moved, "lora_16bit_gib": lora}


if __name__ == "__main__":
    main()
