"""Fitted constants of the step-time model (`plan.throughput`), per stack and method.

`bench/throughput/fit.py` refits the block between the markers from the step times recorded with
the calibration cells and rewrites it; bench/throughput/README.md says how, and how well it does.
"""

from __future__ import annotations

from typing import Final

# Bytes moved per 4-bit weight each time a pass dequantises it (read 0.5 B of NF4 and its scales,
# write the 2 B bf16 copy, read it again in the matmul): an assumption from the kernels' shape, not fitted.
DEQUANT_BYTES_PER_PARAM: Final = 4.5

# --- THROUGHPUT FITTED: begin (written by bench/throughput/fit.py; do not edit by hand) ---
THROUGHPUT_SOURCE: Final = "fitted on 225 cells measured on one NVIDIA H200 (38 of them beside other jobs on the same GPU, so slower than a GPU of one's own); scaled to other GPUs by datasheet tensor TFLOPS and bandwidth"
# (stack, method) -> seconds per step: c0 + c_layer * layers + c_moe * MoE layers,
# plus matmul FLOPs / (peak / k_matmul) and attention FLOPs / (peak / k_attention).
STEP: Final[dict[tuple[str, str], dict[str, float]]] = {
    ("transformers", "full"): {"c0": 0, "c_layer": 0.0055868, "c_moe": 0.047195, "k_matmul": 2.0308, "k_attention": 5},
    ("transformers", "lora"): {"c0": 0, "c_layer": 0.0085783, "c_moe": 0, "k_matmul": 2.0308, "k_attention": 5},
    ("transformers", "qlora"): {"c0": 0.0022086, "c_layer": 0.015552, "c_moe": 0.031824, "k_matmul": 2.0308, "k_attention": 5},
    ("unsloth", "lora"): {"c0": 0.061038, "c_layer": 0.0053383, "c_moe": 0.0043709, "k_matmul": 1.25, "k_attention": 1.7242},
    ("unsloth", "qlora"): {"c0": 0.072304, "c_layer": 0.006092, "c_moe": 0.0068052, "k_matmul": 1.25, "k_attention": 1.7242},
}
# Leave-one-architecture-out spread of measured / predicted - 1: (p10, p90), per (stack, method).
SPREAD: Final[dict[tuple[str, str], tuple[float, float]]] = {
    ("transformers", "full"): (-0.265, 1.317),
    ("transformers", "lora"): (-0.245, 0.698),
    ("transformers", "qlora"): (-0.226, 1.646),
    ("unsloth", "lora"): (-0.332, 0.220),
    ("unsloth", "qlora"): (-0.389, 0.455),
}
# --- THROUGHPUT FITTED: end ---
