"""Bisection over run sizes the estimator grows with: the largest that passes, the smallest that flips (pure)."""

from __future__ import annotations

from collections.abc import Callable


def largest(low: int, high: int, ok: Callable[[int], bool]) -> int | None:
    """The largest n in [low, high] with ok(n), for ok true up to some n and false above; None if ok(low) fails."""
    if high < low or not ok(low):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        if ok(mid):
            low = mid
        else:
            high = mid - 1
    return low


def smallest(low: int, high: int, ok: Callable[[int], bool]) -> int | None:
    """The smallest n in [low, high] with ok(n), for ok false below some n and true from it; None if ok(high) fails."""
    if high < low or not ok(high):
        return None
    while low < high:
        mid = (low + high) // 2
        if ok(mid):
            high = mid
        else:
            low = mid + 1
    return low


SEQ_STEP = 64  # seq_len answers are multiples of this above it (kernels and packing like round lengths)


def longest_length(high: int, good: Callable[[int], bool], offloads: Callable[[int], bool]) -> int | None:
    """The longest seq_len in [1, high] with good(n), a multiple of SEQ_STEP from SEQ_STEP up; None if none is.

    good(n) holds up to some length and fails above it, but for one break: from the smallest length at which
    offloads(n) holds (Unsloth moves the input embedding to host RAM once its reserve for the step, which grows with
    the length, outgrows what the card has left), the run is lighter by the embedding. Those lengths are searched
    first, then the shorter ones, each side on its own lengths (a length rounded down must not cross the break)."""
    first = smallest(1, high, offloads)
    for low, top in ((first, high), (1, first - 1)) if first else ((1, high),):
        found = _stepped(low, top, good)
        if found is not None:
            return found
    return None


def _stepped(low: int, high: int, good: Callable[[int], bool]) -> int | None:
    """The largest n in [low, high] with good(n): a multiple of SEQ_STEP, or a length below SEQ_STEP if none is."""
    k = largest(-(-low // SEQ_STEP), high // SEQ_STEP, lambda k: good(k * SEQ_STEP))
    if k is not None:
        return k * SEQ_STEP
    return largest(low, min(high, SEQ_STEP - 1), good)
