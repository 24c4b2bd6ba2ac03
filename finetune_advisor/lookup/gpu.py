"""The GPU a tool plans for: named, sized, or this machine's (through NVML), else unknown."""

from __future__ import annotations

from finetune_advisor.adapters import nvml
from finetune_advisor.errors import InvalidInputError
from finetune_advisor.gpus import caller, table, target
from finetune_advisor.gpus.target import GpuTarget


def resolve_gpu(gpu: str | None, gpu_memory_gib: float | None, bf16: bool | None = None) -> GpuTarget:
    """`gpu` (a name) or `gpu_memory_gib`, never both; with neither, the first visible local GPU."""
    if gpu is not None and gpu_memory_gib is not None:
        raise InvalidInputError("gpu", "give the GPU by name or by memory, not both",
                                "either 'gpu' (a name, e.g. 'RTX 4090') or 'gpu_memory_gib' (e.g. 24)")
    if gpu is not None and gpu.strip():
        return target.named(gpu, bf16)
    if gpu_memory_gib is not None:
        return target.by_memory(gpu_memory_gib, bf16)
    if caller.is_remote():  # over HTTP this machine's GPU is the server's, not the user's
        return target.unknown(caller.NO_GPU_ASSUMED)
    local = nvml.local_gpu()
    if local.memory_gib is None:
        return target.unknown(f"none given or detected ({local.description}): fit not checked; pass 'gpu' (a name) or 'gpu_memory_gib'")
    spec = table.from_nvml(local.name, local.memory_gib) if local.name else None
    return GpuTarget(local.memory_gib, "detected", local.description, local.bf16 if bf16 is None else bf16, None, spec,
                     target.reserved_for(spec), detected_capability=local.capability)


def gpu_count(gpu: GpuTarget, num_gpus: int | None) -> int:
    """num_gpus, or the count the GPU's name gave ('4xA100-80GB'), else 1; the two must agree."""
    if gpu.count is not None and num_gpus is not None and gpu.count != num_gpus:
        raise InvalidInputError("num_gpus", f"{num_gpus} disagrees with the {gpu.count} GPUs named in gpu",
                                f"{gpu.count}, or leave num_gpus out")
    return num_gpus or gpu.count or 1
