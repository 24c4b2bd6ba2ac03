"""What someone with write access to the cache directory can plant there, and a bounded way to read it.

A FIFO without a writer blocks a plain open() for ever, so a test of the code that reads it runs that
code in a thread with a time limit, then wakes it (by opening the FIFO for writing) whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def plant_fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def wake(fifo: Path) -> None:
    """Open `fifo` for writing and close it: a reader blocked in open() returns (and then reads nothing)."""
    with contextlib.suppress(OSError):  # no reader (ENXIO), or gone: nothing to wake
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def within(seconds: float, fn: Callable[..., Any], *args: Any, fifo: Path | None = None) -> Any:
    """`fn(*args)`, which must return within `seconds` (AssertionError otherwise); its exception is raised here."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    stuck = thread.is_alive()
    if stuck and fifo is not None:
        wake(fifo)
        thread.join(5)
    assert not stuck, f"{getattr(fn, '__name__', fn)} was still blocked after {seconds} s"
    if "error" in box:
        raise box["error"]
    return box.get("result")
