from __future__ import annotations

import pytest
from fake_nvml import H100, RTX4090, T4, FakeNvml, NVMLError

from finetune_advisor.adapters import nvml as gpu
from finetune_advisor.adapters.nvml import probe


def test_several_gpus_of_different_sizes() -> None:
    inv = probe(FakeNvml([H100, RTX4090, T4]))
    assert inv.source == "nvml"
    assert [g.name for g in inv.gpus] == [H100.name, RTX4090.name, T4.name]
    assert [g.index for g in inv.gpus] == [0, 1, 2]
    assert inv.gpus[0].memory_total_gib == pytest.approx(79.65, abs=0.01)
    assert inv.gpus[1].memory_free_gib == pytest.approx(23.5, abs=0.01)
    assert [g.compute_capability for g in inv.gpus] == ["9.0", "8.9", "7.5"]
    assert [g.bf16_supported for g in inv.gpus] == [True, True, False]
    assert inv.driver_version == "580.159.04"
    assert inv.cuda_driver_version == "13.0"
    assert inv.note is None


def test_call_failing_half_way_keeps_the_other_gpus_and_says_which_failed() -> None:
    nvml = FakeNvml([H100, RTX4090, T4], fail_on={("memory", 1): NVMLError("GPU is lost")})
    inv = probe(nvml)
    assert inv.source == "nvml"
    assert [g.name for g in inv.gpus] == [H100.name, T4.name]
    assert "GPU 1" in inv.note and "GPU is lost" in inv.note
    assert nvml.calls[-1] == "shutdown"


def test_handle_failure_on_the_only_gpu_gives_none_with_reason() -> None:
    inv = probe(FakeNvml([H100], fail_on={("handle", 0): NVMLError("Unknown Error")}))
    assert inv.source == "none" and inv.gpus == []
    assert "Unknown Error" in inv.note


def test_driver_missing_gives_none_and_never_raises() -> None:
    nvml = FakeNvml([H100], fail_init=NVMLError("Driver Not Loaded"))
    inv = probe(nvml)
    assert inv.source == "none" and inv.gpus == []
    assert "Driver Not Loaded" in inv.note
    assert "shutdown" not in nvml.calls  # shutting down an NVML that never started is an error


def test_no_gpu_at_all() -> None:
    inv = probe(FakeNvml([]))
    assert inv.source == "none" and inv.gpus == [] and "no GPU" in inv.note


def test_library_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise ImportError("No module named 'pynvml'")

    monkeypatch.setattr(gpu, "_load_nvml", missing)
    inv = probe()
    assert inv.source == "none" and "nvidia-ml-py is not installed" in inv.note


def test_real_nvml_without_driver_gives_none() -> None:
    """On a machine without an NVIDIA driver (CI), the real library must not raise."""
    inv = probe()
    assert inv.source in {"none", "nvml"}
    if inv.source == "none":
        assert inv.gpus == [] and inv.note


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", []),
        ("1", [RTX4090.name]),
        ("2,0", [T4.name, H100.name]),
        ("GPU-bbbb", [RTX4090.name]),
        ("0,7,1", [H100.name]),  # CUDA stops at the first invalid entry
        ("-1", []),
        ("1,1", [RTX4090.name]),
    ],
)
def test_cuda_visible_devices(spec: str, expected: list[str]) -> None:
    inv = probe(FakeNvml([H100, RTX4090, T4]), cuda_visible_devices=spec)
    assert [g.name for g in inv.gpus] == expected
    assert [g.index for g in inv.gpus] == list(range(len(expected)))
    assert f"CUDA_VISIBLE_DEVICES={spec!r}" in inv.note
    assert inv.source == ("nvml" if expected else "none")
