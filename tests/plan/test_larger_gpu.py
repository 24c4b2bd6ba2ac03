"""When a run does not fit, the answer says how much GPU memory it needs and the smallest GPU of the packaged table
with room for it; the plan's no-fit note claims only what was tried (attack pass B5)."""

from __future__ import annotations

import re

from finetune_advisor.gpus.table import load_table
from finetune_advisor.tools.estimate_vram import estimate_vram
from finetune_advisor.tools.plan_training import plan_training


def _larger_gpu(suggestions):
    found = [s for s in suggestions if "gpu_memory_gib" in s.arguments]
    assert len(found) == 1
    return found[0]


def test_a_run_too_big_for_its_gpu_is_told_the_memory_it_needs_and_the_smallest_gpu_with_room() -> None:
    """qwen3-8b QLoRA on 4 GiB used to get no suggestion at all."""
    small = estimate_vram(model="qwen3-8b", method="qlora", gpu_memory_gib=4)
    assert not small.fits
    larger = _larger_gpu(small.suggestions)
    need = larger.arguments["gpu_memory_gib"]
    assert larger.fits and need > small.total_gib
    assert estimate_vram(model="qwen3-8b", method="qlora", gpu_memory_gib=need).fits
    named = re.search(r"the smallest in the packaged GPU table with room to spare: the (.+), [\d.]+ GiB$", larger.change)
    assert named, larger.change
    on_it = estimate_vram(model="qwen3-8b", method="qlora", gpu=named.group(1))
    assert on_it.fits and not on_it.tight
    smaller = [g for g in load_table().gpus if g.memory_mib < next(t for t in load_table().gpus if t.name == named.group(1)).memory_mib]
    assert smaller and not any((e := estimate_vram(model="qwen3-8b", method="qlora", gpu=g.name)).fits and not e.tight
                               for g in smaller)


def test_a_run_no_gpu_of_the_table_holds_is_said_not_to_fit_on_a_larger_one() -> None:
    hopeless = plan_training(params_b=10000, gpu="H100", method="qlora")
    assert not hopeless.fits and hopeless.memory.total_gib > max(g.memory_gib for g in load_table().gpus)
    assert not hopeless.memory.suggestions
    assert any("no change estimate_vram tries (more GPUs, a larger GPU) makes it fit" in n for n in hopeless.notes)


def test_the_no_fit_note_points_to_suggestions_that_were_tried() -> None:
    p = plan_training(model="qwen3-8b", gpu_memory_gib=0.25)
    said = [n for n in p.notes if n.startswith("Does not fit at any seq_len")]
    assert said == ["Does not fit at any seq_len, down to one token a row at batch 1: see memory.suggestions (more GPUs, "
                    "a larger GPU)."]
    assert _larger_gpu(p.memory.suggestions).fits
