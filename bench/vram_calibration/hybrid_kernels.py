"""Which Mamba-2 / linear-attention kernels a calibration run had (recorded as `kernels` in each cell).

transformers 5.17 binds each fast kernel when its modeling module is imported
(`use_kernel_func_from_hub_with_fallback`): the function from `mamba_ssm`, `causal_conv1d` or
`fla` if that package imports, else its reference PyTorch code, which is far slower and holds
very different activations (round 4's granite-4.0-h-tiny: 42.7 GiB at 1x2048). A record must
say which one ran. `kernels_record(model)` gives the packages (and whether causal-conv1d ran on
the torch stand-in of shims/, and whether fla is Unsloth's vendored copy) and, per hub-wrapped
function of the model's modeling modules, what it resolved to.

    python hybrid_kernels.py [MODEL_TYPE ...]   # a preflight: what those modeling modules bind, one line each

The preflight runs without Unsloth, so it cannot show fla for Qwen3.5: Unsloth injects the fla
release it vendors (fla-core 0.5.1, in unsloth_zoo/_vendored) when it is imported; the cells'
records show it.

The module is not named `kernels`: transformers imports a top-level `kernels` when it finds one.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import json
import sys

MODEL_TYPES = ("granitemoehybrid", "nemotron_h", "qwen3_5", "qwen3_5_moe")


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _mamba_ssm() -> str:
    try:
        import mamba_ssm  # noqa: F401
        import selective_scan_cuda
    except Exception as exc:  # noqa: BLE001 - recorded, not raised
        return f"absent ({type(exc).__name__}: {exc})"[:200]
    ext = (
        "placeholder, no CUDA ext"
        if "shims" in (selective_scan_cuda.__file__ or "")
        else "CUDA ext"
    )
    return f"{_version('mamba-ssm') or '?'} (triton ops, {ext})"


def _causal_conv1d() -> str:
    try:
        import causal_conv1d  # noqa: F401
        import causal_conv1d_cuda
    except Exception as exc:  # noqa: BLE001
        return f"absent ({type(exc).__name__}: {exc})"[:200]
    kernel = "torch shim" if hasattr(causal_conv1d_cuda, "STAND_IN") else "CUDA ext"
    return f"{_version('causal-conv1d') or '?'} ({kernel})"


def _fla() -> str:
    """Never imports fla: Unsloth injects its vendored copy as `fla` and must do so first."""
    module = sys.modules.get("fla")
    if module is not None:
        if getattr(module, "_UNSLOTH_VENDORED_FLA", False):
            return f"{getattr(module, '__version__', '?')} (unsloth_zoo vendored)"
        return f"{getattr(module, '__version__', None) or _version('flash-linear-attention') or '?'}"
    installed = _version("flash-linear-attention") or _version("fla-core")
    return f"{installed} (installed, not imported)" if installed else "absent"


def packages() -> dict[str, str]:
    return {"mamba_ssm": _mamba_ssm(), "causal_conv1d": _causal_conv1d(), "fla": _fla()}


def resolved(module) -> dict[str, str]:
    """Per hub-wrapped kernel function of a modeling module: the module its implementation came from,
    or "torch reference" where transformers fell back to its own PyTorch code."""
    out = {}
    for value in vars(module).values():
        code, cells = (
            getattr(value, "__code__", None),
            getattr(value, "__closure__", None),
        )
        if code is None or not cells or "implementation" not in code.co_freevars:
            continue
        free = dict(
            zip(code.co_freevars, (c.cell_contents for c in cells), strict=True)
        )
        if "func_name" not in free or "is_new_implementation" not in free:
            continue
        impl = free["implementation"]
        out[free["func_name"]] = (
            getattr(impl, "__module__", "?")
            if free["is_new_implementation"]
            else "torch reference"
        )
    return dict(sorted(out.items()))


def modeling_modules(model) -> list:
    names = {
        type(m).__module__
        for m in model.modules()
        if type(m).__module__.startswith("transformers.models.")
    }
    return [sys.modules[n] for n in sorted(names) if n in sys.modules]


def kernels_record(model) -> dict:
    """What each cell records as `kernels`: the packages and the fast paths its model's modules resolved."""
    try:
        fast = {}
        for module in modeling_modules(model):
            fast.update(resolved(module))
        return {**packages(), "resolved": fast}
    except Exception as exc:  # noqa: BLE001 - a failed look never costs the cell
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def preflight(model_types) -> dict:
    out = {"packages": packages()}
    for model_type in model_types:
        name = f"transformers.models.{model_type}.modeling_{model_type}"
        try:
            out[model_type] = resolved(importlib.import_module(name))
        except Exception as exc:  # noqa: BLE001 - a preflight reports every failure
            out[model_type] = f"{type(exc).__name__}: {exc}"[:300]
    return out


if __name__ == "__main__":
    for key, value in preflight(sys.argv[1:] or MODEL_TYPES).items():
        print(f"[kernels] {key}: {json.dumps(value)}")
