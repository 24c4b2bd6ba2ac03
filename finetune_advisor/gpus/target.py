"""The GPU a run is planned for, however the user gave it (pure).

By name from the packaged table ("T4", "4xA100-80GB"), by memory (`gpu_memory_gib`), or the
machine's own GPU; or unknown, when fit cannot be checked. `description` is the phrase answers show.
"""

from __future__ import annotations

from dataclasses import dataclass

from finetune_advisor.errors import InvalidInputError
from finetune_advisor.gpus import table
from finetune_advisor.gpus.table import GpuSpec
from finetune_advisor.vocabulary import MemorySource, check_range
from finetune_advisor.vram.constants import DRIVER_RESERVED_GIB
from finetune_advisor.vram.local_memory import deltanet_stack_gib


@dataclass(frozen=True)
class GpuTarget:
    """Memory per GPU (None: unknown), how many, bf16, where it came from, and the table's entry."""

    memory_gib: float | None
    source: MemorySource
    description: str
    bf16: bool = True
    count: int | None = None  # None: not stated (the tool's num_gpus applies)
    spec: GpuSpec | None = None
    reserved_gib: float = DRIVER_RESERVED_GIB  # what the driver keeps of memory_gib
    like: GpuSpec | None = None  # given by memory: the table's GPU of that size whose spilling kernels hold the most
    detected_capability: str | None = None  # NVML's reading of a detected GPU, which the table may not list

    @property
    def capability(self) -> str | None:
        """The compute capability of the GPU named or detected ('8.9'); None where it is known only by memory."""
        return self.spec.compute_capability if self.spec else self.detected_capability

    @property
    def silicon(self) -> dict[str, str | int | None]:
        """RunConfig's GPU fields (compute capability, SMs, name): None where the GPU or the figure is unknown."""
        spec = self.spec or self.like
        if spec is None:
            return {}
        name = spec.name if self.spec else f"{spec.name} (of the GPUs this size in our table, the one that holds most)"
        return {"gpu_capability": spec.compute_capability, "gpu_sms": spec.sm_count, "gpu_name": name}


def reserved_for(spec: GpuSpec | None) -> float:
    """The driver's share of this GPU's memory: measured for it where the table has it, else ours (H100/H200)."""
    return spec.driver_reserved_gib if spec is not None and spec.driver_reserved_gib is not None else DRIVER_RESERVED_GIB


def unknown(why: str) -> GpuTarget:
    return GpuTarget(None, "unknown", why)


def named(text: str, bf16: bool | None = None) -> GpuTarget:
    """A GPU by name: memory and bf16 from the table; a bf16 request the GPU cannot honour is refused."""
    count, spec = table.parse(text)  # count None: not stated (the tool's num_gpus applies)
    if bf16 and not spec.bf16:
        raise InvalidInputError("bf16", f"the {spec.name} has no bf16 (compute capability {spec.compute_capability})",
                                "false or leave it out for this GPU (it trains in fp16)")
    per = f"{spec.memory_gib:g} GiB" + (" as the driver reports it" if spec.memory_basis != "marketed" else " (marketed size)")
    plural = f"{count} x " if count and count > 1 else ""
    name = table.parse_count(text)[1]
    others = ", ".join(g.name for g in table.namesakes(name))
    also = (f"; {name!r} also names the {others}, with the same memory but other SMs, TFLOPS or bandwidth, so another "
            "time and, for some models, memory: name the card to plan for it") if others else ""
    return GpuTarget(spec.memory_gib, "named", f"{plural}{spec.name} ({per}, from the packaged GPU table{also})",
                     spec.bf16, count, spec, reserved_for(spec))


def by_memory(memory_gib: float, bf16: bool | None = None) -> GpuTarget:
    check_range("gpu_memory_gib", memory_gib)
    return GpuTarget(memory_gib, "argument", f"{memory_gib:g} GiB, as given", True if bf16 is None else bf16,
                     like=most_stack_of_size(memory_gib))


def most_stack_of_size(memory_gib: float) -> GpuSpec | None:
    """Of the table's GPUs with about this memory (a card's driver reports up to a tenth less than its marketed
    size), the one on which spilling kernels hold the most (local_memory); None when one of them has no sourced
    SM count, or none is this size: then the figure of the GPU it was measured on applies."""
    near = [g for g in table.load_table().gpus if 0.9 * memory_gib <= g.memory_gib <= 1.05 * memory_gib]
    if not near or any(g.sm_count is None for g in near):
        return None
    return max(near, key=lambda g: deltanet_stack_gib(g.compute_capability, g.sm_count)[0])
