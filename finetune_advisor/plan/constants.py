"""Fitted constants of the step-time model (`plan.throughput`), per stack and method.

`bench/throughput/fit.py` refits the block between the markers from the step times recorded with
the calibration cells and rewrites it; bench/throughput/README.md says how, and how well it does.
"""

from __future__ import annotations

from typing import Final

# Bytes moved per 4-bit weight each time a pass dequantises it (read 0.5 B of NF4 and its scales,
# write the 2 B bf16 copy, read it again in the matmul): an assumption from the kernels' shape, not fitted.
DEQUANT_BYTES_PER_PARAM: Final = 4.5

# The GPU the step times were measured on (bench/vram_calibration): the fitted efficiencies are fractions of its
# datasheet peak, and other GPUs are scaled from it.
FITTED_ON_GPU: Final = "H200"

# What one profiled step showed (bench/throughput/README.md, round 9): a short step is the host's work of launching
# kernels, the GPU idle most of it. Said in a plan whose host cost outlasts its GPU work (plan.timing._host_note).
HOST_BOUND_SOURCE: Final = ("one Qwen3-4B QLoRA step profiled on the H200 (Unsloth 2026.10.9): about 9,000 kernel "
                            "launches a step, the GPU busy 0.08 s of a 0.52 s step at 256 tokens and 0.17 s of 0.49 s "
                            "at 2,048")
# ... and such a step moved more between runs of one cell, each alone on its GPU, than the fit's spread (measured
# against predicted, leaving one architecture out, on one machine) allows: Llama 3.1 8B QLoRA at 1 x 512 tokens, three
# runs on H200s, 0.289-0.488 s (1.69x; bench/throughput/noise.py), and Qwen3-30B-A3B QLoRA at 1 x 2,048 in fresh
# processes, 0.797 s on an H200 and 0.512 on an H100 (1.56x; rounds 5 and 66). A host-set step's range reaches that
# factor either side of the estimate. Held-out cells before it (bench/throughput/README.md, "Host-set steps"): 17
# of 45 host-set steps fell outside their range, 3 of 37 GPU-set ones.
HOST_STEP_SPREAD: Final = 1.69
HOST_STEP_SPREAD_SOURCE: Final = ("one such step, each run alone on its GPU, took 0.29-0.49 s between three runs (Llama "
                                  "3.1 8B QLoRA at 512 tokens) and another 0.80 s on an H200 against 0.51 on an H100 "
                                  "(Qwen3-30B-A3B QLoRA at 2,048)")

