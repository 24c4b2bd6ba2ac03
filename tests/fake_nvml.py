"""A stand-in for the `pynvml` module: the calls `finetune_advisor/adapters/nvml.py` makes, with scriptable failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace


class NVMLError(Exception):
    pass


@dataclass
class FakeGpu:
    name: str
    total_gib: float
    free_gib: float
    capability: tuple[int, int]
    uuid: str


H100 = FakeGpu("NVIDIA H100 80GB HBM3", 79.65, 79.1, (9, 0), "GPU-aaaaaaaa-1111")
RTX4090 = FakeGpu("NVIDIA GeForce RTX 4090", 23.99, 23.5, (8, 9), "GPU-bbbbbbbb-2222")
T4 = FakeGpu("Tesla T4", 15.0, 14.7, (7, 5), "GPU-cccccccc-3333")


@dataclass
class FakeNvml:
    gpus: list[FakeGpu]
    fail_init: Exception | None = None
    fail_on: dict[tuple[str, int], Exception] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    NVMLError: type = NVMLError

    def _check(self, call: str, index: int) -> None:
        self.calls.append(call)
        error = self.fail_on.get((call, index))
        if error is not None:
            raise error

    def nvmlInit(self) -> None:
        self.calls.append("init")
        if self.fail_init:
            raise self.fail_init

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

    def nvmlSystemGetDriverVersion(self) -> str:
        return "580.159.04"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 13000

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        self._check("handle", i)
        return i

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return self.gpus[h].uuid

    def nvmlDeviceGetName(self, h: int) -> str:
        self._check("name", h)
        return self.gpus[h].name

    def nvmlDeviceGetMemoryInfo(self, h: int) -> SimpleNamespace:
        self._check("memory", h)
        g = self.gpus[h]
        return SimpleNamespace(total=int(g.total_gib * 1024**3), free=int(g.free_gib * 1024**3))

    def nvmlDeviceGetCudaComputeCapability(self, h: int) -> tuple[int, int]:
        return self.gpus[h].capability
