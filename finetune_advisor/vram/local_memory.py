"""The stack memory that linear-attention kernels leave behind on the GPU (pure).

When a kernel spills registers, the CUDA driver grows the per-thread stack (cuCtxGetLimit(CU_LIMIT_STACK_SIZE))
to the most any launched kernel needs, reserves it for every thread the GPU can hold at once (SMs x resident
threads per SM), outside PyTorch's allocator, and keeps it for the life of the process. fla's chunked
gated-delta-rule backward (the copy unsloth_zoo 2026.10.9 vendors, which Qwen3.5 and Qwen3-Next train through)
spills; its tile width, and so its spill, follows the GPU's shared memory. Measured on an H200 (round 8,
bench/vram_calibration): 25,968 B per thread on Qwen3.5-4B, 27,024 B on Qwen3.5-27B, x 132 SMs x 2,048 threads =
6.3 / 6.6 GiB beyond the default stack, where NVML less the allocator's reserve less the CUDA context read 6.4 / 6.6.
mamba_ssm's Mamba-2 Triton kernels spill too, by the mixer's head size and scan chunk (`mamba2_stack_bytes`): 9,472 B
on Falcon-H1 3B (2.1 GiB on an H100), 1,152 B on Nemotron-H. Dense models keep the default.
"""

from __future__ import annotations

from finetune_advisor.vram.constants import GIB

DEFAULT_STACK_BYTES = 1024  # the per-thread stack of every cell whose kernels do not spill (measured, round 8)

# CUDA C++ Programming Guide, "Technical Specifications per Compute Capability" (Table 27, CUDA 13.1; 7.0 from the
# Volta Tuning Guide): maximum resident threads per SM, and opt-in shared memory per block (KiB).
THREADS_PER_SM = {"7.0": 2048, "7.5": 1024, "8.0": 2048, "8.6": 1536, "8.7": 1536, "8.9": 1536, "9.0": 2048,
                  "10.0": 2048, "12.0": 1536}
SHARED_KIB_PER_BLOCK = {"7.0": 96, "7.5": 64, "8.0": 163, "8.6": 99, "8.7": 163, "8.9": 99, "9.0": 227, "10.0": 227,
                        "12.0": 99}

# fla's tile width by shared memory per block (fla/utils/_device.py Backend: HOPPER 232,448 B, AMPERE 166,912 B,
# ADA 101,376 B; ops/common/chunk_o.py: 128 from Hopper's, and from Ampere's in 16-bit as Unsloth's LoRA runs; 64
# from Ada's; 32 below).
_TILE_BY_SHARED_KIB = ((163, 128), (99, 64), (0, 32))

# Per-thread stack by tile width. 128: measured on an H200 (the larger of Qwen3.5-4B and 27B). 64 and 32: not
# measured; the stack frame ptxas reports for fla's chunk_bwd_kernel_dqkwg (the kernel that spills most) at its
# worst autotune config, compiled for sm_89 and sm_75 without a GPU (bench/vram_calibration/fla_stack_probe.py,
# triton 3.6.0). The same probe gives 33,576 B for sm_90 where the GPU measured 27,024 B, so it errs high.
DELTANET_STACK_BYTES = {128: 27024, 64: 8424, 32: 7128}
MEASURED_ON = ("9.0", 132, "H200")  # the GPU the 128-wide figure was read on: compute capability, SMs, name


def fla_tile(compute_capability: str) -> int | None:
    shared = SHARED_KIB_PER_BLOCK.get(compute_capability)
    if shared is None:
        return None
    return next(tile for least, tile in _TILE_BY_SHARED_KIB if shared >= least)


def deltanet_stack_gib(compute_capability: str | None, sm_count: int | None,
                       gpu_name: str | None = None) -> tuple[float, str]:
    """GiB the driver keeps for fla's gated-delta-rule kernels on this GPU, and the sentence that says how it was
    counted. A GPU whose compute capability or SM count we do not have gets the figure of the GPU it was measured on
    (more than any GPU with fewer SMs or narrower tiles would hold)."""
    tile = fla_tile(compute_capability) if compute_capability else None
    if tile is None or not sm_count:
        cc, sms, name = MEASURED_ON
        gib = _gib(DELTANET_STACK_BYTES[128], sms, THREADS_PER_SM[cc])
        return gib, (f"Gated-delta-rule kernels (fla, as Unsloth vendors it) spill registers, and the CUDA driver then "
                     f"keeps their stack for every thread the GPU can hold, outside PyTorch's allocator: {gib:.1f} GiB "
                     f"on the {name} where we measured it. Counted at that, because the GPU's compute capability and "
                     f"SM count are not known here; a smaller GPU holds less (name the GPU).")
    threads = THREADS_PER_SM[compute_capability]
    stack = DELTANET_STACK_BYTES[tile]
    gib = _gib(stack, sm_count, threads)
    how = ("measured on an H200" if compute_capability == MEASURED_ON[0] else
           "measured on an H200, whose tiles this GPU shares; not measured on it" if tile == 128 else
           "not measured: the stack frame a compile of fla's kernel for this GPU generation reports, an upper bound")
    on = f" on the {gpu_name}" if gpu_name else ""
    return gib, (f"Gated-delta-rule kernels (fla, as Unsloth vendors it) spill registers, and the CUDA driver then "
                 f"keeps their stack for every thread the GPU can hold, outside PyTorch's allocator{on}: {stack:,} B "
                 f"per thread ({tile}-wide tiles on compute capability {compute_capability}; {how}) x {sm_count} SMs "
                 f"x {threads:,} threads = {gib:.2f} GiB, counted.")


