"""The largest seq_len, micro-batch and LoRA rank that fit, searched on the memory estimator itself.

Each search asks `vram.report.fitted` (estimate_vram's estimate, its embedding-offload rule and its
verdict) and keeps what fits *comfortably*: a plan is for a long run, so it leaves the estimator's
measured error free. Memory grows with each of the three, so bisection finds the largest; with one break in
seq_len: from the length at which Unsloth moves the input embedding to host RAM (its reserve for the step grows
with the length), the estimate drops by the embedding, so the lengths from there on are searched first.
"""

from __future__ import annotations

from collections.abc import Callable

from finetune_advisor.vram.bisection import largest, longest_length
from finetune_advisor.vram.estimator import RunConfig
from finetune_advisor.vram.fit import Fit
from finetune_advisor.vram.report import fitted
from finetune_advisor.vram.resolve import ResolvedArch

MAX_MICRO_BATCH = 64
RANKS = (4, 8, 16, 32, 64, 128, 256, 512, 1024)


Card = tuple[float, float]  # (GPU memory as the driver reports it, the driver's share), GiB


def verdict(resolved: ResolvedArch, run: RunConfig, card: Card) -> Fit:
    """estimate_vram's verdict for `run` on the card (whose memory is known)."""
    return fitted(resolved, run, *card)[2]


def comfortable(resolved: ResolvedArch, run: RunConfig, card: Card) -> bool:
    return verdict(resolved, run, card).comfortable


def fits(resolved: ResolvedArch, run: RunConfig, card: Card) -> bool:
    """estimate_vram's "fits", tight or not."""
    return verdict(resolved, run, card).fits


def longest_seq_len(resolved: ResolvedArch, run: RunConfig, card: Card, context: int,
                    ok: Callable[[ResolvedArch, RunConfig, Card], bool] = comfortable) -> int | None:
    """The longest seq_len (a multiple of 64 above 64) at `run.batch_size` that fits comfortably (or by `ok`): above
    the length from which Unsloth offloads the input embedding if any fits there, else below it."""
    def at(n: int) -> RunConfig:
        return run.model_copy(update={"seq_len": n})

    def good(n: int) -> bool:
        return ok(resolved, at(n), card)

    return longest_length(context, good, lambda n: fitted(resolved, at(n), *card)[0].offload_embedding)


def largest_batch(resolved: ResolvedArch, run: RunConfig, card: Card, cap: int = MAX_MICRO_BATCH) -> int | None:
    """The largest micro-batch (rows of `run.seq_len` tokens) that fits comfortably, up to `cap`."""
    return largest(1, cap, lambda b: comfortable(resolved, run.model_copy(update={"batch_size": b}), card))


def largest_rank(resolved: ResolvedArch, run: RunConfig, card: Card) -> int | None:
    """The largest LoRA rank among 4, 8, ... 1024 (at most the hidden size) that fits comfortably."""
    ranks = [r for r in RANKS if r <= resolved.arch.hidden_size]
    fits = [r for r in ranks if comfortable(resolved, run.model_copy(update={"lora_rank": r}), card)]
    return max(fits, default=None)
