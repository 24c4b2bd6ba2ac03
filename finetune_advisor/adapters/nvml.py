"""Adapter to the local NVIDIA GPUs through NVML (`nvidia-ml-py`, imported as `pynvml`).

"No GPU" is an answer, not an error: a missing library, a missing driver or a failing call gives
`source: "none"` with a note saying why. CUDA_VISIBLE_DEVICES is applied as CUDA reads it
(`gpus.inventory.visible`). `local_gpu()` is the first visible GPU, for the tools that default to it.
"""

from __future__ import annotations

import logging
import functools
import time
from typing import Any, NamedTuple

from finetune_advisor import settings
from finetune_advisor.gpus.inventory import GIB, GpuInfo, GpuInventory, text, visible

logger = logging.getLogger(__name__)

def _load_nvml() -> Any:
    import pynvml

    return pynvml


def probe(nvml: Any = None, cuda_visible_devices: str | None = None) -> GpuInventory:
    """Ask NVML for the GPUs; never raises."""
    if nvml is None:
        try:
            nvml = _load_nvml()
        except ImportError:
            return GpuInventory(source="none", note="nvidia-ml-py is not installed, so NVML cannot be queried.")
    try:
        nvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - NVMLError subclasses, OSError from a broken library
        return GpuInventory(source="none", note=f"NVML could not start ({_describe(exc)}): no NVIDIA driver or GPU here.")
    try:
        return _read(nvml, cuda_visible_devices)
    except Exception as exc:  # noqa: BLE001
        logger.warning("NVML query failed: %s", exc)
        return GpuInventory(source="none", note=f"NVML failed while listing GPUs ({_describe(exc)}).")
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            logger.debug("nvmlShutdown failed", exc_info=True)


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _read(nvml: Any, cuda_visible_devices: str | None) -> GpuInventory:
    driver = _optional(lambda: text(nvml.nvmlSystemGetDriverVersion()))
    cuda = _optional(lambda: _cuda_version(nvml.nvmlSystemGetCudaDriverVersion()))
    count = nvml.nvmlDeviceGetCount()
    handles = []
    problems: list[str] = []
    for i in range(count):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            uuid = _optional(lambda h=handle: text(nvml.nvmlDeviceGetUUID(h))) or ""
            handles.append((i, handle, uuid))
        except Exception as exc:  # noqa: BLE001
            problems.append(f"GPU {i}: {_describe(exc)}")
    order = visible([(i, uuid) for i, _, uuid in handles], cuda_visible_devices)
    by_index = {i: (h, uuid) for i, h, uuid in handles}
    selected = list(by_index) if order is None else order
    gpus: list[GpuInfo] = []
    for cuda_index, physical in enumerate(selected):
        handle, uuid = by_index[physical]
        try:
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
            gpus.append(
                GpuInfo(
                    index=cuda_index,
                    name=text(nvml.nvmlDeviceGetName(handle)),
                    memory_total_gib=round(mem.total / GIB, 2),
                    memory_free_gib=round(mem.free / GIB, 2),
                    compute_capability=f"{major}.{minor}",
                    bf16_supported=major >= 8,
                    uuid=uuid or None,
                )
            )
        except Exception as exc:  # noqa: BLE001 - one bad GPU must not hide the others
            problems.append(f"GPU {physical}: {_describe(exc)}")
    notes = []
    if cuda_visible_devices is not None:
        notes.append(f"CUDA_VISIBLE_DEVICES={cuda_visible_devices!r} applied: {len(gpus)} of {count} GPUs visible.")
    if problems:
        notes.append("Could not read " + "; ".join(problems) + ".")
    if not gpus and not notes:
        notes.append("NVML is running but reports no GPU.")
    source = "nvml" if gpus else "none"
    return GpuInventory(
        source=source,
        gpus=gpus,
        driver_version=driver,
        cuda_driver_version=cuda,
        note=" ".join(notes) or None,
    )


def _optional(read: Any) -> Any:
    try:
        return read()
    except Exception:  # noqa: BLE001
        return None


def _cuda_version(value: int) -> str:
    return f"{value // 1000}.{(value % 1000) // 10}"


_CACHE_SECONDS = 5.0


class LocalGpu(NamedTuple):
    memory_gib: float | None  # None when no GPU is visible
    description: str
    bf16: bool  # True when there is no GPU to ask
    name: str | None = None  # as NVML reports it
    capability: str | None = None  # compute capability, 'major.minor'


@functools.lru_cache(maxsize=1)
def _cached(_bucket: int, visible_devices: str | None) -> GpuInventory:
    return probe(cuda_visible_devices=visible_devices)


def local_gpu() -> LocalGpu:
    """The first visible GPU, for tools that default to the local GPU (one NVML probe).

    Cached for a few seconds: recommendation and estimation calls come in bursts.
    """
    inventory = _cached(int(time.monotonic() // _CACHE_SECONDS), settings.cuda_visible_devices())
    if not inventory.gpus:
        return LocalGpu(None, inventory.note or "no GPU detected", True)
    gpu = inventory.gpus[0]
    return LocalGpu(gpu.memory_total_gib, f"{gpu.name} (GPU 0, {gpu.memory_total_gib} GiB, detected)", gpu.bf16_supported,
                    gpu.name, gpu.compute_capability)