# Per-thread stack of mamba_ssm 2.3.2's Mamba-2 Triton kernels (the chunked scan Granite 4.0-H, Nemotron-H and
# Falcon-H1 train through once mamba_ssm is installed), measured on compute capability 9.0 (the harness reads the
# driver's stack limit and every loaded kernel's local memory; bench/vram_calibration):
# - _chunk_scan_bwd_dz_kernel spills 9,464 B where the head size is 128 (Falcon-H1 3B, H100, round 56h), and stays
#   under 1,152 B at 64 (Granite 4.0-H, Nemotron-H). Its tiles span the head size rounded up to a power of two, so a
#   head size between 64 and 128 (Nemotron 3 Nano 4B's 80) is counted at 128's figure, and a larger one at it too,
#   not measured.
# - _chunk_cumsum_bwd_kernel spills 3,144 B where the scan chunk is 256 tokens (Granite 4.0-H, Falcon-H1; 4,152 B in
#   one Granite 4.0-H Tiny process at 2 x 4,096), and not at 128 (Nemotron-H).
# - _chunk_scan_bwd_ddAcs_stable_kernel spills 1,152 B in every one of them.
# The driver keeps the largest, so the stack is the largest that applies; a chunk size not known is counted at 256.
MAMBA2_WIDE_HEAD_STACK_BYTES = 9472  # head size above 64
MAMBA2_LONG_CHUNK_STACK_BYTES = 4160  # scan chunk above 128 tokens (Granite 4.0-H's 256; the most measured)
MAMBA2_STACK_BYTES = 1152  # any Mamba-2 mixer
MAMBA2_MEASURED_HEAD, MAMBA2_MEASURED_CHUNK = 64, 128  # up to these, only the smaller spills were seen


def mamba2_stack_bytes(head_dim: int | None, chunk_size: int | None) -> int:
    """The per-thread stack mamba_ssm's Mamba-2 kernels leave (measured on compute capability 9.0); unknown sizes
    are counted at the largest."""
    if head_dim is None or head_dim > MAMBA2_MEASURED_HEAD:
        return MAMBA2_WIDE_HEAD_STACK_BYTES
    if chunk_size is None or chunk_size > MAMBA2_MEASURED_CHUNK:
        return MAMBA2_LONG_CHUNK_STACK_BYTES
    return MAMBA2_STACK_BYTES


def mamba2_stack_gib(head_dim: int | None, chunk_size: int | None, compute_capability: str | None,
                     sm_count: int | None, gpu_name: str | None = None) -> tuple[float, str]:
    """GiB the driver keeps for mamba_ssm's Mamba-2 kernels on this GPU, and the sentence that says how it was
    counted; a GPU whose compute capability or SM count we do not have gets the figure of an H200."""
    stack = mamba2_stack_bytes(head_dim, chunk_size)
    sizes = f"head size {head_dim or 'not known'}, scan chunk {chunk_size or 'not known'}"
    said = ("mamba_ssm's Mamba-2 kernels spill registers, and the CUDA driver then keeps their stack for every thread "
            "the GPU can hold, outside PyTorch's allocator")
    threads = THREADS_PER_SM.get(compute_capability or "")
    if not threads or not sm_count:
        cc, sms, name = MEASURED_ON
        gib = _gib(stack, sms, THREADS_PER_SM[cc])
        return gib, (f"{said}: {stack:,} B per thread ({sizes}), {gib:.2f} GiB on an {name}. Counted at that, because "
                     f"the GPU's compute capability and SM count are not known here; a smaller GPU holds less (name "
                     f"the GPU).")
    gib = _gib(stack, sm_count, threads)
    how = ("measured on compute capability 9.0 (H100, H200)" if compute_capability == MEASURED_ON[0] else
           "measured on compute capability 9.0 (H100, H200), not on this GPU's, whose kernels compile differently")
    on = f" on the {gpu_name}" if gpu_name else ""
    return gib, (f"{said}{on}: {stack:,} B per thread ({sizes}; {how}) x {sm_count} SMs x {threads:,} threads = "
                 f"{gib:.2f} GiB, counted.")


def _gib(stack_bytes: int, sm_count: int, threads_per_sm: int) -> float:
    return (stack_bytes - DEFAULT_STACK_BYTES) * sm_count * threads_per_sm / GIB
