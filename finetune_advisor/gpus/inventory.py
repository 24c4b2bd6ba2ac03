"""What a machine's GPUs are, as the tools report them (pure data and CUDA's visibility rule).

NVML ignores CUDA_VISIBLE_DEVICES, so `visible` applies it the way the CUDA runtime reads it:
indices or UUID prefixes, stopping at the first invalid or repeated entry.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from finetune_advisor.vocabulary import InventorySource, Machine

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

    source: InventorySource
    machine: Machine = Field(
        default="local",
        description="local: the machine the server runs on (the user's under stdio); server: an HTTP server's "
        "machine, maybe not the user's.",
    )
    gpus: list[GpuInfo] = Field(default_factory=list)
    driver_version: str | None = None
    cuda_driver_version: str | None = Field(default=None, description="Highest CUDA version the driver supports.")
    note: str | None = Field(default=None, description="Why no GPU was found, or what could not be read.")


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def visible(physical: list[tuple[int, str]], spec: str | None) -> list[int] | None:
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