# --- THROUGHPUT FITTED: begin (written by bench/throughput/fit.py; do not edit by hand) ---
THROUGHPUT_SOURCE: Final = "fitted on 325 cells measured on one NVIDIA H200 (80 of them beside other jobs on the same GPU, so slower than a GPU of one's own); scaled to other GPUs by tensor TFLOPS (a public matmul benchmark where the GPU table has one, else the datasheet) and bandwidth"
# (stack, method) -> seconds per step from the host's c0 + c_linear * linear passes (plan.throughput.linear_passes)
# + c_param * billions of linear parameters + c_moe * routed layers (Shapes.routed_layers),
# and the GPU's matmul FLOPs / (peak / k_matmul) + attention FLOPs / (peak / k_attention) (+ QLoRA's dequantisation),
# joined by plan.throughput.overlap with exponent `overlap` (0: added).
STEP: Final[dict[tuple[str, str], dict[str, float]]] = {
    ("transformers", "full"): {"c0": 0, "c_linear": 0.00069946, "c_param": 0.022484, "c_moe": 0.034856, "k_matmul": 1.4901, "k_attention": 5, "k_fp32_attention": 58.824, "overlap": 0.0},
    ("transformers", "lora"): {"c0": 0, "c_linear": 0.0013223, "c_param": 0, "c_moe": 0.0023212, "k_matmul": 1.4901, "k_attention": 5, "k_fp32_attention": 58.824, "overlap": 0.0},
    ("transformers", "qlora"): {"c0": 0.02929, "c_linear": 0.0016055, "c_param": 0, "c_moe": 0.029682, "k_matmul": 1.4901, "k_attention": 5, "k_fp32_attention": 58.824, "overlap": 0.0},
    ("unsloth", "full"): {"c0": 0.081988, "c_linear": 1.8192e-05, "c_param": 0.031635, "c_moe": 0, "k_matmul": 1.25, "k_attention": 2.0777, "overlap": 0.0},
    ("unsloth", "lora"): {"c0": 0.021694, "c_linear": 0.00099996, "c_param": 0, "c_moe": 0.0032059, "k_matmul": 1.25, "k_attention": 2.0777, "overlap": 0.0},
    ("unsloth", "qlora"): {"c0": 0, "c_linear": 0.0012178, "c_param": 0, "c_moe": 0.002619, "k_matmul": 1.25, "k_attention": 2.0777, "overlap": 0.0},
}
# Leave-one-architecture-out spread of measured / predicted - 1: (p10, p90), per (stack, method),
# widened to take in 0: a range that left out its own estimate (two architectures, each biased one way)
# would mislead.
SPREAD: Final[dict[tuple[str, str], tuple[float, float]]] = {
    ("transformers", "full"): (-0.235, 1.358),
    ("transformers", "lora"): (-0.180, 0.600),
    ("transformers", "qlora"): (-0.247, 0.445),
    ("unsloth", "full"): (-0.183, 0.121),
    ("unsloth", "lora"): (-0.156, 0.291),
    ("unsloth", "qlora"): (-0.193, 0.350),
}
# ... and how many architectures that spread comes from (plan.timing says when they are few).
SPREAD_ARCHITECTURES: Final[dict[tuple[str, str], int]] = {
    ("transformers", "full"): 8,
    ("transformers", "lora"): 8,
    ("transformers", "qlora"): 9,
    ("unsloth", "full"): 6,
    ("unsloth", "lora"): 17,
    ("unsloth", "qlora"): 20,
}
# Models with linear-attention or Mamba layers that ran a torch stand-in for causal-conv1d's CUDA kernel, left out
# of the fit: their measured / predicted step time (median, min, max), by which plan.throughput scales a hybrid
# whose kinds of layer HYBRID_USER_STEP does not cover.
HYBRID_STEP: Final[dict[str, float]] = {"factor": 2.071, "low": 1.51, "high": 3.538, "cells": 24}
HYBRID_MODELS: Final = ('NVIDIA-Nemotron-3-Nano-30B-A3B', 'Qwen3.5-27B', 'Qwen3.5-35B-A3B', 'Qwen3.5-4B-text', 'granite-4.0-h-small', 'granite-4.0-h-tiny')
# The same ratio for hybrids measured on a user's own kernels, per kind of non-attention layer ('+'-joined):
# plan.throughput scales a hybrid whose kinds are measured so by it instead.
HYBRID_USER_STEP: Final[dict[str, dict]] = {"linear_attention": {"factor": 1.239, "low": 1.041, "high": 1.963, "cells": 7, "models": ["Qwen3.5-27B", "Qwen3.5-35B-A3B", "Qwen3.5-4B-text"]}}
# What the first two steps of a fresh Unsloth process took beyond later ones (compiling, autotuning kernels),
# in seconds, per plan.throughput.startup_kind: median, least and most over the cells run first and alone.
FIRST_STEP: Final[dict[str, dict[str, float]]] = {"dense": {"seconds": 12.5, "low": 1.1, "high": 63.8, "cells": 35}, "gemma": {"seconds": 78.7, "low": 21.0, "high": 171.4, "cells": 21}, "hybrid": {"seconds": 179.2, "low": 71.6, "high": 283.2, "cells": 28}, "moe": {"seconds": 71.5, "low": 37.5, "high": 258.4, "cells": 10}}
# The Gemma families' cells, all with Unsloth's per-block compile off and so left out of the fit, run alone:
# their step less the model's GPU work, over its host cost, which plan.throughput's range for a Gemma
# model's Unsloth step reaches.
COMPILE_OFF_STEP: Final[dict[str, float]] = {"factor": 2.113, "low": 0.58, "high": 4.541, "cells": 21}
COMPILE_OFF_MODELS: Final = ('gemma-2-2b', 'gemma-2-9b', 'gemma-3-12b-it', 'gemma-3-270m-it', 'gemma-3-4b-it', 'gemma-3n-E4B-it', 'gemma-4-26B-A4B-it', 'gemma-4-31B-it', 'gemma-4-E2B-it')
# The Gemma families whose attention Unsloth runs over the whole square with a masked or eager kernel: their
# attention's time over the fit's (cells with at least MASKED_MIN_S of it), by which plan.throughput scales
# their attention, its range reaching the least and most.
MASKED_ATTENTION_STEP: Final[dict[str, float]] = {"factor": 2.839, "low": 2.839, "high": 2.839, "cells": 1}
MASKED_ATTENTION_MODELS: Final = ('gemma-2-9b',)
# The attention of heads wider than flash kernels take (Gemma 4's global layers), which Unsloth runs through
# its own kernel: its time over the fit's (cells with at least MASKED_MIN_S of it), by which plan.throughput
# scales that part of the attention, its range reaching the least and most.
WIDE_HEAD_STEP: Final[dict[str, float]] = {"factor": 5.608, "low": 4.448, "high": 13.524, "cells": 13}
WIDE_HEAD_MODELS: Final = ('gemma-4-12B', 'gemma-4-26B-A4B-it', 'gemma-4-31B-it', 'gemma-4-E2B-it', 'gemma-4-E4B-it')
# ... per family (vram.families.family_of), which plan.throughput takes before the pooled WIDE_HEAD_STEP.
WIDE_HEAD_BY_FAMILY: Final[dict[str, dict]] = {"gemma4": {"factor": 5.383, "low": 4.448, "high": 13.524, "cells": 10, "models": ["gemma-4-26B-A4B-it", "gemma-4-31B-it", "gemma-4-E2B-it", "gemma-4-E4B-it"]}, "gemma4_unified": {"factor": 8.299, "low": 8.221, "high": 8.507, "cells": 3, "models": ["gemma-4-12B"]}}
# The families whose decoder layers Unsloth's per-block compile skips (gpt-oss), left out of the fit: their
# measured / predicted step time (median, min, max), by which plan.throughput scales their Unsloth steps.
UNCOMPILED_STEP: Final[dict[str, float]] = {"factor": 1.473, "low": 1.245, "high": 2.091, "cells": 10}
UNCOMPILED_MODELS: Final = ('gpt-oss-20b',)
# --- THROUGHPUT FITTED: end ---
