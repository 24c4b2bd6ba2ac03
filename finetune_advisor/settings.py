"""Every environment variable the project reads, read here and nowhere else.

Values are read when asked for (not at import), so tests and long-running servers see changes.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DOCS_URL = "https://unsloth.ai/docs"


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _as_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if value > 0 else default


def offline() -> bool:
    """True when the user asked for no network at all (FINETUNE_ADVISOR_OFFLINE)."""
    return _is_true(os.environ.get("FINETUNE_ADVISOR_OFFLINE"))


def hub_offline() -> bool:
    """True when the Hub must not be contacted: HF_HUB_OFFLINE, or no network at all."""
    return _is_true(os.environ.get("HF_HUB_OFFLINE")) or offline()


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or "https://huggingface.co"


def hub_token() -> str | None:
    return os.environ.get("HF_TOKEN") or None


def hub_timeout() -> float:
    """Seconds allowed for one Hub request."""
    return _as_float("FINETUNE_ADVISOR_HUB_TIMEOUT", 8.0)


def docs_url() -> str:
    return (os.environ.get("FINETUNE_ADVISOR_DOCS_URL") or DEFAULT_DOCS_URL).rstrip("/")


def docs_timeout() -> float:
    """Overall bound, in seconds, for one docs question (retries included)."""
    return _as_float("FINETUNE_ADVISOR_DOCS_TIMEOUT", 15.0)


def docs_cache_ttl() -> float:
    """Seconds a cached docs answer stays fresh; 0 turns the docs cache off (default one week)."""
    raw = os.environ.get("FINETUNE_ADVISOR_DOCS_CACHE_TTL")
    if raw is None or not raw.strip():
        return 7 * 24 * 3600.0
    try:
        value = float(raw)
    except ValueError:
        return 7 * 24 * 3600.0
    return max(value, 0.0)


def cache_dir() -> Path:
    """Where answers and the refreshed catalog are cached."""
    explicit = os.environ.get("FINETUNE_ADVISOR_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "finetune-advisor"


def http_token() -> str | None:
    """Bearer token required by the HTTP transport when it binds a non-loopback address."""
    token = os.environ.get("FINETUNE_ADVISOR_HTTP_TOKEN", "").strip()
    return token or None


def log_level() -> str:
    return (os.environ.get("FINETUNE_ADVISOR_LOG_LEVEL") or "WARNING").upper()


def cuda_visible_devices() -> str | None:
    """CUDA_VISIBLE_DEVICES as set (None when unset; an empty string hides every GPU)."""
    return os.environ.get("CUDA_VISIBLE_DEVICES")
