"""recommend_model and estimate_vram give one fit verdict (issue 14 item 4).

Both ask `vram.fit.judge` about the same estimate of the same checkpoint: for every pick on every
GPU size, and for every catalog model (fitting or not), the two tools agree on `fits`,
`headroom_gib` and `tight`.
"""

from __future__ import annotations

import pytest

from finetune_advisor.adapters.cache import load_catalog
from finetune_advisor.gpus.target import by_memory
from finetune_advisor.recommend import ranking
from finetune_advisor.recommend.facts import FactFinder
from finetune_advisor.tools.estimate_vram import estimate_vram
from finetune_advisor.tools.recommend_model import recommend_model
from finetune_advisor.vocabulary import TASKS

MEMORIES = (4, 8, 12, 16, 23, 24, 40, 80)


def _same_verdict(model: str, method: str, memory: float, fits: bool | None, headroom: float | None, tight: bool | None,
                  total: float | None, images: int = 0, router_aux_loss: bool = True, seq_len: int = 2048) -> None:
    other = estimate_vram(model=model, method=method, gpu_memory_gib=memory, images_per_row=images,
                          router_aux_loss=router_aux_loss, seq_len=seq_len)
    where = f"{model} {method} on {memory} GiB"
    assert (other.fits, other.tight) == (fits, tight), where
    assert other.headroom_gib == pytest.approx(headroom, abs=0.011), where
    assert other.needs_gib == pytest.approx(total, abs=0.051), where  # the figure the verdict is judged on
    assert other.total_gib >= other.needs_gib, where


@pytest.mark.parametrize("memory", MEMORIES)
@pytest.mark.parametrize("task", TASKS)
def test_every_pick_gets_estimate_vrams_verdict(task: str, memory: float) -> None:
    """A vision pick is sized for rows of one image each (the notebooks'), and estimate_vram asked so agrees."""
    for pick in recommend_model(task=task, gpu_memory_gib=memory, top_k=10).recommendations:
        assert pick.fits is True
        _same_verdict(pick.unsloth_model_id or pick.repo_id, pick.method, memory, pick.fits, pick.headroom_gib,
                      pick.tight, pick.estimated_vram_gib, images=int(task == "vision"),
                      router_aux_loss=pick.router_aux_loss)  # a pick sized with the aux loss off says so


def test_a_pick_is_judged_by_its_own_methods_margin() -> None:
    """At 24,576 tokens Llama's LoRA is beyond its measured ground (16,384) and its QLoRA is not (78,475): a QLoRA
    pick takes QLoRA's margin, as estimate_vram does, not the wider LoRA one. On a card with 12 % of llama-3.1-8b's
    QLoRA figure to spare, both tools call it comfortable."""
    from finetune_advisor.vram import fit

    seq_len = 24576
    need = estimate_vram(model="llama-3.1-8b", method="qlora", seq_len=seq_len, gpu_memory_gib=80).needs_gib
    memory = round(need * 1.12 + fit.DRIVER_RESERVED_GIB, 2)
    facts = FactFinder(load_catalog(), memory_gib=memory).facts(load_catalog().get("llama-3.1-8b"), ("qlora", "lora"),
                                                                seq_len)
    assert facts.margins["qlora"] < 0.12 < facts.margins["lora"]
    picks = recommend_model(task="chat", gpu_memory_gib=memory, seq_len=seq_len, top_k=10, max_params_b=8.5)
    pick = next(p for p in picks.recommendations if p.model_id == "llama-3.1-8b")
    assert pick.method == "qlora" and pick.fits and not pick.tight
    _same_verdict(pick.unsloth_model_id or pick.repo_id, pick.method, memory, pick.fits, pick.headroom_gib, pick.tight,
                  pick.estimated_vram_gib, seq_len=seq_len)


@pytest.mark.parametrize("memory", (8, 23, 80))
def test_every_catalog_model_gets_the_same_verdict_in_both_tools(memory: float) -> None:
    """Left out or picked, each model's recommend-side verdict is the one estimate_vram gives."""
    catalog = load_catalog()
    finder = FactFinder(catalog, memory_gib=memory, **by_memory(memory).silicon)  # as recommend_model builds it
    checked = without = 0
    for entry in catalog.models:
        variant = ranking.pick_variant(entry, "instruct")[0]
        for method in ("qlora", "lora"):
            facts = finder.facts(entry, (method,), 2048)
            total = facts.estimates[method]
            repo = ranking.load_ids(entry, variant, method)[0] or entry.instruct_id or entry.base_id
            if total is None or repo is None:
                continue
            found = ranking.verdict(total, memory, margin=facts.margins[method])
            _same_verdict(repo, method, memory, found.fits, found.headroom_gib, found.tight, total)
            checked += 1
            off = facts.aux_off.get(method)  # a MoE whose first Unsloth step keeps the routers' trials, sized without
            if off is not None:
                found = ranking.verdict(off, memory, margin=facts.margins[method])
                _same_verdict(repo, method, memory, found.fits, found.headroom_gib, found.tight, off, router_aux_loss=False)
                without += 1
    assert checked > 1.5 * len(catalog.models)  # nearly every model, both methods
    assert without > 0


@pytest.mark.parametrize("memory", (16, 22.49, 24, 48, 80))
@pytest.mark.parametrize("task", ("chat", "code"))
def test_recommend_and_plan_choose_the_same_method(task: str, memory: float) -> None:
    """Both say "Method auto" and both follow Unsloth Studio's rule, then our estimate: an 8B on an L4 (22.49 GiB)
    was QLoRA in recommend_model ("16-bit LoRA would not fit by Studio's rule") and LoRA in plan_training ("fits
    comfortably"), so an assistant calling one after the other contradicted itself. A MoE that Unsloth advises QLoRA
    against gets LoRA with trl's router aux loss off in both where only that fits (Qwen3-Coder-30B-A3B on 80 GiB)."""
    from finetune_advisor.tools.plan_training import plan_training

    picks = recommend_model(task=task, gpu_memory_gib=memory, top_k=8).recommendations
    assert picks
    for pick in picks:
        planned = plan_training(model=pick.unsloth_model_id or pick.repo_id, gpu_memory_gib=memory, seq_len=2048,
                                batch_size=1)
        assert planned.method == pick.method, (pick.model_id, memory, planned.notes[:2])
        assert planned.memory.needs_gib == pytest.approx(pick.estimated_vram_gib, abs=0.051), pick.model_id
