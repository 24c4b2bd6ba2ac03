"""Whose machine "this machine" is for the call being answered.

Over stdio the server is started by the user's MCP host on the user's own computer, so its GPUs
are the user's. Over HTTP it runs wherever it was deployed, and its GPUs say nothing about the
user's: detect_gpus then labels them as the server's, and recommend_model and estimate_vram do not
plan for them when the client gave no GPU. The server marks each call (`server/app.py`); the tools
read the mark.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_REMOTE: ContextVar[bool] = ContextVar("finetune_advisor_remote_caller", default=False)

SERVER_GPUS = (
    "These are the GPUs of the machine serving MCP over HTTP, not necessarily the user's: "
    "ask the user which GPU they will train on."
)
NO_GPU_ASSUMED = (
    "none given: this server answers over HTTP, so its own GPU is not assumed to be the user's; "
    "pass gpu (a name such as 'RTX 4090') or gpu_memory_gib (ask the user which GPU they will train on)"
)


@contextmanager
def remote_caller() -> Iterator[None]:
    """Within this block the caller is a client on another machine (MCP over HTTP)."""
    token = _REMOTE.set(True)
    try:
        yield
    finally:
        _REMOTE.reset(token)


def is_remote() -> bool:
    return _REMOTE.get()
