"""The VRAM estimator's empirical constants, each with where it comes from.

Everything else in the estimator is counted from the architecture and the run. These few numbers
are what counting cannot know: the CUDA context, allocator rounding and fragmentation, and how far
the per-tensor activation counts of `vram_activations` sit from what PyTorch really holds.
`bench/vram_accuracy/fit.py` refits the block between the FITTED markers from the measured cells
in `bench/vram_calibration/data/*.jsonl` and rewrites it; the benchmark README says how.
"""

from __future__ import annotations

from typing import Final

GIB: Final = 1024**3

# --- FITTED: begin (written by bench/vram_accuracy/fit.py; do not edit by hand) ---
# Not yet fitted: first-principles values until calibration data lands.
FIT_SOURCE: Final = "first principles (no calibration data yet)"
# CUDA context + cuBLAS/cuDNN handles of a training process, outside the caching allocator.
CUDA_CONTEXT_GIB: Final = 0.5
# Allocator peak reserved / peak allocated - 1 (block rounding and fragmentation).
FRAGMENTATION: Final = 0.05
# Small allocations counting cannot see (workspaces, RNG state, metadata), in GiB.
FIXED_ALLOCATED_GIB: Final = 0.15
# Multiplier on the counted saved activations, per stack and method.
ACTIVATION_SCALE: Final = {
    ("transformers", "qlora"): 1.0,
    ("transformers", "lora"): 1.0,
    ("transformers", "full"): 1.0,
    ("unsloth", "qlora"): 1.0,
    ("unsloth", "lora"): 1.0,
    ("unsloth", "full"): 1.0,
}
# Bytes per token per vocabulary entry at the loss peak (logits, log-softmax and its gradient).
LOGITS_BYTES: Final = {"transformers": 12.0, "unsloth": 4.0}
# NCCL communicator buffers per GPU when training on several GPUs, in GiB.
NCCL_GIB: Final = 0.5
# --- FITTED: end ---

# Memory the driver keeps on an idle GPU, which no process can allocate (GiB). Subtracted from the
# card's total before deciding whether a run fits.
DRIVER_RESERVED_GIB: Final = 0.5
