"""Secrets kept out of what the project shows and logs: user names and passwords in URLs.

HF_ENDPOINT and FINETUNE_ADVISOR_DOCS_URL may carry credentials (`https://user:pass@mirror/`); the
requests need them, nothing else may show them. `public_url` is the one way a URL is shown,
`redact` cleans any text that may hold one, and `RedactingFilter`, installed on the log handlers where
logging is configured, does the same to every log record, including what libraries log (httpx2 logs
each request's URL at INFO) and tracebacks.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

# scheme://userinfo@ : the user info runs to the last '@' before the host ends ('/', '?', '#', white space).
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]{0,31}://)[^/?#\s]*@")


def redact(text: str) -> str:
    """`text` with the user name and password of every URL in it removed."""
    return _USERINFO.sub(r"\g<scheme>", text)


def public_url(url: str) -> str:
    """`url` without user name or password, safe to show and log."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a port out of range, a broken IPv6 literal: no parts to rebuild it from
        return redact(url)
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit((parts.scheme, host + (f":{port}" if port else ""), parts.path, parts.query, parts.fragment))


class RedactingFilter(logging.Filter):
    """Removes URL credentials from a record's message and traceback before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install(logger: logging.Logger) -> None:
    """Put a RedactingFilter on each handler of `logger` (once)."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
