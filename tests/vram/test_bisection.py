"""The length search estimate_vram's suggestions and plan_training share (vram.bisection.longest_length)."""

from __future__ import annotations

from finetune_advisor.vram.bisection import SEQ_STEP, longest_length


def _card(limit_on: int, limit_off: int, offload_from: int):
    """A run that fits up to `limit_off` tokens with the embedding on the GPU and up to `limit_on` once Unsloth moves
    it to host RAM, which it does from `offload_from` tokens."""
    def good(n: int) -> bool:
        return n <= (limit_on if n >= offload_from else limit_off)

    return good, (lambda n: n >= offload_from)


def test_the_lengths_where_unsloth_moves_the_embedding_are_searched_first() -> None:
    good, offloads = _card(limit_on=9000, limit_off=3000, offload_from=6000)
    assert longest_length(20000, good, offloads) == 8960


def test_a_length_rounded_down_does_not_cross_where_the_embedding_moves() -> None:
    # Between 5,990 and 6,000 tokens the run fits only with the embedding moved, which Unsloth does from 5,990; the
    # multiple of 64 below (5,952) keeps it on the GPU and does not fit, so the answer is the shorter side's.
    good, offloads = _card(limit_on=6000, limit_off=3000, offload_from=5990)
    found = longest_length(20000, good, offloads)
    assert found == 2944 and good(found) and found % SEQ_STEP == 0


def test_without_a_break_it_is_the_longest_multiple_and_short_lengths_stay_exact() -> None:
    assert longest_length(20000, lambda n: n <= 4100, lambda n: False) == 4096
    assert longest_length(20000, lambda n: n <= 50, lambda n: False) == 50
    assert longest_length(20000, lambda n: False, lambda n: False) is None
    assert longest_length(0, lambda n: True, lambda n: False) is None
