"""Every environment variable the project reads, read here and nowhere else.

Values are read when asked for (not at import), so tests and long-running servers see changes.
Each reader refuses a malformed value with a `ConfigurationError` of one line naming the
variable and what it accepts (never echoing a secret); `check()` reads them all, and every CLI
command calls it before doing anything else, so bad configuration fails at start-up.
"""

from __future__ import annotations

import ipaddress
import math
import os
from pathlib import Path
from urllib.parse import urlsplit

from finetune_advisor.errors import ConfigurationError

DEFAULT_DOCS_URL = "https://unsloth.ai/docs"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# A bearer token shorter than this is refused: 32 characters of token_urlsafe carry 192 bits.
MIN_TOKEN_CHARS = 32
TOKEN_ADVICE = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
_MAX_TIMEOUT = 3600.0
_MAX_TTL = 365 * 24 * 3600.0


def _get(name: str) -> str | None:
    return os.environ.get(name)


def _flag(name: str) -> bool:
    value = (_get(name) or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name}={_shown(value)} is not a switch. Accepted: 1, true, yes, on (or 0, false, no, off, unset).")


def _seconds(name: str, default: float, most: float = _MAX_TIMEOUT, allow_zero: bool = False) -> float:
    raw = (_get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    low = 0.0 if allow_zero else 0.001
    if not (math.isfinite(value) and low <= value <= most):
        floor = "from 0" if allow_zero else "above 0"
        raise ConfigurationError(f"{name}={_shown(raw)} is not a usable number of seconds. Accepted: {floor}, at most {most:.0f}.")
    return value


def _url(name: str, default: str) -> str:
    raw = (_get(name) or "").strip()
    if not raw:
        return default
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not _is_host(parts.hostname) or parts.query or parts.fragment:
        raise ConfigurationError(
            f"{name} is not a usable URL ({_redacted(raw)}). Accepted: an http:// or https:// URL with a host (a name "
            "of letters, digits, hyphens and dots, or an IP address) and no query or fragment, such as "
            + (default or "https://example.org") + "."
        )
    return raw.rstrip("/")


def _is_host(host: str | None) -> bool:
    """A host a request can be sent to: an IP address, or dot-separated labels of letters (any script), digits,
    hyphens and underscores. 'a b.com' is not: urlsplit takes it, and the request fails only when it is sent."""
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.removesuffix(".").split(".")  # a trailing dot: the fully qualified form
    return all(label and all(c.isalnum() or c in "-_" for c in label) for label in labels)


def _secret(name: str, min_chars: int = 1) -> str | None:
    value = (_get(name) or "").strip()
    if not value:
        return None
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ConfigurationError(f"{name} contains spaces or control characters (not shown). Accepted: a single printable word.")
    if len(value) < min_chars:
        raise ConfigurationError(
            f"{name} is {len(value)} characters long (not shown), too short to resist guessing. "
            f"Accepted: at least {min_chars} random characters; {TOKEN_ADVICE}"
        )
    return value


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


def _redacted(url: str) -> str:
    """The URL as an error may show it: without user:password@, cut short."""
    head, sep, tail = url.partition("://")
    if sep and "@" in tail.split("/", 1)[0]:
        tail = "<credentials>@" + tail.split("@", 1)[1]
    return _shown(head + sep + tail)


def offline() -> bool:
    """True when the user asked for no network at all (FINETUNE_ADVISOR_OFFLINE)."""
    return _flag("FINETUNE_ADVISOR_OFFLINE")


def hub_offline() -> bool:
    """True when the Hub must not be contacted: HF_HUB_OFFLINE, or no network at all."""
    return _flag("HF_HUB_OFFLINE") or offline()


def hub_endpoint() -> str:
    return _url("HF_ENDPOINT", "https://huggingface.co")


def hub_token() -> str | None:
    return _secret("HF_TOKEN")


def hub_timeout() -> float:
    """Seconds allowed for one Hub request."""
    return _seconds("FINETUNE_ADVISOR_HUB_TIMEOUT", 8.0)


def docs_url() -> str:
    return _url("FINETUNE_ADVISOR_DOCS_URL", DEFAULT_DOCS_URL)


def docs_timeout() -> float:
    """Overall bound, in seconds, for one docs question (retries included)."""
    return _seconds("FINETUNE_ADVISOR_DOCS_TIMEOUT", 15.0)


def docs_cache_ttl() -> float:
    """Seconds a cached docs answer stays fresh; 0 turns the docs cache off (default one week)."""
    return _seconds("FINETUNE_ADVISOR_DOCS_CACHE_TTL", 7 * 24 * 3600.0, most=_MAX_TTL, allow_zero=True)


def cache_dir() -> Path:
    """Where answers and the refreshed catalog are cached."""
    explicit = _get("FINETUNE_ADVISOR_CACHE_DIR") or ""  # any path; the cache adapter copes with an unusable one
    if explicit.strip():
        try:
            return Path(explicit).expanduser()
        except RuntimeError:  # `~user/...` for a user without a home directory
            raise ConfigurationError(
                f"FINETUNE_ADVISOR_CACHE_DIR={_shown(explicit)} starts with a ~ whose home directory cannot be found. "
                "Accepted: a path, with ~ or ~user only where that home directory exists."
            ) from None
    base = _get("XDG_CACHE_HOME") or ""
    if not Path(base).is_absolute():  # the XDG spec: a relative path there is invalid and ignored
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # HOME unset, and no passwd entry for this user (a container run as --user 12345)
            raise ConfigurationError(
                "No home directory could be found for the default cache directory ~/.cache/finetune-advisor "
                "(HOME is unset and this user has no entry in the password database). Accepted: "
                "FINETUNE_ADVISOR_CACHE_DIR, or XDG_CACHE_HOME as an absolute path, set to the folder to cache in."
            ) from None
    return Path(base) / "finetune-advisor"


def http_token() -> str | None:
    """Bearer token the HTTP transport requires (at least MIN_TOKEN_CHARS characters)."""
    return _secret("FINETUNE_ADVISOR_HTTP_TOKEN", MIN_TOKEN_CHARS)


def log_level() -> str:
    value = (_get("FINETUNE_ADVISOR_LOG_LEVEL") or "WARNING").strip().upper()
    if value not in LOG_LEVELS:
        raise ConfigurationError(
            f"FINETUNE_ADVISOR_LOG_LEVEL={_shown(value)} is not a log level. Accepted: {', '.join(LOG_LEVELS)}."
        )
    return value


def cuda_visible_devices() -> str | None:
    """CUDA_VISIBLE_DEVICES as set (None when unset; an empty string hides every GPU). Not checked:
    CUDA reads any value (it stops at the first entry it cannot use), and so does detect_gpus."""
    return _get("CUDA_VISIBLE_DEVICES")


def check() -> None:
    """Read every setting once; raise ConfigurationError for the first malformed one."""
    for read in (offline, hub_offline, hub_endpoint, hub_token, hub_timeout, docs_url, docs_timeout,
                 docs_cache_ttl, cache_dir, http_token, log_level):
        read()
