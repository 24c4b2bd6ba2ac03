"""Adapter to the local NVIDIA GPUs through NVML (`nvidia-ml-py`, imported as `pynvml`).

"No GPU" is an answer, not an error: a missing library, a missing driver or a failing call gives
`source: "none"` with a note saying why. NVML ignores CUDA_VISIBLE_DEVICES, so it is applied here,
the way the CUDA runtime reads it (indices or UUID prefixes, stopping at the first invalid entry).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, Field

logger = logging.getLogger(__name__)

GIB = 1024**3


class GpuInfo(BaseModel):
    """One visible GPU."""

    index: int = Field(description="Index as CUDA numbers it in this process (after CUDA_VISIBLE_DEVICES).")
    name: str
    memory_total_gib: float
    memory_free_gib: float
    compute_capability: str = Field(description="major.minor, e.g. '9.0' for H100.")
    bf16_supported: bool = Field(description="True from compute capability 8.0 (Ampere) on.")
    uuid: str | None = None


class GpuInventory(BaseModel):
    """The GPUs this machine shows to CUDA."""

    source: Literal["nvml", "none"]
    gpus: list[GpuInfo] = Field(default_factory=list)
    driver_version: str | None = None
    cuda_driver_version: str | None = Field(default=None, description="Highest CUDA version the driver supports.")
    note: str | None = Field(default=None, description="Why no GPU was found, or what could not be read.")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _visible(physical: list[tuple[int, str]], spec: str | None) -> list[int] | None:
    """Physical indices CUDA would expose, in CUDA's order; None when the variable is unset."""
    if spec is None:
        return None
    chosen: list[int] = []
    for token in (t.strip() for t in spec.split(",")):
        match = None
        if token.lstrip("+").isdigit():
            n = int(token)
            match = n if any(i == n for i, _ in physical) else None
        elif token.startswith(("GPU-", "MIG-")) and len(token) > 4:
            hits = [i for i, uuid in physical if uuid.startswith(token)]
            match = hits[0] if len(hits) == 1 else None
        if match is None or match in chosen:
            break  # CUDA stops enumerating at the first invalid or repeated entry
        chosen.append(match)
    return chosen


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
    driver = _optional(lambda: _text(nvml.nvmlSystemGetDriverVersion()))
    cuda = _optional(lambda: _cuda_version(nvml.nvmlSystemGetCudaDriverVersion()))
    count = nvml.nvmlDeviceGetCount()
    handles = []
    problems: list[str] = []
    for i in range(count):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            uuid = _optional(lambda h=handle: _text(nvml.nvmlDeviceGetUUID(h))) or ""
            handles.append((i, handle, uuid))
        except Exception as exc:  # noqa: BLE001
            problems.append(f"GPU {i}: {_describe(exc)}")
    order = _visible([(i, uuid) for i, _, uuid in handles], cuda_visible_devices)
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
                    name=_text(nvml.nvmlDeviceGetName(handle)),
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
    if not gpus:
        source: Literal["nvml", "none"] = "none"
        if not notes:
            notes.append("NVML is running but reports no GPU.")
    else:
        source = "nvml"
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
