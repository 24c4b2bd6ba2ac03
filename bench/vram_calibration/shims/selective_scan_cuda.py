"""Placeholder for mamba-ssm's Mamba-1 CUDA extension `selective_scan_cuda` (calibration only).

mamba-ssm 2.3.2.post1 imports it unconditionally (`mamba_ssm/__init__.py` ->
`ops/selective_scan_interface.py`), so without it `import mamba_ssm` fails and transformers falls
back to its PyTorch Mamba-2 scan although the Mamba-2 kernels it calls are Triton. Nothing the
hybrid models we measure run (Granite 4.0-H, Nemotron-H: Mamba-2) calls it; a call raises.
"""


def _not_built(*args, **kwargs):
    raise NotImplementedError(
        "selective_scan_cuda is a placeholder (bench/vram_calibration/shims): mamba-ssm was installed "
        "without its CUDA extension, so the Mamba-1 selective scan is not available"
    )


fwd = bwd = _not_built
