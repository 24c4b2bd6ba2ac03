"""The `detect_gpus` tool."""

from __future__ import annotations

from finetune_advisor import settings
from finetune_advisor.adapters.nvml import probe
from finetune_advisor.gpus import caller
from finetune_advisor.gpus.inventory import GpuInventory


def detect_gpus() -> GpuInventory:
    """List the NVIDIA GPUs (name, memory, compute capability, bf16) of the machine running this server.

    The user's own GPUs when `machine` is local; over HTTP (`machine: server`) ask the user for theirs.
    """
    inventory = probe(cuda_visible_devices=settings.cuda_visible_devices())
    if caller.is_remote():
        note = " ".join(filter(None, [caller.SERVER_GPUS, inventory.note]))
        return inventory.model_copy(update={"machine": "server", "note": note})
    return inventory
