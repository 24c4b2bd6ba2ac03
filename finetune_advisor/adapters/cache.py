"""The user's cache directory: docs answers, and the catalog copy `catalog refresh` writes.

Docs answers are one JSON file per (docs URL, page, language, question), with a TTL; a file that
cannot be read, parsed or written is logged and treated as a miss, never as an error of the tool.
The catalog copy is used while it validates and is not older than the packaged catalog
(`catalog.store.prefer`). Every write goes to a fresh temporary file, then an atomic rename.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from finetune_advisor import settings
from finetune_advisor.catalog import store
from finetune_advisor.catalog.schema import Catalog
from finetune_advisor.errors import CacheWriteError, DataError
from finetune_advisor.unsloth_docs.reply import ParsedAnswer

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


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to a new temporary file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        DocsCache._discard(Path(tmp))
        raise


def catalog_path() -> Path:
    """Where `catalog refresh` writes its copy."""
    return settings.cache_dir() / store.FILE_NAME


def read_catalog_copy() -> Catalog | None:
    """The refreshed copy when there is one that validates (a broken one is logged and ignored)."""
    path = catalog_path()
    if not path.is_file():
        return None
    try:
        return store.parse(path.read_bytes(), str(path))
    except (OSError, DataError) as exc:
        logger.warning("Ignoring the cached catalog %s: %s", path, str(exc).splitlines()[0])
        return None


def write_catalog_copy(catalog: Catalog) -> Path:
    """Write the refreshed catalog to the cache (never the package); the next load sees it."""
    path = catalog_path()
    try:
        atomic_write(path, catalog.model_dump_json(indent=1).encode())
    except OSError as exc:
        raise CacheWriteError(f"Cannot write the refreshed catalog to {path}: {exc.strerror or exc}. "
                              "Set FINETUNE_ADVISOR_CACHE_DIR to a writable folder.") from None
    load_catalog.cache_clear()
    return path


@functools.cache
def load_catalog() -> Catalog:
    """The catalog the tools answer from: the refreshed copy when valid and not older, else the packaged one."""
    return store.prefer(store.load_packaged(), read_catalog_copy())
