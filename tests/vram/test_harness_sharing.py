"""Which step times the throughput fit may read as a GPU to itself: the harness counts the other training processes
NVML lists during a cell's steps (bench/vram_calibration/unsloth_sft.ProcessPeakSampler), and the fit reads that
count before the batch's lane count (tests/plan/test_throughput.py). Round 40's two 26B-A4B cells ran in a
two-lane batch whose other lane only waited for the `--big` lock, and were left out of the scoring for it."""

from __future__ import annotations

import os
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "vram_calibration"))
import unsloth_sft  # noqa: E402

sys.path.pop(0)


class _Nvml:
    """NVML's process list as the sampler reads it: this process's memory, and other pids from a given read on."""

    def __init__(self, others_from: int, others: dict[int, int]) -> None:
        self.reads, self.others_from, self.others = 0, others_from, others

    def processes(self) -> dict[int, int]:
        self.reads += 1
        return {os.getpid(): 1000 + self.reads, **(self.others if self.reads > self.others_from else {})}


def _sample(nvml: _Nvml) -> unsloth_sft.ProcessPeakSampler:
    with unsloth_sft.ProcessPeakSampler(types.SimpleNamespace(nvml=nvml), interval_s=0.001) as sampler:
        time.sleep(0.02)
    return sampler


def test_a_lane_that_only_waited_leaves_the_gpu_unshared() -> None:
    sampler = _sample(_Nvml(others_from=10**9, others={}))
    assert sampler.others == 0
    assert sampler.peak is not None and sampler.peak > 1000


def test_another_process_seen_once_marks_the_steps_shared() -> None:
    sampler = _sample(_Nvml(others_from=3, others={4242: 5 << 30}))
    assert sampler.others == 1


def test_a_build_the_gpu_cannot_hold_beside_the_lanes_is_made_in_ram() -> None:
    # Round 54c on an H100: Command R 08-2024's 16-bit build (60.8 GiB) beside two lanes' builds ran out of memory.
    gib = 1 << 30
    assert unsloth_sft.build_device(int(60.8 * gib), free_bytes=int(61.5 * gib)) == "cpu"
    assert unsloth_sft.build_device(int(60.8 * gib), free_bytes=79 * gib) == "cuda"
    assert unsloth_sft.build_device(0, free_bytes=3 * gib) == "cuda"


class _OutOfMemory(RuntimeError):
    pass


class _Build:
    """A 16-bit build whose save runs out of memory while it is on the GPU, as GLM-4.7-Flash's did (round 56)."""

    def __init__(self) -> None:
        self.device, self.saved_from = "cuda", []

    def to(self, device: str) -> "_Build":
        self.device = device
        return self

    def save_pretrained(self, path: str, max_shard_size: str) -> None:
        if self.device == "cuda":
            raise _OutOfMemory("CUDA out of memory. Tried to allocate 384.00 MiB")
        self.saved_from.append((self.device, path))


def test_a_save_the_gpu_cannot_hold_is_made_again_from_ram(monkeypatch, capsys) -> None:
    import contextlib

    torch = types.SimpleNamespace(OutOfMemoryError=_OutOfMemory,
                                  cuda=types.SimpleNamespace(empty_cache=lambda: None))
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setattr(unsloth_sft, "spill_when_full", lambda path: contextlib.nullcontext())
    build = _Build()
    unsloth_sft.save_16bit(build, "/dev/shm/m/GLM-4.7-Flash")
    assert build.saved_from == [("cpu", "/dev/shm/m/GLM-4.7-Flash")]
    assert "saving from RAM" in capsys.readouterr().out


def test_a_cell_records_its_config_as_published_though_transformers_writes_into_what_it_is_given(monkeypatch) -> None:
    """transformers 5.17's AutoConfig.for_model adds rope_theta and rope_type into the rope_scaling dict it is given;
    the harness builds from a copy, so the config each record keeps is the published one."""

    class _AutoConfig:
        @staticmethod
        def for_model(model_type: str, **fields: object) -> types.SimpleNamespace:
            fields["rope_scaling"]["rope_theta"] = fields.get("rope_theta")  # what 5.17 does to the caller's dict
            return types.SimpleNamespace(model_type=model_type, **fields)

    monkeypatch.setitem(sys.modules, "transformers", types.SimpleNamespace(AutoConfig=_AutoConfig))
    config = {"model_type": "llama", "rope_theta": 500000.0, "transformers_version": "4.45.0",
              "rope_scaling": {"factor": 8.0, "rope_type": "llama3"}}
    built = unsloth_sft.hf_config(config)
    assert built.rope_scaling["rope_theta"] == 500000.0 and built.use_cache is False
    assert config == {"model_type": "llama", "rope_theta": 500000.0, "transformers_version": "4.45.0",
                      "rope_scaling": {"factor": 8.0, "rope_type": "llama3"}}
