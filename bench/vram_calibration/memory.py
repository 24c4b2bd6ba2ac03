"""Device-memory probes: NVML (what nvidia-smi shows) and torch's caching allocator.

The CUDA context is taken as NVML device-used after CUDA init plus a cuBLAS matmul, minus
torch's reserved memory, minus the device-used read before this process touched CUDA.
"""

from __future__ import annotations

import os
import threading
import time

import torch


class Nvml:
    """NVML reads for the GPU this process uses; every read is None when NVML is absent."""

    def __init__(self) -> None:
        self.ok = False
        self.index: int | None = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nv = pynvml
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self.ok = count > 0
        except Exception:  # no driver (CPU test runs)
            self._handles = []

    def used_all(self) -> list[int]:
        return [self._nv.nvmlDeviceGetMemoryInfo(h).used for h in self._handles]

    def bind(self, uuid: str | None) -> None:
        """Pick the NVML device whose UUID matches torch's current device."""
        if not self.ok or uuid is None:
            return
        want = uuid.lower().removeprefix("gpu-")
        for i, h in enumerate(self._handles):
            got = self._nv.nvmlDeviceGetUUID(h)
            got = got.decode() if isinstance(got, bytes) else got
            if got.lower().removeprefix("gpu-") == want:
                self.index = i
                return

    def used(self) -> int | None:
        if self.index is None:
            return None
        return self._nv.nvmlDeviceGetMemoryInfo(self._handles[self.index]).used

    def processes(self) -> dict[int, int | None] | None:
        """usedGpuMemory by pid for every compute process on this GPU (None where NVML cannot list them)."""
        if self.index is None:
            return None
        try:
            procs = self._nv.nvmlDeviceGetComputeRunningProcesses(self._handles[self.index])
        except Exception:
            return None
        return {p.pid: p.usedGpuMemory for p in procs}

    def process_used(self) -> int | None:
        """This process's usedGpuMemory as NVML lists it (None where the VM hides it)."""
        return (self.processes() or {}).get(os.getpid())

    def driver(self) -> str | None:
        if not self.ok:
            return None
        v = self._nv.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else v


class PeakSampler:
    """Polls NVML device-used in a thread and keeps the maximum."""

    def __init__(self, nvml: Nvml, interval_s: float = 0.002) -> None:
        self.nvml, self.interval_s = nvml, interval_s
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "PeakSampler":
        if self.nvml.index is None:
            return self
        self.peak = self.nvml.used()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            u = self.nvml.used()
            if u is not None and u > self.peak:
                self.peak = u
            time.sleep(self.interval_s)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            u = self.nvml.used()
            if u is not None and u > self.peak:
                self.peak = u


class ProcessMemory:
    """Per-process baseline: NVML before CUDA init, and the CUDA context after it."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.nvml = Nvml()
        self.before_used = self.nvml.used_all() if self.nvml.ok else []
        self.baseline: int | None = None
        self.cuda_context_bytes: int | None = None
        self.init_allocated_bytes = 0
        self.init_reserved_bytes = 0

    def init_cuda(self, index: int = 0) -> None:
        if self.device != "cuda":
            return
        torch.cuda.set_device(index)
        a = torch.randn(1024, 1024, device="cuda", dtype=torch.bfloat16)
        b = a @ a
        c = a.float() @ a.float()
        torch.cuda.synchronize()
        del a, b, c
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        self.nvml.bind(str(getattr(props, "uuid", "")) or None)
        vis = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        if self.nvml.index is None and self.nvml.ok:  # fall back to the visible index
            self.nvml.index = int(vis.split(",")[index]) if vis.replace(",", "").isdigit() else index
        self.init_allocated_bytes = torch.cuda.memory_allocated()
        self.init_reserved_bytes = torch.cuda.memory_reserved()
        if self.nvml.index is not None:
            self.baseline = self.before_used[self.nvml.index]
            self.cuda_context_bytes = self.nvml.used() - self.baseline - self.init_reserved_bytes

    def used_now(self) -> int | None:
        """NVML device-used minus what was used before this process started."""
        u = self.nvml.used()
        return None if u is None or self.baseline is None else u - self.baseline


def cuda_stat(name: str) -> int:
    if not torch.cuda.is_available():
        return 0
    return int(getattr(torch.cuda, name)())


def release() -> None:
    """Free what Python no longer references and give cached blocks back to the driver."""
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
