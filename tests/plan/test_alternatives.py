"""plan_training's "instead" table: each alternative is the same request with one change, planned afresh, and says
when it trains at another seq_len or rank than the plan (attack pass B3)."""

from __future__ import annotations

import pytest

from finetune_advisor.tools.plan_training import plan_training

LONG_ROWS = {"model": "qwen3-8b", "gpu": "T4", "method": "qlora", "dataset_rows": 20_000, "tokens_per_row": 30_000}
SHORT_ROWS = {"model": "llama-3.1-8b", "gpu": "H100", "method": "qlora", "dataset_rows": 20_000, "tokens_per_row": 400,
              "longest_row": 1500}
CHANGES = {"LoRA (16-bit) instead of QLoRA": {"method": "lora"}, "the transformers stack": {"stack": "transformers"},
           "2 GPUs": {"num_gpus": 2}}


def _alternative(plan, label: str):
    return next(a for a in plan.alternatives if a.change.startswith(label))


@pytest.mark.parametrize("label", list(CHANGES))
def test_each_alternative_is_the_request_planned_afresh_with_that_one_change(label: str) -> None:
    """Memory sets the plan's length (24,448 of 30,000-token rows on a T4). Two GPUs with DDP leave a little less room
    a GPU: they used to be held at the plan's length and said not to fit; planned afresh they fit a shorter one."""
    plan = plan_training(**LONG_ROWS)
    alternative = _alternative(plan, label)
    afresh = plan_training(**{**LONG_ROWS, **CHANGES[label]})
    assert alternative.fits == afresh.fits
    if afresh.fits:
        assert (alternative.seq_len, alternative.micro_batch, alternative.hours) == (afresh.seq_len, afresh.micro_batch, afresh.hours)


def test_an_alternative_at_another_length_names_it_and_is_not_compared_by_time() -> None:
    plan = plan_training(**LONG_ROWS)
    two = _alternative(plan, "2 GPUs")
    assert two.fits and two.seq_len < plan.seq_len and two.micro_batch >= 1
    assert two.change == f"2 GPUs, at seq_len {two.seq_len}"
    assert two.vs_plan is None  # its rows are cut shorter: fewer tokens trained, not a faster run of the same work
    assert not any(n.startswith("More GPUs would not help much") for n in plan.notes)


def test_an_alternative_at_the_plans_length_is_compared_by_time() -> None:
    plan = plan_training(**SHORT_ROWS)
    two = _alternative(plan, "2 GPUs")
    assert two.change == "2 GPUs" and two.seq_len == plan.seq_len == 1536
    assert two.vs_plan == round(two.hours / plan.hours, 2) and two.vs_plan < 0.75
