"""The `detect_gpus` tool."""

from __future__ import annotations

import functools
import time
from typing import NamedTuple

from finetune_advisor import settings
from finetune_advisor.adapters.nvml import GpuInventory, probe

_CACHE_SECONDS = 5.0


def detect_gpus() -> GpuInventory:
    """List the local NVIDIA GPUs (name, memory, compute capability, bf16) through NVML.

    Call first when the user asks what fits "my GPU"; an empty list means no usable NVIDIA GPU here.
    """
    return probe(cuda_visible_devices=settings.cuda_visible_devices())


@functools.lru_cache(maxsize=1)
def _cached(_bucket: int, visible: str | None) -> GpuInventory:
    return probe(cuda_visible_devices=visible)


class LocalGpu(NamedTuple):
    memory_gib: float | None  # None when no GPU is visible
    description: str
    bf16: bool  # True when there is no GPU to ask


def local_gpu() -> LocalGpu:
    """The first visible GPU, for tools that default to the local GPU (one NVML probe).

    Cached for a few seconds: recommendation and estimation calls come in bursts.
    """
    inventory = _cached(int(time.monotonic() // _CACHE_SECONDS), settings.cuda_visible_devices())
    if not inventory.gpus:
        return LocalGpu(None, inventory.note or "no GPU detected", True)
    gpu = inventory.gpus[0]
    return LocalGpu(gpu.memory_total_gib, f"{gpu.name} (GPU 0, {gpu.memory_total_gib} GiB, detected)", gpu.bf16_supported)
