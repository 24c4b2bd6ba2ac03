"""bench/vram_calibration/hybrid_kernels.py reads what transformers bound for each Mamba / linear-attention kernel.

Each calibration record of a hybrid model says whether its mixers ran the fast kernels or
transformers' PyTorch reference (round 4 measured the reference by accident). The reading digs
into transformers' `use_kernel_func_from_hub_with_fallback` wrappers, so it is checked against the
real transformers: with nothing installed every kernel of Granite 4.0-H, Nemotron-H and Qwen3.5
reads "torch reference", and a kernel package placed on the path is read as the implementation.
Skips where transformers/torch are absent (CI).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

BENCH = Path(__file__).resolve().parents[2] / "bench" / "vram_calibration"
KERNELS = {
    "granitemoehybrid": {
        "causal_conv1d_fn",
        "causal_conv1d_update",
        "mamba_chunk_scan_combined",
        "mamba_split_conv1d_scan_combined",
        "selective_state_update",
    },
    "qwen3_5": {
        "causal_conv1d_fn",
        "causal_conv1d_update",
        "chunk_gated_delta_rule",
        "fused_recurrent_gated_delta_rule",
    },
}


def preflight(tmp_path, *extra_path: Path) -> dict[str, str]:
    """Run the preflight in a fresh interpreter (transformers binds kernels at import) and parse its lines."""
    path = ":".join(str(p) for p in (*extra_path, BENCH))
    proc = subprocess.run(
        [sys.executable, str(BENCH / "hybrid_kernels.py"), *KERNELS],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )

    lines = [
        ln.removeprefix("[kernels] ")
        for ln in proc.stdout.splitlines()
        if ln.startswith("[kernels] ")
    ]
    assert lines, proc.stderr[-2000:]
    return {k: json.loads(v) for k, v in (ln.split(": ", 1) for ln in lines)}


def test_without_kernel_packages_every_kernel_reads_as_the_torch_reference(tmp_path):
    out = preflight(tmp_path)
    for model_type, names in KERNELS.items():
        assert set(out[model_type]) == names
        assert set(out[model_type].values()) == {"torch reference"}
    assert out["packages"]["mamba_ssm"].startswith("absent")


def test_a_kernel_package_on_the_path_is_read_as_the_implementation(tmp_path):
    """A stand-in causal_conv1d exposing the two functions: transformers binds them, and the reading says so."""
    pkg = tmp_path / "site" / "causal_conv1d"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "def causal_conv1d_fn(x, weight, bias=None, seq_idx=None, activation=None): raise NotImplementedError\n"
        "def causal_conv1d_update(x, conv_state, weight, bias=None, activation=None): raise NotImplementedError\n"
    )
    out = preflight(tmp_path, tmp_path / "site")
    for model_type in KERNELS:
        assert out[model_type]["causal_conv1d_fn"] == "causal_conv1d"
        assert out[model_type]["causal_conv1d_update"] == "causal_conv1d"
    assert (
        out["granitemoehybrid"]["mamba_split_conv1d_scan_combined"] == "torch reference"
    )
    assert out["qwen3_5"]["chunk_gated_delta_rule"] == "torch reference"
