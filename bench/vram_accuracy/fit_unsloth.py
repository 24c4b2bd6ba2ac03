"""Fit the Unsloth stack's constants to the measured Unsloth cells, score them leave-one-architecture-out,
and write them into finetune_advisor/vram/constants.py (between its UNSLOTH FITTED markers).

    python bench/vram_accuracy/fit_unsloth.py             # fit on every cell, print the scores
    python bench/vram_accuracy/fit_unsloth.py --write     # ... and rewrite the constants
    python bench/vram_accuracy/fit_unsloth.py --jobs 1    # the held-out fits in one process (default: one per CPU)
    python bench/vram_accuracy/fit_unsloth.py --write --no-held-out   # the constants alone, without the held-out pass

The cells are bench/vram_calibration/data/unsloth_sft_1gpu.jsonl (unsloth_sft.py: Unsloth's loader,
get_peft_model with offloaded checkpointing, trl's SFTTrainer). Each model is given to the estimator
as its config.json (configs/NAME.json) plus the parameter count of the whole checkpoint (vision and
audio towers included), as a catalog entry gives it. The target is NVML's peak for the process, its load included
(cells.process_peak_bytes).

The estimator predicts a fresh process, the way a user's run starts; a cell that is not the first
in its process missed the MoE first-step transient, so that term is left out of its prediction.
Cells run on an emulated card (`--emulate t4`, `12g`) are scored, not fitted: Unsloth sizes some of its
choices from the card's free memory. Rounds 1-5's emulation also made it see no usable memory at all, so
it moved its input-side embeddings to host RAM in every such cell (see unsloth_sft.emulate_card); the
estimate stays above those cells. An emulated card caps PyTorch's allocator, so its cells are scored on what the run
needs (CoreEstimate.need_gib: the peak less the cache the allocator gives back under a cap).

The objective is the mean |relative error| plus a heavy penalty on every under-estimate beyond
2 %: a figure below the real peak crashes a user's run. Pure Python.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cells import ROOT, median, process_peak_bytes, quantile  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "bench", "vram_calibration"))
from unsloth_sft import (  # noqa: E402
    FREE_MARGIN_BYTES, OVER_FP8, estimator_storage, estimator_targets, first_step_trials,
)
from fit import _golden  # noqa: E402

from finetune_advisor.gpus import table  # noqa: E402
from finetune_advisor.vram import constants as k  # noqa: E402
from finetune_advisor.vram.architecture import Architecture  # noqa: E402
from finetune_advisor.vram.estimator import RunConfig, estimate  # noqa: E402
from finetune_advisor.vram.shapes import shapes  # noqa: E402
from finetune_advisor.vram.ground import length_kind  # noqa: E402
from finetune_advisor.vram.terms import text_tokens  # noqa: E402
from finetune_advisor.vram.unsloth_stack import linear_attention_stack_gib  # noqa: E402

DATA = os.path.join(ROOT, "bench", "vram_calibration", "data", "unsloth_sft_1gpu.jsonl")
CONFIGS = os.path.join(ROOT, "bench", "vram_calibration", "configs")
CONSTANTS = os.path.join(ROOT, "finetune_advisor", "vram", "constants.py")
GIB = 1024**3
UNDER_PENALTY = 10.0
# A family's residual (measured less predicted) must grow by at least this much over its last measured stretch to
# count as outgrowing the estimate (`tail_growth`): repeats of one cell differ by up to about half as much.
TAIL_NOISE_GIB = 0.5
# A model's residual is fitted with a bend (`tail_bend`) only where it was measured at this many lengths or more,
# spanning at least this factor: over shorter spans a quadratic's curvature extrapolates to nonsense.
TAIL_BEND_LENGTHS, TAIL_BEND_SPAN = 5, 32
# A family's NVML memory beside the allocator counts as its own when it exceeds the common context by this much.
CONTEXT_EXTRA_MIN_GIB = 0.05
# (name, lower, upper) of every fitted constant; the context is measured directly.
BOUNDS = (("fixed", 0.0, 1.0), ("layer_dense", 1.0, 3.0), ("layer_moe", 1.0, 4.0), ("moe_intermediate", 0.0, 3.0),
          ("layer_deltanet", 1.0, 4.0),
          ("layer_full", 0.0, 3.0), ("full_grad_reserved_share", 0.0, 0.4),
          ("softcap", 0.0, 40.0), ("gemma3_mlp", 0.0, 40.0),
          ("moe_share", 0.0, 1.5), ("moe_share_lora", 0.0, 1.5), ("reserved_share", 0.0, 0.6), ("reserved", 0.0, 0.8),
          ("trial_reserved_share", 0.0, 0.3), ("chunk_loss", 0.0, 8.0))


@dataclass
class Cell:
    id: str
    arch_name: str
    arch: Architecture
    run: RunConfig
    params_total: float | None
    measured: float  # GiB
    fresh: bool
    emulated: bool
    images: bool  # a multimodal checkpoint (vision_config), which Unsloth loads as *ForConditionalGeneration
    record: dict[str, Any] = field(repr=False)


@dataclass
class Theta:
    context: float
    fixed: float
    layer_dense: float
    layer_moe: float
    moe_intermediate: float
    layer_deltanet: float
    layer_full: float
    softcap: float
    gemma3_mlp: float
    moe_share: float
    moe_share_lora: float
    reserved_share: float
    reserved: float
    trial_reserved_share: float
    full_grad_reserved_share: float
    chunk_loss: float
    context_extra: dict[str, float] = field(default_factory=dict)

    def apply(self) -> None:
        k.UNSLOTH_CONTEXT_GIB = self.context  # type: ignore[misc]
        k.UNSLOTH_FIXED_GIB = self.fixed  # type: ignore[misc]
        k.UNSLOTH_LAYER_SCALE = {"dense": self.layer_dense, "moe": self.layer_moe,  # type: ignore[misc]
                                 "deltanet": self.layer_deltanet, "full": self.layer_full}
        k.UNSLOTH_MOE_INTERMEDIATE_BYTES = self.moe_intermediate  # type: ignore[misc]
        k.UNSLOTH_SOFTCAP_MLP_BYTES = self.softcap  # type: ignore[misc]
        k.UNSLOTH_GEMMA3_MLP_BYTES = self.gemma3_mlp  # type: ignore[misc]
        k.UNSLOTH_MOE_LAYER_SHARE = {"qlora": self.moe_share, "lora": self.moe_share_lora}  # type: ignore[misc]
        k.UNSLOTH_RESERVED_SHARE = self.reserved_share  # type: ignore[misc]
        k.UNSLOTH_RESERVED_GIB = self.reserved  # type: ignore[misc]
        k.UNSLOTH_TRIAL_RESERVED_SHARE = self.trial_reserved_share  # type: ignore[misc]
        k.UNSLOTH_FULL_GRAD_RESERVED_SHARE = self.full_grad_reserved_share  # type: ignore[misc]
        k.UNSLOTH_CHUNK_LOSS_BYTES = self.chunk_loss  # type: ignore[misc]
        k.UNSLOTH_CONTEXT_EXTRA_GIB = dict(self.context_extra)  # type: ignore[misc]


def current() -> Theta:
    scale = k.UNSLOTH_LAYER_SCALE
    return Theta(k.UNSLOTH_CONTEXT_GIB, k.UNSLOTH_FIXED_GIB, scale["dense"], scale["moe"],
                 k.UNSLOTH_MOE_INTERMEDIATE_BYTES, scale["deltanet"],
                 scale["full"], k.UNSLOTH_SOFTCAP_MLP_BYTES, k.UNSLOTH_GEMMA3_MLP_BYTES, k.UNSLOTH_MOE_LAYER_SHARE["qlora"],
                 k.UNSLOTH_MOE_LAYER_SHARE["lora"], k.UNSLOTH_RESERVED_SHARE,
                 k.UNSLOTH_RESERVED_GIB, k.UNSLOTH_TRIAL_RESERVED_SHARE, k.UNSLOTH_FULL_GRAD_RESERVED_SHARE,
                 k.UNSLOTH_CHUNK_LOSS_BYTES, dict(k.UNSLOTH_CONTEXT_EXTRA_GIB))


def load(path: str = DATA, status: str = "ok") -> list[Cell]:
    """The cells of `status` ("ok": the measured ones; "oom": those that ran out of memory, measured 0), less the
    records not representative of a user's run and those of LoRA over FP8 weights: QLoRA's call on a per-tensor FP8
    save trains another run, which the answer counts from 16-bit LoRA's figure (ResolvedArch.over_fp8) and no
    constant here sets; score_holdout_round.py scores them against that count."""
    recs = [json.loads(line) for line in open(path) if line.strip()]
    return [cell(r) for r in recs if r.get("status") == status and not r.get("not_representative")
            and r.get("quant_form") != OVER_FP8 and (status != "ok" or r.get("nvml_process_peak_bytes"))]


def cell(rec: dict[str, Any]) -> Cell:
    """One record as the estimator is asked about it."""
    spec = json.load(open(os.path.join(CONFIGS, f"{rec['arch']}.json")))
    counted = spec.get("params_counted_b")
    gpu = table.from_nvml(rec["gpu"], rec["gpu_total_bytes"] / GIB)
    env = dict(e.partition("=")[::2] for e in rec.get("env") or [])  # the cell's --env settings
    run = RunConfig(method=rec["method"], seq_len=rec["seq_len"], batch_size=rec["batch_size"],
                    lora_rank=rec.get("lora_rank") or 16, bf16=(rec.get("emulation") or {"bf16": True}).get("bf16", False), stack="unsloth",
                    **({"target_modules": estimator_targets(rec["target_modules"])} if rec.get("target_modules") else {}),
                    offload_embedding=bool(rec.get("host_embedding_bytes")), router_aux_loss=first_step_trials(env),
                    gpu_capability=gpu.compute_capability, gpu_sms=gpu.sm_count,
                    storage=estimator_storage(rec.get("quant_form")))
    arch = Architecture.from_hf_config(rec["config"])
    measured = process_peak_bytes(rec) / GIB if rec.get("status") == "ok" else 0.0
    return Cell(rec["cell"], rec["arch"], arch, run, counted * 1e9 if counted else None, measured,
                rec["first_in_process"], bool(rec.get("emulation")), "vision_config" in rec["config"], rec)


def unsloth_usable_gib(c: Cell) -> float | None:
    """The memory after the driver's share of a real card that leaves Unsloth what the cell's emulated card let it read
    as free before loading: the allocator's cap less what the harness's mem_get_info held back (500 MiB until round
    78; the "4090" card none from round 79), the CUDA context added back. For estimator.estimate_on_card; None for an
    uncapped cell, or an emulation whose memory fraction Unsloth read as zero (rounds 1-5)."""
    emulation = c.record.get("emulation") or {}
    if not any("reports 1.0" in p for p in emulation.get("patched", [])):
        return None
    cap = emulation.get("allocator_gib", emulation["total_gib"])
    return cap - emulation.get("free_margin_gib", FREE_MARGIN_BYTES / GIB) + k.CUDA_CONTEXT_GIB


def predict(c: Cell) -> float:
    est = estimate(c.arch, c.run, params_total=c.params_total, takes_images=c.images)
    # An emulated card caps the allocator, which gives back the cache the estimate counts (CoreEstimate.cache_gib)
    # before it fails; a process that had already taken its first step does not hold what only that step holds.
    peak = est.need_gib if c.emulated else est.total_gib
    return peak - (0.0 if c.fresh else est.first_step_gib)


def error(c: Cell) -> float:
    return (predict(c) - c.measured) / c.measured


def objective(cells: list[Cell]) -> float:
    errors = [error(c) for c in cells]
    return sum(abs(e) + UNDER_PENALTY * max(0.0, -e - 0.02) for e in errors) / len(errors)


STEP_GAIN = 1e-5  # objective (mean |error| plus penalty) a coordinate move must gain to be taken


def fit(cells: list[Cell], sweeps: int = 12) -> Theta:
    fitted = [c for c in cells if not c.emulated]
    theta = current()

    def beside(c: Cell) -> float:  # NVML beside the allocator, less the spilling kernels' stack the estimator counts
        return c.measured - c.record["peak_reserved_bytes"] / GIB - linear_attention_stack_gib(c.arch, shapes(c.arch), c.run)[0]

    theta.context = round(median([beside(c) for c in fitted if not c.fresh]), 4)
    theta.context_extra = {}
    for family in sorted({c.arch.model_type for c in fitted}):
        extra = median([beside(c) for c in fitted if c.arch.model_type == family]) - theta.context
        if extra >= CONTEXT_EXTRA_MIN_GIB:
            theta.context_extra[family] = round(extra, 2)
    for _ in range(sweeps):
        moved = False
        for name, lo, hi in BOUNDS:
            def f(x: float, name: str = name) -> float:
                setattr(theta, name, x)
                theta.apply()
                return objective(fitted)

            old = getattr(theta, name)
            before, new = f(old), _golden(f, lo, hi)
            # Take a move only where it lowers the objective by more than noise: the fixed allocations and the
            # allocator's fixed reserve both add a constant, so the objective is flat along their sum, and taking
            # every golden-section minimum let each rerun drift along that ridge (round 17: ~1 % a rerun).
            if f(new) < before - STEP_GAIN:
                moved = True
            else:
                f(old)
        if not moved:
            break
    for name, _, _ in BOUNDS:
        setattr(theta, name, round(getattr(theta, name), 4))
    theta.apply()
    return theta


def _residuals(cells: list[Cell]) -> dict[tuple[str, str, str, str], list[tuple[int, float]]]:
    """Per (model_type, kind, method, model), each measured length's mean residual (measured less predicted, bytes),
    in order of the tokens a step held."""
    resid: dict[tuple[str, str, str, str], dict[int, list[float]]] = {}
    for c in cells:
        if not c.emulated:
            key = (c.arch.model_type, length_kind(c.arch), c.run.method, c.arch_name)
            resid.setdefault(key, {}).setdefault(text_tokens(c.arch, c.run), []).append((c.measured - predict(c)) * GIB)
    return {key: [(t, sum(r) / len(r)) for t, r in sorted(by_tokens.items())] for key, by_tokens in sorted(resid.items())}


def _rose(points: list[tuple[int, float]]) -> bool:
    """Whether the residual grew by at least TAIL_NOISE_GIB over its last measured stretch."""
    return len(points) >= 2 and points[-1][1] - points[-2][1] >= TAIL_NOISE_GIB * GIB


def tail_growth(cells: list[Cell]) -> dict[str, dict[str, dict[str, float]]]:
    """Per model_type, kind and method, the bytes a token by which the measured peaks outgrew the estimate over each
    model's last measured stretch (its two longest steps of that method), the fastest of its models; 0 where that is
    within TAIL_NOISE_GIB. Beyond the longest step measured of the family and method the estimator adds it
    (ground.tail_growth)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (model_type, kind, method, _), points in _residuals(cells).items():
        if len(points) < 2:
            continue
        (t0, r0), (t1, r1) = points[-2:]
        rate = (r1 - r0) / (t1 - t0) if _rose(points) else 0.0
        by_method = out.setdefault(model_type, {}).setdefault(kind, {})
        by_method[method] = round(max(by_method.get(method, 0.0), rate), 1)
    return out


