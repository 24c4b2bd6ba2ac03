"""The largest seq_len, micro-batch and LoRA rank that fit, searched on the memory estimator itself.

Each search asks `vram.report.fitted` (estimate_vram's estimate, its embedding-offload rule and its
verdict) and keeps what fits *comfortably*: a plan is for a long run, so it leaves the estimator's
measured error free. Memory grows with each of the three, so bisection finds the largest; with one break in
seq_len: from the length at which Unsloth moves the input embedding to host RAM (its reserve for the step grows
with the length), the estimate drops by the embedding, so the lengths from there on are searched first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from operator import attrgetter

from finetune_advisor.vram.bisection import largest, longest_length
from finetune_advisor.vram.estimator import RunConfig
from finetune_advisor.vram.fit import Fit
from finetune_advisor.vram.report import fitted
from finetune_advisor.vram.resolve import ResolvedArch

MAX_MICRO_BATCH = 64
RANKS = (4, 8, 16, 32, 64, 128, 256, 512, 1024)


Card = tuple[float, float]  # (GPU memory as the driver reports it, the driver's share), GiB
COMFORTABLE: Callable[[Fit], bool] = attrgetter("comfortable")  # verdict tests for the searches
FITS: Callable[[Fit], bool] = attrgetter("fits")  # estimate_vram's "fits", tight or not


def verdict(resolved: ResolvedArch, run: RunConfig, card: Card) -> Fit:
    """estimate_vram's verdict for `run` on the card (whose memory is known)."""
    return fitted(resolved, run, *card)[2]


def comfortable(resolved: ResolvedArch, run: RunConfig, card: Card) -> bool:
    return verdict(resolved, run, card).comfortable


def longest_seq_len(resolved: ResolvedArch, run: RunConfig, card: Card, context: int,
                    ok: Callable[[Fit], bool] = COMFORTABLE) -> int | None:
    """The longest seq_len (a multiple of 64 above 64) at `run.batch_size` whose verdict passes `ok` (comfortable by
    default): above the length from which Unsloth offloads the input embedding if any fits there, else below it."""

    @functools.cache  # the search asks both where the embedding goes and the verdict, at the same lengths
    def at(n: int) -> tuple[RunConfig, Fit]:
        found, _, judged = fitted(resolved, run.model_copy(update={"seq_len": n}), *card)
        return found, judged

    return longest_length(context, lambda n: ok(at(n)[1]), lambda n: at(n)[0].offload_embedding)


def largest_batch(resolved: ResolvedArch, run: RunConfig, card: Card, cap: int = MAX_MICRO_BATCH) -> int | None:
    """The largest micro-batch (rows of `run.seq_len` tokens) that fits comfortably, up to `cap`."""
    return largest(1, cap, lambda b: comfortable(resolved, run.model_copy(update={"batch_size": b}), card))


def largest_rank(resolved: ResolvedArch, run: RunConfig, card: Card) -> int | None:
    """The largest LoRA rank among 4, 8, ... 1024 (at most the hidden size) that fits comfortably."""
    ranks = [r for r in RANKS if r <= resolved.arch.hidden_size]
    fits = [r for r in ranks if comfortable(resolved, run.model_copy(update={"lora_rank": r}), card)]
    return max(fits, default=None)
