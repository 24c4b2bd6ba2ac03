"""Shared fixtures. Every test runs isolated from the network, the user's caches and real GPUs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_docs import FakeDocs
from fake_hub import FakeHub


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reaches the Hub, the docs or the user's cache by accident."""
    for name in list(os.environ):
        if name.startswith("FINETUNE_ADVISOR_") or name in {"HF_TOKEN", "HF_ENDPOINT", "CUDA_VISIBLE_DEVICES"}:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("FINETUNE_ADVISOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FINETUNE_ADVISOR_DOCS_URL", "http://127.0.0.1:9/docs")  # closed port: fails fast
    from finetune_advisor.adapters import docs_http

    docs_http.forget_unreachable()  # an unreachable host remembered by one test is not another's
    yield


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make NVML report no GPU, so results do not depend on the test machine."""
    from finetune_advisor.adapters import nvml as gpu

    def missing() -> None:
        raise ImportError("no pynvml in this test")

    monkeypatch.setattr(gpu, "_load_nvml", missing)


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A local fake Hub (tests/fake_hub.py) on 127.0.0.1, with HF_ENDPOINT pointing at it and the
    offline switch lifted for this test; register repos with `fake_hub.add_model(...)`."""
    import huggingface_hub.constants

    hub = FakeHub().start()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # read once at its import
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("FINETUNE_ADVISOR_HUB_TIMEOUT", "2")
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def fake_docs(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDocs]:
    """A fake Unsloth docs site on 127.0.0.1 (tests/fake_docs.py), with the docs URL pointing at it and
    the network switched on (HF_HUB_OFFLINE unset). Switch its behaviour with `fake_docs.set(mode, ...)`."""
    with FakeDocs() as server:
        monkeypatch.setenv("FINETUNE_ADVISOR_DOCS_URL", server.url)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield server