def tail_bend(cells: list[Cell]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """Per model_type, kind and method, where a model's residual was measured at TAIL_BEND_LENGTHS lengths or more
    over TAIL_BEND_SPAN times its shortest and rose over its last stretch: the least-squares quadratic of that
    residual in the tokens, [bytes a token, bytes a token squared], when it bends upward (the model with the largest
    bend). Gemma 4 12B QLoRA's five cells, 2,048 to 65,536 tokens, fit one to 0.05 GiB, and its straight last stretch
    would have it 13 % under the measured trend at 131,072. Beyond the longest step measured of the family and method
    the estimator continues the larger of the two (ground.tail_growth)."""
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for (model_type, kind, method, _), points in _residuals(cells).items():
        if len(points) < TAIL_BEND_LENGTHS or points[-1][0] < TAIL_BEND_SPAN * points[0][0] or not _rose(points):
            continue
        linear, square = _quadratic(points)
        by_method = out.setdefault(model_type, {}).setdefault(kind, {})
        if square > 0 and square > by_method.get(method, [0.0, 0.0])[1]:
            by_method[method] = [round(linear, 1), round(square, 4)]
    return out


def _quadratic(points: list[tuple[int, float]]) -> tuple[float, float]:
    """(b, c) of the least-squares r = a + b t + c t^2 through the points (t in tokens, r in bytes)."""
    scale = max(t for t, _ in points)  # solved on t / scale, so the normal equations stay well conditioned
    rows = [(1.0, t / scale, (t / scale) ** 2) for t, _ in points]
    normal = [[sum(r[i] * r[j] for r in rows) for j in range(3)] + [sum(r[i] * y for r, (_, y) in zip(rows, points))]
              for i in range(3)]
    for i in range(3):  # Gauss-Jordan with partial pivoting
        pivot = max(range(i, 3), key=lambda row: abs(normal[row][i]))
        normal[i], normal[pivot] = normal[pivot], normal[i]
        for row in range(3):
            if row != i:
                factor = normal[row][i] / normal[i][i]
                normal[row] = [x - factor * y for x, y in zip(normal[row], normal[i])]
    _, b, c = (normal[i][3] / normal[i][i] for i in range(3))
    return b / scale, c / scale**2


_LOAO: tuple[list[Cell], Theta] | None = None  # the cells and starting constants a held-out fit reads (fork workers)


def _held_out(arch: str) -> dict[str, float]:
    """Fit without one architecture, from the same starting constants whatever ran before, and score its cells."""
    assert _LOAO is not None
    cells, start = _LOAO
    start.apply()
    fit([c for c in cells if c.arch_name != arch])
    return {c.id: error(c) for c in cells if c.arch_name == arch}


def leave_one_architecture_out(cells: list[Cell], jobs: int = 1) -> dict[str, float]:
    """Each architecture's cells scored by a fit without it; `jobs` forked processes share the fits (the result does
    not depend on how many: every fit starts from the committed constants)."""
    global _LOAO
    saved = current()
    _LOAO = (cells, saved)
    archs = sorted({c.arch_name for c in cells})
    out: dict[str, float] = {}
    try:
        if jobs > 1:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                parts = pool.map(_held_out, archs, chunksize=1)
        else:
            parts = [_held_out(arch) for arch in archs]
    finally:
        saved.apply()
        _LOAO = None
    for part in parts:
        out.update(part)
    return out


def summary(errors: list[float]) -> str:
    a = [abs(e) for e in errors]
    under = sum(e < -0.05 for e in errors)
    return (f"{len(a)} cells: median |error| {100 * median(a):.1f} %, p90 {100 * quantile(a, 0.9):.1f} %, "
            f"max {100 * max(a):.1f} %, {under} more than 5 % under")


def block(theta: Theta, cells: list[Cell]) -> str:
    versions = sorted({f"unsloth {c.record['unsloth']}, transformers {c.record['transformers']}, trl {c.record['trl']}, "
                       f"torch {c.record['torch']}, bitsandbytes {c.record['bitsandbytes']}" for c in cells})
    gpus = sorted({c.record["gpu"] for c in cells})
    moe: dict[str, int] = {}
    methods: dict[str, dict[str, int]] = {}
    longest: dict[str, dict[str, dict[str, int]]] = {}
    for c in cells:
        if not c.emulated:
            if c.arch.is_moe:
                moe[c.arch.model_type] = moe.get(c.arch.model_type, 0) + 1
            by_method = methods.setdefault(c.arch.model_type, {})
            by_method[c.run.method] = by_method.get(c.run.method, 0) + 1
            most = longest.setdefault(c.arch.model_type, {}).setdefault(length_kind(c.arch), {})
            most[c.run.method] = max(most.get(c.run.method, 0), text_tokens(c.arch, c.run))
    by_method_sorted = {t: dict(sorted(m.items())) for t, m in sorted(methods.items())}
    longest_sorted = {t: {kind: dict(sorted(m.items())) for kind, m in sorted(by_kind.items())}
                      for t, by_kind in sorted(longest.items())}
    tails = tail_growth(cells)
    # Quoted in answers: no repository paths (the installed package has no bench/ files).
    source = (f"fitted on {sum(not c.emulated for c in cells)} measured Unsloth cells "
              f"({', '.join(gpus)}; {'; '.join(versions)})")
    return f'''# --- UNSLOTH FITTED: begin (written by bench/vram_accuracy/fit_unsloth.py; do not edit by hand) ---
UNSLOTH_FIT_SOURCE: Final = "{source}"
# CUDA context and kernels as NVML sees them beside the allocator, measured (median of steady cells);
UNSLOTH_CONTEXT_GIB: Final = {theta.context}
# ... and what some families add to it, measured (median of their cells, GiB): kernels loaded for them
# (Gemma's compiled softcapping), beyond the stack of spilling kernels (gated-delta-rule and Mamba-2:
# local_memory, counted per GPU);
UNSLOTH_CONTEXT_EXTRA_GIB: Final = {theta.context_extra}
# allocations beside the weights, training state and activations (cuBLAS workspaces, the loss's bounded chunk);
UNSLOTH_FIXED_GIB: Final = {theta.fixed}
# bytes a logit that one compiled chunk of Unsloth's fallback loss holds (unsloth_stack.chunk_loss_bytes);
UNSLOTH_CHUNK_LOSS_BYTES: Final = {theta.chunk_loss}
# multiplier on one decoder layer's counted activations per token (offloaded checkpointing keeps about
# one layer's recompute on the GPU), by kind of model and method (unsloth_stack.layer_kind);
UNSLOTH_LAYER_SCALE: Final = {{'dense': {theta.layer_dense}, 'moe': {theta.layer_moe}, 'deltanet': {theta.layer_deltanet}, 'full': {theta.layer_full}}}
# bytes a MoE layer holds per token and element of its routed intermediate width beyond the count, in the recomputed
# layer (before the scale above) and in each layer a first-step trial keeps (unsloth_stack.routed_intermediate_bytes);
UNSLOTH_MOE_INTERMEDIATE_BYTES: Final = {theta.moe_intermediate}
# bytes per token per unit of the widest dense MLP that the recomputed layer of a softcapped Gemma (2, 3n, 4)
# holds beyond the count, and of Gemma 3 (unsloth_stack.gemma_mlp_bytes);
UNSLOTH_SOFTCAP_MLP_BYTES: Final = {theta.softcap}
UNSLOTH_GEMMA3_MLP_BYTES: Final = {theta.gemma3_mlp}
# share of one layer's routed experts (in 16-bit) held while a MoE layer runs, by method (full: lora's);
UNSLOTH_MOE_LAYER_SHARE: Final = {{'qlora': {theta.moe_share}, 'lora': {theta.moe_share_lora}}}
# allocator reserve beyond what is allocated (expandable segments): share of the step's buffers, and GiB.
UNSLOTH_RESERVED_SHARE: Final = {theta.reserved_share}
UNSLOTH_RESERVED_GIB: Final = {theta.reserved}
# ... and beside a MoE first step's trials that keep part of each layer (unsloth_stack.router_path_bytes), as a share.
UNSLOTH_TRIAL_RESERVED_SHARE: Final = {theta.trial_reserved_share}
# ... and, under full fine-tuning, as a share of the weights' gradients;
UNSLOTH_FULL_GRAD_RESERVED_SHARE: Final = {theta.full_grad_reserved_share}
# measured cells per model_type and method: the families the Unsloth figures stand on, and how (a MoE's first
# step can keep a different share of each layer by method: ground.method_said).
UNSLOTH_MEASURED_METHODS: Final = {by_method_sorted}
# ... and of them, the cells of MoE models (what an unmeasured MoE family carries over; the rest, a dense one's).
UNSLOTH_MEASURED_MOE: Final = {dict(sorted(moe.items()))}
# ... and the most tokens a step held in them, per model_type, kind and method (beyond it: ground.longest_measured).
UNSLOTH_LONGEST_TOKENS: Final = {longest_sorted}
# ... and beyond it, bytes a token by which our runs' peaks outgrew the estimate over each family's last measured
# stretch, per model_type, kind and method (fit_unsloth.tail_growth; added by ground.tail_growth).
UNSLOTH_TAIL_GROWTH: Final = {tails}
# ... and where a model's residual, measured over a wide span, bends upward: its quadratic, [bytes a token, bytes a
# token squared] (fit_unsloth.tail_bend), continued beyond the longest step where it adds more (ground.tail_growth).
UNSLOTH_TAIL_BEND: Final = {tail_bend(cells)}
# --- UNSLOTH FITTED: end ---'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite the UNSLOTH FITTED block of finetune_advisor/vram/constants.py")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="processes for the leave-one-architecture-out fits (default: the CPUs)")
    ap.add_argument("--no-held-out", action="store_true",
                    help="skip the leave-one-architecture-out pass (one fit per architecture, about an hour on two "
                         "CPUs): the constants it writes are the same, only the held-out scores are missing")
    args = ap.parse_args()
    # The tail growth extrapolates beyond measured ground; a cell is measured ground, so the fit leaves it out.
    k.UNSLOTH_TAIL_GROWTH = {}  # type: ignore[misc]
    k.UNSLOTH_TAIL_BEND = {}  # type: ignore[misc]
    cells = load()
    held_out = {} if args.no_held_out else leave_one_architecture_out(cells, args.jobs)
    theta = fit(cells)
    in_sample = {c.id: error(c) for c in cells}
    print(f"in sample:   {summary([in_sample[c.id] for c in cells if not c.emulated])}")
    if held_out:
        print(f"held out:    {summary([held_out[c.id] for c in cells if not c.emulated])}")
    print(f"emulated:    {summary([in_sample[c.id] for c in cells if c.emulated])}")
    for c in cells:
        out = f"  held out {100 * held_out[c.id]:+6.1f} %" if held_out else ""
        print(f"  {c.id:62s} measured {c.measured:6.2f}  predicted {predict(c):6.2f}  {100 * in_sample[c.id]:+6.1f} %{out}")
    print(block(theta, cells))
    if args.write:
        text = open(CONSTANTS).read()
        pattern = re.compile(r"# --- UNSLOTH FITTED: begin.*?# --- UNSLOTH FITTED: end ---", re.S)
        assert pattern.search(text), "UNSLOTH FITTED markers missing in finetune_advisor/vram/constants.py"
        with open(CONSTANTS, "w") as fh:
            fh.write(pattern.sub(lambda _: block(theta, cells), text))


if __name__ == "__main__":
    main()
