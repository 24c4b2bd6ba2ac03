"""The `detect_gpus` tool."""

from __future__ import annotations

import functools
import time

from finetune_advisor.tools import settings
from finetune_advisor.tools.gpu import GpuInventory, probe

_CACHE_SECONDS = 5.0


def detect_gpus() -> GpuInventory:
    """List the local NVIDIA GPUs (name, memory, compute capability, bf16) through NVML.

    Call first when the user asks what fits "my GPU"; an empty list means no usable NVIDIA GPU here.
    """
    return probe(cuda_visible_devices=settings.cuda_visible_devices())


@functools.lru_cache(maxsize=1)
def _cached(_bucket: int, visible: str | None) -> GpuInventory:
    return probe(cuda_visible_devices=visible)


def local_gpu_bf16() -> bool:
    """Whether the first visible GPU trains in bf16 (True when there is none to ask)."""
    inventory = _cached(int(time.monotonic() // _CACHE_SECONDS), settings.cuda_visible_devices())
    return inventory.gpus[0].bf16_supported if inventory.gpus else True


def local_gpu_memory_gib() -> tuple[float | None, str]:
    """Memory of the first visible GPU and its name, for tools that default to the local GPU.

    Cached for a few seconds: recommendation and estimation calls come in bursts.
    """
    inventory = _cached(int(time.monotonic() // _CACHE_SECONDS), settings.cuda_visible_devices())
    if not inventory.gpus:
        return None, inventory.note or "no GPU detected"
    gpu = inventory.gpus[0]
    return gpu.memory_total_gib, f"{gpu.name} (GPU 0, {gpu.memory_total_gib} GiB, detected)"
