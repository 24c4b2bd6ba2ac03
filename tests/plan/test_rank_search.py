"""search_rank (`--rank max`): the largest LoRA rank that fits, searched before the micro-batch is sized
(attack pass B4: searched after, it found only the default rank 16)."""

from __future__ import annotations

from finetune_advisor.tools.estimate_vram import estimate_vram
from finetune_advisor.tools.plan_training import plan_training

ASKED = {"model": "qwen3-8b", "gpu": "RTX 4090", "method": "lora", "dataset_rows": 1000, "tokens_per_row": 500}


def test_the_rank_search_finds_the_largest_rank_that_fits_at_micro_batch_one() -> None:
    p = plan_training(**ASKED, search_rank=True)
    at_batch_one = plan_training(**ASKED, search_rank=True, batch_size=1)
    assert p.lora_rank == at_batch_one.lora_rank > 16
    assert p.fits and p.memory.fits and not p.memory.tight  # the micro-batch was sized for that rank
    twice = estimate_vram(model="qwen3-8b", method="lora", gpu="RTX 4090", seq_len=p.seq_len, batch_size=1,
                          lora_rank=p.lora_rank * 2)
    assert twice.tight or not twice.fits


def test_the_plan_says_what_the_rank_cost_in_micro_batch() -> None:
    default = plan_training(**ASKED)
    p = plan_training(**ASKED, search_rank=True)
    said = [n for n in p.notes if n.startswith(f"Rank {p.lora_rank} is the largest that fits comfortably at micro-batch 1")]
    assert len(said) == 1
    assert f"up to {p.max_micro_batch} rows" in said[0] and f"at rank 16, up to {default.max_micro_batch} would fit" in said[0]
    assert p.max_micro_batch < default.max_micro_batch
    assert not any(n.startswith("Rank ") for n in default.notes)
