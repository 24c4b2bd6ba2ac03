"""Per-thread stack of fla's gated-delta-rule backward kernel, compiled for several GPUs without one.

Round 7 saw Qwen3.5-27B hold 6.55 GiB beside PyTorch's allocator on an H200 (bench/vram_accuracy/README.md).
The first suspect is local memory: when a kernel spills registers, the driver reserves its per-thread stack for
every thread the GPU can hold at once (SMs x threads per SM) and keeps it. This script compiles the kernel that
spills most, `chunk_bwd_kernel_dqkwg` from the fla copy unsloth_zoo vendors, with Qwen3.5-27B's shapes (16 key
heads, 48 value heads, head size 128, chunks of 64) for each GPU generation, with the tile width fla picks there
(`fla/ops/common/chunk_o.py`: 128 on Hopper and, in 16-bit, on A100-class shared memory, 64 on Ada-class, 32
below) and every autotune config (num_warps 2/4 on Hopper, 2/4/8 elsewhere), and prints what ptxas reports:
stack frame, spill stores and loads, registers.

    python bench/vram_calibration/fla_stack_probe.py ZOO_DIR [CC,TILE ...]

ZOO_DIR is an unzipped unsloth_zoo wheel (the directory holding `unsloth_zoo/`). Needs torch (CPU is enough)
and the triton whose ptxas the GPU machine uses (3.6.0 there): `pip install --target DIR triton==3.6.0` and put
DIR first on PYTHONPATH. No GPU: Triton compiles for the named target. CC,TILE defaults to 90,128 80,128 89,64
75,32 (H100/H200, A100, Ada, Turing).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import types

SIGNATURE = {
    "q": "*bf16", "k": "*bf16", "v": "*bf16", "g": "*fp32", "g_gamma": "constexpr", "h": "*bf16", "do": "*bf16",
    "dh": "*bf16", "dq": "*bf16", "dk": "*bf16", "dw": "*bf16", "dv": "*bf16", "dg": "*fp32", "cu_seqlens": "constexpr",
    "chunk_indices": "constexpr", "scale": "fp32", "B": "constexpr", "T": "i32", "H": "constexpr", "HV": "constexpr",
    "K": "constexpr", "V": "constexpr", "BT": "constexpr", "BK": "constexpr", "BV": "constexpr", "USE_G": "constexpr",
    "USE_G_GAMMA": "constexpr", "USE_DW": "constexpr", "STATE_V_FIRST": "constexpr", "IS_VARLEN": "constexpr",
}
QWEN35_27B = {"B": 1, "H": 16, "HV": 48, "K": 128, "V": 128, "BT": 64}  # linear_* fields of its config.json
PTXAS_LINE = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")


def vendored_fla(zoo_dir: str):
    """Import the vendored fla as top-level `fla`, as unsloth_zoo registers it, without importing unsloth_zoo."""
    sys.path.insert(0, os.path.join(zoo_dir, "unsloth_zoo", "_vendored"))
    import fla

    for name, path in (("unsloth_zoo", "unsloth_zoo"), ("unsloth_zoo._vendored", "unsloth_zoo/_vendored")):
        module = types.ModuleType(name)
        module.__path__ = [os.path.join(zoo_dir, path)]
        sys.modules[name] = module
    sys.modules["unsloth_zoo._vendored.fla"] = fla
    import fla.ops.common.chunk_o as chunk_o

    return chunk_o.chunk_bwd_kernel_dqkwg.fn.fn  # heuristics -> autotuner -> JITFunction


def stack(kernel, cc: int, tile: int, warps: int, stages: int) -> tuple[int, int, int, int]:
    """(stack frame, spill stores, spill loads, registers) per thread, as ptxas reports them."""
    import triton
    from triton.backends.compiler import GPUTarget

    constants = {**QWEN35_27B, "BK": tile, "BV": tile, "g_gamma": None, "cu_seqlens": None, "chunk_indices": None,
                 "USE_G": True, "USE_G_GAMMA": False, "USE_DW": True, "STATE_V_FIRST": False, "IS_VARLEN": False}
    compiled = triton.compile(triton.compiler.ASTSource(kernel, SIGNATURE, constants), target=GPUTarget("cuda", cc, 32),
                              options={"num_warps": warps, "num_stages": stages})
    ptxas = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "ptxas")
    with tempfile.TemporaryDirectory() as tmp:
        ptx = os.path.join(tmp, "k.ptx")
        with open(ptx, "w") as fh:
            fh.write(compiled.asm["ptx"])
        gpu = f"sm_{cc}a" if cc >= 90 else f"sm_{cc}"
        out = subprocess.run([ptxas, "-v", f"--gpu-name={gpu}", ptx, "-o", os.path.join(tmp, "k.cubin")],
                             capture_output=True, text=True, check=True).stderr
    frame, stores, loads = (int(x) for x in PTXAS_LINE.search(out).groups())
    return frame, stores, loads, int(re.search(r"Used (\d+) registers", out).group(1))


def main() -> None:
    import triton

    kernel = vendored_fla(sys.argv[1])
    targets = [tuple(map(int, t.split(","))) for t in sys.argv[2:]] or [(90, 128), (80, 128), (89, 64), (75, 32)]
    print(f"triton {triton.__version__}; chunk_bwd_kernel_dqkwg at Qwen3.5-27B's shapes")
    for cc, tile in targets:
        for warps in ((2, 4) if cc == 90 else (2, 4, 8)):
            frame, stores, loads, regs = stack(kernel, cc, tile, warps, 2)
            print(f"sm_{cc} tile {tile} num_warps {warps}: stack frame {frame} B, spill stores {stores} B, "
                  f"loads {loads} B, {regs} registers")


if __name__ == "__main__":
    main()
