"""The packaged table of NVIDIA GPUs, and how a name a person types finds one (pure).

Users name GPUs ("a 4090", "a free Colab T4", "4xA100-80GB"), not GiB. Each entry holds the
memory as the driver reports it, compute capability (bf16 from 8.0), dense tensor-core TFLOPS with
FP32 accumulate, and memory bandwidth, each with its source and a basis that says how sure it is.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from finetune_advisor.errors import DataError, InvalidInputError
from finetune_advisor.vocabulary import MAX_CHARS

Basis = Literal["published", "derived", "unverified", "unknown"]
MemoryBasis = Literal["driver", "driver-unlinked", "marketed"]
MAX_NAME_CHARS = MAX_CHARS["gpu"]
_COUNT = re.compile(r"^\s*(\d{1,6})\s*[x×*]\s*(.+)$", re.IGNORECASE)
_COUNT_AFTER = re.compile(r"^\s*(.+?)\s*[x×*:]\s*(\d{1,6})\s*$", re.IGNORECASE)  # 'H100x2', 'H100 x 4', 'H100:2'

# Words that do not tell GPUs apart ("a free Colab T4", "my RTX 4090", "NVIDIA GeForce ...").
_NOISE = re.compile(r"\b(nvidia|geforce|tesla|rtx|a|an|my|the|free|one)\b|[\s_\-]+", re.IGNORECASE)


class GpuSpec(BaseModel):
    """One GPU model, every figure with its source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    aliases: tuple[str, ...]
    nvml_names: tuple[str, ...]
    form: Literal["consumer", "datacenter", "workstation"]
    memory_mib: int = Field(gt=0)
    memory_basis: MemoryBasis
    memory_source: str | None
    memory_note: str | None
    compute_capability: str = Field(pattern=r"^\d+\.\d$")
    compute_capability_source: str | None
    bf16: bool
    tflops_bf16: float | None = Field(gt=0)
    tflops_fp16: float | None = Field(gt=0)
    tflops_basis: Basis
    tflops_source: str | None
    tflops_note: str | None
    # Plain fp32 (CUDA-core) TFLOPS, where training can fall back to it: GPUs without bf16, on which Unsloth
    # trains its float32-forced families without fp16 autocast.
    tflops_fp32: float | None = Field(default=None, gt=0)
    tflops_fp32_source: str | None = None
    bandwidth_gbs: float | None = Field(gt=0)
    bandwidth_basis: Basis
    bandwidth_source: str | None
    bandwidth_note: str | None
    measured_matmul_tflops: float | None = Field(gt=0)
    measured_source: str | None
    # What the driver keeps of `memory_mib`: the driver-reported total minus what CUDA reports as the
    # device's total, the largest seen in public runs; None: the share measured on our H100/H200 applies.
    driver_reserved_gib: float | None = Field(default=None, ge=0, lt=4)
    driver_reserved_source: str | None = None
    # Streaming multiprocessors, where a source gives them: what spilling kernels reserve scales with them.
    sm_count: int | None = Field(default=None, gt=0)
    sm_count_source: str | None = None

    @property
    def memory_gib(self) -> float:
        return round(self.memory_mib / 1024, 2)

    def tensor_tflops(self, bf16: bool) -> float | None:
        """Dense tensor-core TFLOPS for 16-bit training (bf16 where the GPU has it, else fp16)."""
        return self.tflops_bf16 if bf16 and self.bf16 else self.tflops_fp16


class GpuTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    about: str
    reviewed: str
    gpus: tuple[GpuSpec, ...]


def _key(name: str) -> str:
    return _NOISE.sub("", name.lower())


@functools.cache
def load_table() -> GpuTable:
    text = resources.files("finetune_advisor.gpus").joinpath("gpus.json").read_text(encoding="utf-8")
    try:
        return GpuTable.model_validate(json.loads(text))
    except ValueError as exc:  # pragma: no cover - the packaged file is checked by the tests
        raise DataError(f"the packaged GPU table is invalid: {exc}") from exc


@functools.cache
def _index() -> dict[str, tuple[GpuSpec, ...]]:
    """Every spelling of every GPU, to the GPUs it names (in table order; several when a name is shared)."""
    found: dict[str, tuple[GpuSpec, ...]] = {}
    for gpu in load_table().gpus:
        for name in (gpu.name, *gpu.aliases, *gpu.nvml_names):
            key = _key(name)
            if gpu not in found.get(key, ()):
                found[key] = (*found.get(key, ()), gpu)
    return found


def names() -> list[str]:
    return [gpu.name for gpu in load_table().gpus]


def find(name: str, field: str = "gpu") -> GpuSpec:
    """The GPU a person named; an unknown name is an error with the closest names and the list."""
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInputError(field, f"a GPU name of {len(name)} characters is too long", f"at most {MAX_NAME_CHARS}")
    hits = _index().get(_key(name), ())
    if len({g.memory_mib for g in hits}) > 1:  # one name, several memory sizes (RTX 4060 Ti 8GB / 16GB)
        raise InvalidInputError(field, f"{name!r} is sold with different memory sizes",
                                " or ".join(repr(g.name) for g in hits) + "; or give gpu_memory_gib instead")
    if hits:
        return hits[0]  # same memory: the first listed (H100 -> the SXM card)
    typed = _key(name)  # names it begins first ('RTX 6000' -> RTX 6000 Ada), then the closest spellings
    begun = [k for k in _index() if len(typed) > 1 and k.startswith(typed)]
    close = begun + difflib.get_close_matches(typed, list(_index()), n=8, cutoff=0.6)
    guesses = list(dict.fromkeys(g.name for c in close for g in _index()[c]))[:3]
    hint = f" (did you mean {' or '.join(repr(g) for g in guesses)}?)" if guesses else ""
    raise InvalidInputError(field, f"{name!r} is not a GPU in the packaged table of NVIDIA GPUs{hint}",
                            "a name such as " + ", ".join(names()) + "; or give gpu_memory_gib instead")


def namesakes(name: str) -> tuple[GpuSpec, ...]:
    """The other GPUs a name also matches, of the same memory, that `find` did not take ('H100' -> the PCIe card
    beside the SXM one); empty for a name that is one GPU's alone."""
    return _index().get(_key(name), ())[1:]


def parse_count(text: str) -> tuple[int | None, str]:
    """'4xA100-80GB' or 'A100-80GB x4' -> (4, 'A100-80GB'); a bare name -> (None, the name): no count stated."""
    if match := _COUNT.match(text):
        return int(match.group(1)), match.group(2).strip()
    if (match := _COUNT_AFTER.match(text)) and _key(text) not in _index() and _key(match.group(1)) in _index():
        return int(match.group(2)), match.group(1).strip()
    return None, text.strip()


def parse(text: str, field: str = "gpu") -> tuple[int | None, GpuSpec]:
    """'4xA100-80GB' -> (4, A100-80GB); a bare name -> (None, the GPU): no count stated."""
    count, name = parse_count(text)
    if count is not None and count < 1:
        raise InvalidInputError(field, f"{text!r} names {count} GPUs", "a count of at least 1, e.g. '4xA100-80GB'")
    return count, find(name, field)


def from_nvml(name: str, memory_gib: float) -> GpuSpec | None:
    """The table's entry for a detected GPU (NVML name), the one closest in memory when names repeat."""
    candidates = [g for g in load_table().gpus if name in g.nvml_names] or list(_index().get(_key(name), ()))
    return min(candidates, key=lambda g: abs(g.memory_gib - memory_gib), default=None)
