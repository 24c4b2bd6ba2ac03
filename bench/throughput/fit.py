"""Fit the step-time model (finetune_advisor/plan/throughput.py) to the step times of the calibration
cells, score it leaving one architecture out, and write its constants.

    python bench/throughput/fit.py            # fit and print the scores per stack and method
    python bench/throughput/fit.py --write    # ... and rewrite the THROUGHPUT FITTED block
    python bench/throughput/fit.py --cells    # ... and list every cell, measured against predicted

Data: bench/vram_calibration/data/unsloth_sft_1gpu.jsonl (`step_s`: the median of steps 2-4) and
transformers_1gpu.jsonl (the median of steps 2+ where the cell timed each step, else `time_s` /
`steps`: three steps, the first included, so biased high), H200 cells only. Cells run with a non-default environment (UNSLOTH_BLOCK_COMPILE=0) are left out, and so are
the T4-emulated ones (`--emulate t4`): an H200 running Unsloth's fp16 path under patched memory queries is
neither a T4 nor what an H200 user runs; every hybrid (linear-attention or Mamba layers, whose kernels the model does
not see): those that ran a stand-in kernel (`kernels` names a shim) give their ratio to the model as HYBRID_STEP
(`hybrid_slowdown`), those on a user's own kernels as HYBRID_USER_STEP (`hybrid_user_path`); gpt-oss, whose decoder
layers Unsloth's per-block compile always skips, gives its ratio as UNCOMPILED_STEP (`uncompiled_slowdown`); and Llama 3.2
Vision's text rows: with no image, MllamaTextModel skips its 8 cross-attention layers (of 40) and the vision tower
never runs, work the model counts and an image row does (`outside_fit`).

The model joins the host's fixed cost H = c0 + c_linear L + c_param P and the GPU's work G = k_matmul F_matmul /
peak + k_attention F_attention / peak plus a fixed dequantisation term, as H + G or, with an overlap exponent p,
(H^p + G^p)^(1/p): launches are asynchronous, and a profiled short step kept the GPU busy 15-36 % of it (round 9).
Each method has its own p; a stack takes the combination among those tried (`--overlaps`, else OVERLAPS) that
predicts best leaving one architecture out. L is the linear layers a step runs
through their own kernels (the adapted ones under LoRA and QLoRA: it replaced a per-layer term in round 7,
taking Unsloth QLoRA's leave-one-architecture-out p90 from 101 % to about half, because Phi-4's fused
layout, two adapted linears a layer, stepped faster than models with seven), P is billions of linear
parameters, MoE experts included: it replaced a per-MoE-layer term in round 5, because short steps cost
more the larger the model). One stack's methods share k_matmul and
k_attention (QLoRA, LoRA and full fine-tuning run the same matmul and attention kernels; what differs is
counted in the FLOPs and the dequantisation term) and each has its own fixed costs. The fit is a
weighted least squares on the relative error (for p > 0, Levenberg-Marquardt from that solution on the same
error), with k_matmul and k_attention held at or above 1.25
(no stack reaches more than 80 % of the datasheet peak), k_attention at or below 5 (FlashAttention and
PyTorch's SDPA kernels reach well over 20 % of peak), the transformers QLoRA cells' float32 attention given its
own efficiency (K_BOUNDS; before round 17 the cap kept those cells, slow at 2 x 4096 tokens, from reading the
stack's attention as 1.5 % of peak), and the fixed costs at or above 0. Pure Python.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
DATA = os.path.join(ROOT, "bench", "vram_calibration", "data")
CONSTANTS = os.path.join(ROOT, "finetune_advisor", "plan", "constants.py")

sys.path.insert(0, os.path.join(ROOT, "bench", "vram_calibration"))
from unsloth_sft import OVER_FP8  # noqa: E402

from finetune_advisor.gpus.table import find, from_nvml  # noqa: E402
from finetune_advisor.plan import constants as k  # noqa: E402
from finetune_advisor.plan.flops import step_work  # noqa: E402
from finetune_advisor.vram.architecture import Architecture  # noqa: E402
from finetune_advisor.plan.throughput import (  # noqa: E402
    dequant_seconds, linear_passes, mixer_key, overlap, startup_kind, windowed)
from finetune_advisor.vram.estimator import RunConfig  # noqa: E402
from finetune_advisor.vram.families import (  # noqa: E402
    UNSLOTH_WIDE_HEAD_DIM, block_compile_skipped, family_of, compile_off_on_unsloth, masked_attention_on_unsloth)
from finetune_advisor.vram.shapes import shapes  # noqa: E402

FIXED = ("c0", "c_linear", "c_param", "c_moe")  # per method: seconds, per linear pass (plan.throughput.linear_passes),
# per billion linear parameters, per routed layer (Shapes.routed_layers)
NAMES = (*FIXED, "k_matmul", "k_attention", "k_fp32_attention")  # what constants.STEP holds per (stack, method)
N = len(FIXED)
# k_matmul, k_attention, and k_fp32_attention: transformers QLoRA cells measured without autocast ran their attention in
# float32 (peft's prepare_model_for_kbit_training leaves the residual stream float32), which the autocast probe (round
# 17) timed 3-4x slower at 2 x 4096 tokens than the same step under bf16 autocast, as Trainer(bf16=True) trains; the
# cells measured under autocast (round 18) time the bf16 attention. The planner takes k_fp32_attention for a
# transformers QLoRA run without autocast; it is written only for a stack whose cells identify it.
K_BOUNDS = ((1.25, 10.0), (1.25, 5.0), (1.25, 500.0))
SHARED = len(K_BOUNDS)
H200 = find(k.FITTED_ON_GPU)


def cells() -> list[dict]:
    out = []
    for r in _records("unsloth_sft_1gpu.jsonl"):
        if r["status"] == "ok" and r.get("step_s") and not outside_fit(r) and on_fitted_gpu(r):
            out.append(_cell(r, "unsloth", r["tokens_per_step"], True, r["step_s"], concurrency(r)))
    for r in _records("transformers_1gpu.jsonl") + _records("transformers_1gpu_autocast.jsonl"):
        if r["status"] == "ok" and not r.get("tiny") and on_fitted_gpu(r) and r["optimizer"] in ("adamw_torch", "adamw_8bit"):
            tokens = r["seq_len"] * r["batch_size"]
            out.append(_cell(r, "transformers", tokens, r["gradient_checkpointing"], _transformers_seconds(r), 1))
    return out


def on_fitted_gpu(r: dict) -> bool:
    """Whether the cell ran on the GPU the model is fitted on (the H200): a cell from another GPU (round 51's H100,
    when no H200 came) checks how the model scales to that GPU instead of moving the fit."""
    spec = from_nvml(r.get("gpu") or "", (r.get("gpu_total_bytes") or 0) / 2**30)  # None for a name not in the table
    return spec is not None and spec.name == H200.name


def concurrency(r: dict) -> int:
    """How many training processes shared the GPU during the cell's steps: this one plus the most others NVML listed
    meanwhile (`gpu_shared_with`, recorded since round 44), else the batch's lane count (`concurrent_jobs`), which
    counts a lane that only waited for its turn as sharing."""
    others = r.get("gpu_shared_with")
    return 1 + others if isinstance(others, int) else (r.get("concurrent_jobs") or 1)


def outside_fit(r: dict) -> str | None:
    """Why an Unsloth cell's step time is left out of the fit, or None: it is not the step a user's run takes."""
    if no_steady_step(r):
        return NO_STEADY_STEP
    if r.get("not_representative"):
        return f"not representative: {r['not_representative'][:40]}…"
    if r.get("env"):
        return f"outside the fit: {' '.join(r['env'])}"
    if r.get("emulation"):
        return "outside the fit: T4 emulation"
    if r.get("quant_form") == OVER_FP8:
        return "outside the fit: LoRA over FP8 weights, whose matmuls dequantise a weight each"
    if block_compile_skipped(_model_type(r)):
        return UNCOMPILED
    if _stand_in(r):
        return STAND_IN
    if Architecture.from_hf_config(r["config"]).is_hybrid:
        return USER_PATH
    if r["config"].get("model_type") == "mllama":
        return "text rows: mllama skips its 8 cross-attention layers"
    return None


STAND_IN = "causal-conv1d through our stand-in"
UNCOMPILED = "layers Unsloth's per-block compile skips: scaled apart"
USER_PATH = "linear-attention or Mamba layers: scaled apart"
NO_STEADY_STEP = "no steady step: it stopped after its second, which this model still compiles"
SECOND_STEP_COMPILES = 2.0  # a fresh process's second step this many times its later ones' median: still compiling


def no_steady_step(r: dict) -> bool:
    """Whether the record's `step_s` is its second step alone (`stopped_early` after two) on a model whose fresh
    processes still compile in their second step: a step time no later step would take (Granite 4.0-H's Mamba-2
    Triton kernels tune there: 2.9-31 s in all 13 of its fresh runs of four steps, 2.9-32 times the later ones)."""
    times = r.get("step_times_s") or []
    return bool(r.get("stopped_early")) and len(times) == 2 and _model_type(r) in _second_step_compiles()


@functools.cache
def _second_step_compiles() -> frozenset[str]:
    """Model types whose fresh processes that ran four steps or more mostly took SECOND_STEP_COMPILES times their
    later steps' median in the second."""
    seen: dict[str, list[bool]] = {}
    for r in _records("unsloth_sft_1gpu.jsonl"):
        times = r.get("step_times_s") or []
        if r["status"] == "ok" and r.get("first_in_process") and len(times) >= 4:
            later = sorted(times[2:])[len(times[2:]) // 2]
            seen.setdefault(_model_type(r), []).append(times[1] > SECOND_STEP_COMPILES * later)
    return frozenset(t for t, slow in seen.items() if 2 * sum(slow) > len(slow))


def _stand_in(r: dict) -> bool:
    """A hybrid model ran a kernel of ours in place of a compiled one (bench/vram_calibration/shims: causal-conv1d
    in torch; every record names the kernels it could import, only hybrids call it): its memory stands, its time
    is not what a user's kernel takes."""
    return "torch shim" in json.dumps(r.get("kernels") or {}) and Architecture.from_hf_config(r["config"]).is_hybrid


def _transformers_seconds(r: dict) -> float:
    """Steps 2+ when the cell timed each step (train.py since 2026-12-01), else the three steps' mean."""
    timed = [step["seconds"] for step in r.get("per_step") or [] if "seconds" in step][1:]
    return sorted(timed)[len(timed) // 2] if timed else r["time_s"] / r["steps"]


def _records(name: str) -> list[dict]:
    with open(os.path.join(DATA, name)) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _cell(r: dict, stack: str, tokens: int, checkpointing: bool, seconds: float, concurrent: int) -> dict:
    arch = Architecture.from_hf_config(r["config"])
    s = shapes(arch)
    work = step_work(arch, r["seq_len"], r["method"] == "full", checkpointing, r.get("lora_rank") or 0,
                     windowed=windowed(arch, stack), wider_than=UNSLOTH_WIDE_HEAD_DIM if stack == "unsloth" else None)
    peak = H200.tflops_bf16 * 1e12
    run = RunConfig(method=r["method"], stack=stack, autocast=bool(r.get("autocast")),
                    gradient_checkpointing=checkpointing)
    dequant = dequant_seconds(arch, run, H200.bandwidth_gbs)
    attention = work.attention * tokens / peak
    features = (1.0, linear_passes(s, run), s.linear_params / 1e9, s.routed_layers,
                work.matmul * tokens / peak, attention, attention if run.fp32_stream else 0.0)
    return {"name": r["cell"], "arch": r["arch"], "stack": stack, "method": r["method"], "seconds": seconds,
            "features": features, "dequant": dequant, "concurrent": concurrent,
            "wide": work.wide_attention / work.attention if work.attention else 0.0}  # its share of the attention


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for i in range(n):
        p = max(range(i, n), key=lambda r: abs(m[r][i]))
        m[i], m[p] = m[p], m[i]
        if abs(m[i][i]) < 1e-18:
            continue
        for r in range(n):
            if r != i:
                f = m[r][i] / m[i][i]
                m[r] = [x - f * y for x, y in zip(m[r], m[i], strict=True)]
    return [m[i][n] / m[i][i] if abs(m[i][i]) > 1e-18 else 0.0 for i in range(n)]


METHODS = ("qlora", "lora", "full")
# A method's coefficients are written only when its cells span this many architectures: fitted on one model, its
# per-parameter cost is not identified (Unsloth full fine-tuning, Llama-3.2-1B only, got c_param 0 and missed by
# 5x leaving it out); the planner then times it with the transformers stack's coefficients, and says so.
MIN_ARCHS = 2


def _features(c: dict) -> list[float]:
    """Per method its own fixed costs (FIXED); the efficiencies (K_BOUNDS) shared by the stack's methods."""
    fixed = [0.0] * (N * len(METHODS))
    at = N * METHODS.index(c["method"])
    fixed[at:at + N] = c["features"][:N]
    return fixed + list(c["features"][N:])


# Exponents tried for joining the host's fixed cost to the GPU's work (plan.throughput.overlap), per (stack, method):
# 0 adds them; a larger p comes closer to the larger of the two. A stack takes the combination over its methods that
# predicts best leaving one architecture out. Only 0 by default (none listed): every overlap tried so far predicts our
# H200 cells better and the public figures, on other GPUs, worse (bench/throughput/README.md, rounds 10, 19, 20, 21:
# p = 2 on Unsloth's QLoRA alone took its leave-one-architecture-out error from 20 % / p90 45 % to 12 % / 41 %, or 18
# % / 39 % with the efficiencies held, and LLaMA-Factory's A100 QLoRA rows at 2,048-8,192 tokens from within 8 % to
# 11-30 % fast). `--overlaps 0,2` tries those for every method.
OVERLAPS: dict[tuple[str, str], tuple[float, ...]] = {}
# With an overlap, whether only the host's terms move from the additive fit, the GPU's efficiencies staying what the
# additive fit reads (set by the GPU-bound cells, and what scales to other GPUs). Freed, p = 2 on QLoRA read them
# lower (k_matmul 1.25 -> 1.35, k_attention 1.80 -> 2.36) and missed LLaMA-Factory's long-context Unsloth rows by
# 14-28 % where the sum is within 16 % (round 21).
HOLD_EFFICIENCIES = True


def exponent(c: dict, p: float | dict[str, float]) -> float:
    """The overlap exponent of cell C's method: P is one exponent for every method or one per method."""
    return p.get(c["method"], 0.0) if isinstance(p, dict) else p


def _bounds() -> list[tuple[float, float]]:
    return [(0.0, float("inf"))] * (N * len(METHODS)) + list(K_BOUNDS)


def fit(group: list[dict], p: float | dict[str, float] = 0) -> list[float]:
    """The coefficients at overlap exponent P: the additive fit (p = 0), from which Levenberg-Marquardt on the same
    relative squared error moves to the overlapping model. Returns the FIXED terms per method, then the
    efficiencies of K_BOUNDS."""
    theta = _fit_additive(group)
    return theta if all(exponent(c, p) <= 0 for c in group) else _descend(group, theta, p)


def _loss(group: list[dict], theta: list[float], p: float | dict[str, float]) -> float:
    return sum((predict(c, theta, p) / c["seconds"] - 1) ** 2 for c in group)


def _descend(group: list[dict], theta: list[float], p: float | dict[str, float]) -> list[float]:
    """Levenberg-Marquardt on the relative errors from THETA, each coefficient clipped to its bounds."""
    bounds, split = _bounds(), N * len(METHODS)
    used = sorted({i for c in group for i, f in enumerate(_features(c)) if f and (i < split or not HOLD_EFFICIENCIES)})
    theta, best, damping = list(theta), _loss(group, theta, p), 1e-3
    for _ in range(200):
        jtj = [[0.0] * len(used) for _ in used]
        jtr = [0.0] * len(used)
        for c in group:
            f = _features(c)
            terms = [t * x for t, x in zip(theta, f, strict=True)]
            host, gpu = sum(terms[:split]), c["dequant"] + sum(terms[split:])
            e = exponent(c, p)
            total = overlap(host, gpu, e)
            share = [1.0, 1.0] if e <= 0 else [(host / total) ** (e - 1) if host > 0 else 0.0,
                                               (gpu / total) ** (e - 1) if gpu > 0 else 0.0]  # d total / d part
            row = [f[i] * share[i >= split] / c["seconds"] for i in used]
            r = total / c["seconds"] - 1
            for a, ja in enumerate(row):
                jtr[a] += ja * r
                for b, jb in enumerate(row):
                    jtj[a][b] += ja * jb
        while damping < 1e12:
            system = [[v + (damping * jtj[a][a] if a == b else 0.0) for b, v in enumerate(line)] for a, line in enumerate(jtj)]
            step = _solve(system, [-g for g in jtr])
            trial = list(theta)
            for a, i in enumerate(used):
                trial[i] = min(max(theta[i] + step[a], bounds[i][0]), bounds[i][1])
            loss = _loss(group, trial, p)
            if loss < best:
                break
            damping *= 4
        else:
            return theta
        done = best - loss < 1e-10 * best
        theta, best, damping = trial, loss, damping / 3
        if done:
            return theta
    return theta


def _fit_additive(group: list[dict]) -> list[float]:
    """Weighted least squares on relative error over one stack's cells; a coefficient outside its bounds is held
    at the bound."""
    width = N * len(METHODS) + SHARED
    bounds = _bounds()
    present = {N * METHODS.index(c["method"]) + j for c in group for j in range(N)} | set(range(width - SHARED, width))
    held: dict[int, float] = {i: 0.0 for i in range(width) if i not in present}
    while True:
        free = [i for i in range(width) if i not in held]
        a = [[0.0] * len(free) for _ in free]
        b = [0.0] * len(free)
        for c in group:
            f, w = _features(c), 1 / c["seconds"] ** 2
            y = c["seconds"] - c["dequant"] - sum(v * f[i] for i, v in held.items())
            for x, i in enumerate(free):
                b[x] += w * f[i] * y
                for z, j in enumerate(free):
                    a[x][z] += w * f[i] * f[j]
        solved = dict(zip(free, _solve(a, b), strict=True))
        out = {i: min(max(v, bounds[i][0]), bounds[i][1]) for i, v in solved.items() if not bounds[i][0] <= v <= bounds[i][1]}
        if not out:
            return [solved.get(i, held.get(i, 0.0)) for i in range(width)]
        held.update(out)


def _parts(c: dict, theta: list[float]) -> tuple[float, float]:
    """A cell's predicted host cost and GPU work (dequantisation included), which predict() joins."""
    terms = [t * f for t, f in zip(theta, _features(c), strict=True)]
    split = N * len(METHODS)
    return sum(terms[:split]), c["dequant"] + sum(terms[split:])


def predict(c: dict, theta: list[float], p: float | dict[str, float] = 0) -> float:
    return overlap(*_parts(c, theta), exponent(c, p))


def coefficients(theta: list[float], method: str) -> list[float]:
    """What the planner uses (NAMES): the method's fixed costs and the efficiencies."""
    at = N * METHODS.index(method)
    split = N * len(METHODS)
    return [*theta[at:at + N], *theta[split:split + SHARED]]


def planner_entry(theta: list[float], method: str, p: float, fp32_cells: bool) -> dict[str, float]:
    """constants.STEP's entry for one (stack, method): k_fp32_attention only where the stack's cells identify it."""
    entry = dict(zip(NAMES, coefficients(theta, method), strict=True))
    if not fp32_cells:
        del entry["k_fp32_attention"]
    return {**entry, "overlap": p}


def quantile(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[round(q * (len(v) - 1))] if v else float("nan")


def score(group: list[dict], p: float | dict[str, float] = 0) -> dict:
    theta = fit(group, p)
    inside = [c["seconds"] / predict(c, theta, p) - 1 for c in group]
    out, where = [], []
    for arch in sorted({c["arch"] for c in group}):
        rest = [c for c in group if c["arch"] != arch]
        if len({c["arch"] for c in rest}) >= 2:
            t = fit(rest, p)
            for c in (c for c in group if c["arch"] == arch):
                out.append(c["seconds"] / predict(c, t, p) - 1)
                where.append(c)
    return {"theta": theta, "p": p, "cells": group, "inside": inside, "loao": out, "loao_cells": where}


def best_overlap(group: list[dict], tried: dict[str, tuple[float, ...]]) -> dict:
    """The stack's score at the exponents, one per method among TRIED (0 where a method has none), whose
    leave-one-architecture-out errors are smallest (90th percentile of |error|, then the median): the range answers
    give is that spread."""
    def rank(r: dict) -> tuple[float, float]:
        errors = [abs(e) for e in r["loao"]]
        return quantile(errors, 0.9), quantile(errors, 0.5)
    methods = sorted({c["method"] for c in group})
    combos = itertools.product(*(tried.get(m, (0.0,)) for m in methods))
    scored = [score(group, dict(zip(methods, combo))) for combo in combos]
    for r in scored:
        shown = ", ".join(f"{m} {e:g}" for m, e in r["p"].items())
        print(f"  overlap {shown}: leave-one-architecture-out |err| p90 {rank(r)[0]:.0%} median {rank(r)[1]:.0%}")
    return min(scored, key=rank)


def _for_method(scored: dict, method: str) -> dict:
    """One method's share of a stack's fit: its cells, their errors and its coefficients."""
    picks = [i for i, c in enumerate(scored["cells"]) if c["method"] == method]
    cells_ = [scored["cells"][i] for i in picks]
    loao = [e for c, e in zip(scored["loao_cells"], scored["loao"], strict=True) if c["method"] == method]
    fp32_cells = any(c["features"][-1] for c in scored["cells"])
    entry = planner_entry(scored["theta"], method, scored["p"][method], fp32_cells)
    return {"theta": scored["theta"], "p": scored["p"], "entry": entry, "cells": cells_,
            "n": len(cells_), "archs": len({c["arch"] for c in cells_}), "inside": [scored["inside"][i] for i in picks],
            "loao": loao}


def hybrid_slowdown(results: dict) -> dict | None:
    """Measured / predicted step time of the hybrid cells that ran our causal-conv1d stand-in (`_stand_in`), which
    are outside the fit: every one so far ran about twice the model's time, whatever its size (round 11: 1.75-2.35x
    over five models), so the planner scales a hybrid whose layer kinds no cell measured on a user's kernels
    (`hybrid_user_path`) by their median (plan.throughput.hybrid_scale). Scored leaving one architecture out: each
    model's cells against the median of the others'."""
    ratios = [(arch, x) for arch, _, x in _hybrid_ratios(results, STAND_IN)]
    if not ratios:
        return None
    values = [x for _, x in ratios]
    archs = sorted({a for a, _ in ratios})
    loao = [x / quantile([y for b, y in ratios if b != a], 0.5) - 1 for a, x in ratios if len(archs) > 1]
    print(f"hybrids: {len(values)} cells {len(archs)} archs, measured/predicted median {quantile(values, .5):.2f} "
          f"({min(values):.2f}-{max(values):.2f}); leave-one-architecture-out |err| median "
          f"{quantile([abs(e) for e in loao], .5):.0%} max {max(abs(e) for e in loao):.0%}")
    return {**_summary(values), "models": archs}


def hybrid_user_path(results: dict) -> dict[str, dict]:
    """The same ratio for hybrid cells that ran a user's own kernels (no stand-in: transformers' torch convolution
    where causal-conv1d is absent, fla as unsloth_zoo vendors it), per kind of non-attention layer: the planner
    scales a hybrid whose kinds are all measured so by these instead. Round 23's Qwen3.5-35B-A3B QLoRA at 8,192
    tokens ran at the model's predicted time, where the stand-in's cells of the same model ran 1.5-2.5x."""
    by_kind: dict[str, list[tuple[str, float]]] = {}
    for arch, kinds, x in _hybrid_ratios(results, USER_PATH):
        by_kind.setdefault(kinds, []).append((arch, x))
    out = {}
    for kinds, ratios in sorted(by_kind.items()):
        values = [x for _, x in ratios]
        out[kinds] = {**_summary(values), "models": sorted({a for a, _ in ratios})}
        print(f"hybrids on a user's kernels ({kinds}): {len(values)} cell{'s' if len(values) > 1 else ''}, measured/predicted median "
              f"{quantile(values, .5):.2f} ({min(values):.2f}-{max(values):.2f})")
    return out


def uncompiled_slowdown(results: dict) -> dict | None:
    """Measured / predicted step time of the families whose decoder layers Unsloth's per-block compile always skips
    (vram.families.block_compile_skipped: gpt-oss), left out of the fit as the hybrids are: their layers run as more,
    smaller kernels, and gpt-oss's attention through unsloth_zoo's flex attention with sinks, neither of which the
    model sees. Every gpt-oss-20b cell ran slower than the model (1.2-1.9x by round 39), and kept in the fit it pulled
    the other MoE families' fixed cost up (Qwen3-30B-A3B, Mixtral and GLM-4.7-Flash at 0.83-0.92x their prediction).
    A user's run takes the same path, so the planner scales the whole step by the median (plan.throughput.step_scale)."""
    ratios = [(r["arch"], r["step_s"] / predict(c, f["theta"], f["p"])) for r, c, f in _left_out(results, UNCOMPILED)]
    return _reported("per-block compile skipped", "measured/predicted", [x for _, x in ratios], {a for a, _ in ratios})


COMPILE_OFF = "UNSLOTH_BLOCK_COMPILE=0"  # how every Gemma cell ran (vram.families.UNSLOTH_COMPILE_OFF_FAMILIES)


def compile_off_slowdown(results: dict) -> dict | None:
    """The Gemma families' cells all ran with Unsloth's per-block compile off, so the fit leaves them out. Alone on the
    GPU, what multiple of the model's host cost (its fixed per-step, per-linear and per-parameter terms) their steps
    took beyond the model's GPU work: the compile off leaves more, smaller kernels for the host to launch, while the
    GPU's FLOPs stay what they are (the long steps ran 0.9-1.2x the model's time, the short ones up to 4.3x). The
    planner keeps a Gemma model's Unsloth step at the model's time, which Unsloth's Gemma notebooks (compile on) run
    near (public.py: scaled by these cells' median ratio to the whole step, 1.6x, the rows that Gemma 4's four
    notebooks imply fell to 0-86 tokens), and its range reaches these runs' least and most
    (plan.throughput.step_scale). Not the cells with MASKED_MIN_S or more of slow attention (_slow_part): that is
    measured apart, at this factor."""
    values, archs = [], set()
    for r, c, fitted in _left_out(results, f"outside the fit: {COMPILE_OFF}", alone=True):
        if compile_off_on_unsloth(_model_type(r)) and _slow_part(r, c, fitted["theta"]) < MASKED_MIN_S:
            host, gpu = _parts(c, fitted["theta"])
            values.append((r["step_s"] - gpu) / host)
            archs.add(r["arch"])
    return _reported("Gemma, per-block compile off", "the host's cost measured/predicted", values, archs)


MASKED_MIN_S = 0.2  # a cell's slow attention at the fit's speed, seconds, below which its ratio is mostly noise


def masked_attention_slowdown(results: dict, host_factor: float) -> dict | None:
    """The Gemma families whose attention Unsloth runs over the whole square with a masked or eager kernel
    (vram.families.masked_attention_on_unsloth; left out of the fit with the compile off)."""
    return _slow_attention(results, host_factor, True, "Gemma, masked or eager attention")


def wide_head_slowdown(results: dict, host_factor: float) -> dict | None:
    """The attention of heads wider than vram.families.UNSLOTH_WIDE_HEAD_DIM (Gemma 4's global layers, through
    Unsloth's own kernel; left out of the fit with the compile off): pooled over every wide-headed family, and under
    "families" per family (vram.families.family_of), which plan.throughput takes first. The families differ: by round
    44 Gemma 4 12B (gemma4_unified, one global key-value head for 16 query heads) ran 8.3-8.5x at 16,384 to 65,536
    tokens, where the gemma4 models ran 4.5-6.2x, so the pooled median put the 12B's long steps about 30 % short."""
    ratios = _slow_ratios(results, host_factor, False)
    what = "wide heads (Gemma 4's global layers)"
    pooled = _reported(what, "its time over the fit's attention", [v for _, _, v in ratios], {a for a, _, _ in ratios})
    if pooled is None:
        return None
    families = {}
    for family in sorted({f for _, f, _ in ratios}):
        mine = [(a, v) for a, f, v in ratios if f == family]
        families[family] = _reported(f"  {family}", "its time over the fit's attention", [v for _, v in mine],
                                     {a for a, _ in mine})
    return {**pooled, "families": families}


def _slow_attention(results: dict, host_factor: float, masked: bool, what: str) -> dict | None:
    """The masked families' (`masked`) or the wide-headed ones' slow attention over the fit's (_slow_ratios), pooled."""
    ratios = _slow_ratios(results, host_factor, masked)
    return _reported(what, "its time over the fit's attention", [v for _, _, v in ratios], {a for a, _, _ in ratios})


def _slow_ratios(results: dict, host_factor: float, masked: bool) -> list[tuple[str, str, float]]:
    """(model, its family, ratio) for the compile-off cells of the masked families (`masked`) or of the wide-headed
    ones, not emulating another card, with at least MASKED_MIN_S of slow attention at the fit's speed (_slow_part):
    what it took over that, the step less the host's part at the compile-off factor (`host_factor`,
    compile_off_slowdown) and the rest of the GPU's work at the fit's speed. Cells beside another job count: the fit's
    GPU-bound cells ran 1.03x the model's time beside one (median of 32) and 1.01x alone (16)."""
    out = []
    for r, c, fitted in _left_out(results, f"outside the fit: {COMPILE_OFF}"):
        if r.get("emulation") or masked_attention_on_unsloth(_model_type(r)) != masked:
            continue
        host, gpu = _parts(c, fitted["theta"])
        part = _slow_part(r, c, fitted["theta"])
        if part >= MASKED_MIN_S:
            out.append((r["arch"], family_of(_model_type(r)), (r["step_s"] - host * host_factor - (gpu - part)) / part))
    return out


def _slow_part(r: dict, c: dict, theta: list[float]) -> float:
    """A cell's attention that Unsloth runs slower than the fit's (plan.throughput.slow_attention), in seconds at the
    fit's speed: all of it for a masked family, the wide heads' share for a wide-headed model, else none."""
    share = 1.0 if masked_attention_on_unsloth(_model_type(r)) else c["wide"]
    return _attention_part(c, theta) * share


def _model_type(r: dict) -> str:
    return Architecture.from_hf_config(r["config"]).model_type


def _reported(what: str, ratio: str, values: list[float], archs: set[str]) -> dict | None:
    """A measured scale (median, least, most, cells, models) as fit.py prints and writes it; None without cells."""
    if not values:
        return None
    print(f"{what}: {len(values)} cells {len(archs)} archs, {ratio} median {quantile(values, .5):.2f} "
          f"({min(values):.2f}-{max(values):.2f})")
    return {**_summary(values), "models": sorted(archs)}


def _attention_part(c: dict, theta: list[float]) -> float:
    """A cell's predicted attention seconds (bf16 and fp32 streams), part of _parts' GPU work."""
    split = N * len(METHODS)
    return sum(t * f for t, f in zip(theta[split + 1:split + 3], c["features"][N + 1:N + 3], strict=True))


def _hybrid_ratios(results: dict, reason: str) -> list[tuple[str, str, float]]:
    """(model, its non-attention layer kinds, measured / predicted step time) of the hybrid cells left out for `reason`."""
    return [(r["arch"], mixer_key(Architecture.from_hf_config(r["config"])), r["step_s"] / predict(c, f["theta"], f["p"]))
            for r, c, f in _left_out(results, reason)]


def _left_out(results: dict, reason: str, alone: bool = False) -> list[tuple[dict, dict, dict]]:
    """(record, its cell as the fit sees it, its method's fitted model) for the Unsloth cells left out of the fit for
    `reason` (`alone`: only those that ran alone on the GPU, not emulating another card)."""
    out = []
    for r in _records("unsloth_sft_1gpu.jsonl"):
        fitted = results.get(("unsloth", r["method"]))
        if r["status"] != "ok" or not r.get("step_s") or outside_fit(r) != reason or fitted is None or not on_fitted_gpu(r):
            continue
        if (r.get("gpu_shared_with") or 0) >= 2:  # seen beside two others (round 44: the 12B's step 15 % slower)
            continue
        if alone and (concurrency(r) > 1 or r.get("emulation")):
            continue
        out.append((r, _cell(r, "unsloth", r["tokens_per_step"], True, r["step_s"], concurrency(r)), fitted))
    return out


def first_steps() -> dict[str, dict]:
    """What the first two steps of a fresh Unsloth process take beyond later ones (compiling the layers, autotuning
    Triton kernels: Granite 4.0-H's Mamba-2 kernels tune into the second step), per kind of model
    (plan.throughput.startup_kind): seconds, median, least and most, over the cells that ran first in their process,
    alone on the GPU, with default settings (the Gemma families: with the per-block compile off, as all of them ran). Whether the machine's Triton and compile caches were cold is not
    recorded: the spread holds both."""
    by_kind: dict[str, list[float]] = {}
    for r in _records("unsloth_sft_1gpu.jsonl"):
        times = r.get("step_times_s") or []
        kind = startup_kind(Architecture.from_hf_config(r["config"]))
        env = r.get("env") or []
        usual = not env or (kind == "gemma" and env == [COMPILE_OFF])  # as such models are run
        alone = concurrency(r) == 1 and usual and on_fitted_gpu(r) and not (r.get("emulation") or r.get("not_representative"))
        if (r["status"] != "ok" or not r.get("first_in_process") or len(times) < 2 or not r.get("step_s") or not alone
                or no_steady_step(r)):
            continue
        by_kind.setdefault(kind, []).append(sum(max(0.0, t - r["step_s"]) for t in times[:2]))
    out = {}
    for kind, values in sorted(by_kind.items()):
        out[kind] = {"seconds": round(quantile(values, 0.5), 1), "low": round(min(values), 1),
                     "high": round(max(values), 1), "cells": len(values)}
        print(f"first two steps of a fresh process ({kind}): {len(values)} cells, {out[kind]['seconds']} s more than later "
              f"steps (median; {out[kind]['low']}-{out[kind]['high']})")
    return out


def _summary(values: list[float]) -> dict:
    return {"factor": round(quantile(values, 0.5), 3), "low": round(min(values), 3), "high": round(max(values), 3),
            "cells": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--cells", action="store_true")
    parser.add_argument("--overlaps", default=None, help="overlap exponents to try for every method, comma-separated "
                        "(0: the host's cost added to the GPU's work); default: OVERLAPS")
    args = parser.parse_args()
    given = tuple(float(p) for p in args.overlaps.split(",")) if args.overlaps else None
    data = cells()
    results = {}
    for stack in sorted({c["stack"] for c in data}):
        print(stack)
        group = [c for c in data if c["stack"] == stack]
        tried = {m: given or OVERLAPS.get((stack, m), (0.0,)) for m in {c["method"] for c in group}}
        scored = best_overlap(group, tried)
        for method in sorted({c["method"] for c in data if c["stack"] == stack}):
            results[(stack, method)] = _for_method(scored, method)
    written = {key: r for key, r in results.items() if r["archs"] >= MIN_ARCHS}
    for key, r in results.items():
        group = r["cells"]
        a, o = [abs(x) for x in r["inside"]], [abs(x) for x in r["loao"]]
        print(f"{key[0]:12s} {key[1]:5s} {r['n']:3d} cells {r['archs']} archs | in-sample |err| median {quantile(a, .5):.0%} "
              f"p90 {quantile(a, .9):.0%} | leave-one-architecture-out median {quantile(o, .5):.0%} p90 {quantile(o, .9):.0%} "
              f"(measured/predicted-1 p10 {quantile(r['loao'], .1):+.0%} p90 {quantile(r['loao'], .9):+.0%})")
        print("    " + ", ".join(f"{n}={v:.4g}" for n, v in r["entry"].items())
              + ("" if key in written else f"  (not written: fewer than {MIN_ARCHS} architectures)"))
        if args.cells:
            for c in group:
                print(f"      {c['name'][:60]:60s} measured {c['seconds']:.3f}s predicted {predict(c, r['theta'], r['p']):.3f}s")
    hybrid, user_path, first = hybrid_slowdown(written), hybrid_user_path(written), first_steps()
    uncompiled = uncompiled_slowdown(written)
    gemma = compile_off_slowdown(written)
    masked = masked_attention_slowdown(written, gemma["factor"]) if gemma else None
    wide = wide_head_slowdown(written, gemma["factor"]) if gemma else None
    if args.write:
        _write(written, data, hybrid, user_path, first, gemma, masked, wide, uncompiled)


def _scale_lines(name: str, entry: dict, comment: list[str]) -> list[str]:
    """A measured step scale (median, least, most, cells) and the models it comes from, as constants.py lines; its
    per-family scales (`families`, with their models), where it has them, as {name}_BY_FAMILY."""
    values = {key: v for key, v in entry.items() if key not in ("models", "families")}
    lines = [*comment, f"{name}_STEP: Final[dict[str, float]] = {json.dumps(values)}",
             f"{name}_MODELS: Final = {tuple(entry['models'])!r}"]
    if "families" in entry:
        lines += [f"# ... per family (vram.families.family_of), which plan.throughput takes before the pooled {name}_STEP.",
                  f"{name}_BY_FAMILY: Final[dict[str, dict]] = {json.dumps(entry['families'])}"]
    return lines


def _write(results: dict, data: list[dict], hybrid: dict | None, user_path: dict[str, dict],
           first: dict[str, dict], gemma: dict | None, masked: dict | None, wide: dict | None,
           uncompiled: dict | None) -> None:
    shared = sum(1 for c in data if c["concurrent"] > 1)
    lines = [
        f'THROUGHPUT_SOURCE: Final = "fitted on {len(data)} cells measured on one NVIDIA {k.FITTED_ON_GPU} '  # quoted in answers: no paths
        f'({shared} of them beside other jobs on the same GPU, so slower than a GPU of one\'s own); scaled to other GPUs '
        'by tensor TFLOPS (a public matmul benchmark where the GPU table has one, else the datasheet) and bandwidth"',
        "# (stack, method) -> seconds per step from the host's c0 + c_linear * linear passes (plan.throughput.linear_passes)",
        "# + c_param * billions of linear parameters + c_moe * routed layers (Shapes.routed_layers),",
        "# and the GPU's matmul FLOPs / (peak / k_matmul) + attention FLOPs / (peak / k_attention) (+ QLoRA's dequantisation),",
        "# joined by plan.throughput.overlap with exponent `overlap` (0: added).",
        "STEP: Final[dict[tuple[str, str], dict[str, float]]] = {",
    ]
    for key, r in results.items():
        values = ", ".join(f'"{n}": {v:.5g}' if n != "overlap" else f'"{n}": {v}' for n, v in r["entry"].items())
        lines.append(f'    ("{key[0]}", "{key[1]}"): {{{values}}},')
    lines += ["}", "# Leave-one-architecture-out spread of measured / predicted - 1: (p10, p90), per (stack, method),",
              "# widened to take in 0: a range that left out its own estimate (two architectures, each biased one way)",
              "# would mislead.",
              "SPREAD: Final[dict[tuple[str, str], tuple[float, float]]] = {"]
    for key, r in results.items():
        spread = r["loao"] or r["inside"]
        low, high = min(quantile(spread, .1), 0.0), max(quantile(spread, .9), 0.0)
        lines.append(f'    ("{key[0]}", "{key[1]}"): ({low:.3f}, {high:.3f}),')
    lines += ["}", "# ... and how many architectures that spread comes from (plan.timing says when they are few).",
              "SPREAD_ARCHITECTURES: Final[dict[tuple[str, str], int]] = {"]
    lines += [f'    ("{key[0]}", "{key[1]}"): {r["archs"]},' for key, r in results.items()]
    lines.append("}")
    if hybrid:
        lines += _scale_lines("HYBRID", hybrid, [
            "# Models with linear-attention or Mamba layers that ran a torch stand-in for causal-conv1d's CUDA kernel, left out",
            "# of the fit: their measured / predicted step time (median, min, max), by which plan.throughput scales a hybrid",
            "# whose kinds of layer HYBRID_USER_STEP does not cover."])
    lines += ["# The same ratio for hybrids measured on a user's own kernels, per kind of non-attention layer ('+'-joined):",
              "# plan.throughput scales a hybrid whose kinds are measured so by it instead.",
              f"HYBRID_USER_STEP: Final[dict[str, dict]] = {json.dumps(user_path)}",
              "# What the first two steps of a fresh Unsloth process took beyond later ones (compiling, autotuning kernels),",
              "# in seconds, per plan.throughput.startup_kind: median, least and most over the cells run first and alone.",
              f"FIRST_STEP: Final[dict[str, dict[str, float]]] = {json.dumps(first)}"]
    scales = (
        ("COMPILE_OFF", gemma, [
            "# The Gemma families' cells, all with Unsloth's per-block compile off and so left out of the fit, run alone:",
            "# their step less the model's GPU work, over its host cost, which plan.throughput's range for a Gemma",
            "# model's Unsloth step reaches."]),
        ("MASKED_ATTENTION", masked, [
            "# The Gemma families whose attention Unsloth runs over the whole square with a masked or eager kernel: their",
            "# attention's time over the fit's (cells with at least MASKED_MIN_S of it), by which plan.throughput scales",
            "# their attention, its range reaching the least and most."]),
        ("WIDE_HEAD", wide, [
            "# The attention of heads wider than flash kernels take (Gemma 4's global layers), which Unsloth runs through",
            "# its own kernel: its time over the fit's (cells with at least MASKED_MIN_S of it), by which plan.throughput",
            "# scales that part of the attention, its range reaching the least and most."]),
        ("UNCOMPILED", uncompiled, [
            "# The families whose decoder layers Unsloth's per-block compile skips (gpt-oss), left out of the fit: their",
            "# measured / predicted step time (median, min, max), by which plan.throughput scales their Unsloth steps."]),
    )
    for name, entry, comment in scales:
        if entry:
            lines += _scale_lines(name, entry, comment)
    text = open(CONSTANTS).read()
    block = "\n".join(lines)
    text = re.sub(r"(# --- THROUGHPUT FITTED: begin.*?\n).*?(# --- THROUGHPUT FITTED: end ---)", lambda m: m.group(1) + block + "\n" + m.group(2),
                  text, flags=re.S)
    with open(CONSTANTS, "w") as fh:
        fh.write(text)
    print(f"wrote {CONSTANTS}")


if __name__ == "__main__":
    main()
