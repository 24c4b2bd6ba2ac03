"""CLI subcommands: each module has `register(subparsers)` setting `handler(args) -> int`."""

from __future__ import annotations

import argparse


def non_negative_int(text: str) -> int:
    """argparse type for counts (rows, monthly users)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give a number >= 0")
    return value
