"""Disk cache of docs answers: one JSON file per (docs URL, page, language, question), with a TTL.

Writes are atomic (temporary file, then rename). The cache is a convenience: a file that cannot be
read, parsed or written is logged and treated as a miss, never as an error of the tool.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from finetune_advisor.unsloth_docs.pages import ParsedAnswer

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 1024 * 1024
_CLOCK_SKEW = 300.0  # an entry stamped further in the future than this is not trusted


class CachedAnswer(BaseModel):
    format: Literal[1] = 1
    stored_at: float  # epoch seconds
    asked_url: str
    parsed: ParsedAnswer


def cache_key(docs_url: str, path: str, question: str) -> str:
    """Same docs site, page path (language included) and question, whitespace and case aside."""
    normalized = " ".join(question.split()).casefold()
    return hashlib.sha256(f"{docs_url.rstrip('/')}\n{path}\n{normalized}".encode()).hexdigest()


class DocsCache:
    """Answers under `root/docs-answers/`, fresh for `ttl` seconds (0 turns the cache off)."""

    def __init__(self, root: Path, ttl: float, clock: Callable[[], float] | None = None) -> None:
        self.folder = root / "docs-answers"
        self.ttl = ttl
        self.clock = clock or time.time

    def _file(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> CachedAnswer | None:
        if self.ttl <= 0:
            return None
        path = self._file(key)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ValueError("oversized cache file")
            entry = CachedAnswer.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("docs cache: cannot read %s (%s); asking the docs instead", path, exc)
            return None
        except (ValidationError, ValueError) as exc:
            logger.warning("docs cache: %s is corrupted (%s); discarding it", path, type(exc).__name__)
            self._discard(path)
            return None
        age = self.clock() - entry.stored_at
        if age > self.ttl or age < -_CLOCK_SKEW:
            return None
        return entry

    def put(self, key: str, asked_url: str, parsed: ParsedAnswer) -> None:
        if self.ttl <= 0:
            return
        entry = CachedAnswer(stored_at=self.clock(), asked_url=asked_url, parsed=parsed)
        tmp: str | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "wb") as out:
                out.write(entry.model_dump_json().encode())
            os.replace(tmp, self._file(key))
            tmp = None
        except OSError as exc:
            logger.warning("docs cache: cannot write under %s (%s); answer not cached", self.folder, exc)
        finally:
            if tmp is not None:
                self._discard(Path(tmp))

    @staticmethod
    def _discard(path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass
