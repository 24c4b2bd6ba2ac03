"""The `detect_gpus` tool."""

from __future__ import annotations

from finetune_advisor import settings
from finetune_advisor.adapters.nvml import probe
from finetune_advisor.gpus.inventory import GpuInventory


def detect_gpus() -> GpuInventory:
    """List the local NVIDIA GPUs (name, memory, compute capability, bf16) through NVML.

    Call first when the user asks what fits "my GPU"; an empty list means no usable NVIDIA GPU here.
    """
    return probe(cuda_visible_devices=settings.cuda_visible_devices())
