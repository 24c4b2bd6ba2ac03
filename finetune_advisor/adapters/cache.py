"""The user's cache directory: docs answers, and the catalog copy `catalog refresh` writes.

Anyone who can write to the cache directory can plant files there, so nothing in it is trusted:
- a read opens a regular file only (no symlink, FIFO, device or directory), without blocking, and
  reads at most a cap of bytes;
- every write goes to a fresh temporary file with a random name (created with O_EXCL and O_NOFOLLOW),
  then an atomic rename over the target, which replaces a planted symlink instead of writing through it;
- docs answers are one JSON file per (docs URL, page, language, question), with a TTL; a file that
  cannot be read, parsed or written is logged and treated as a miss, never as an error of the tool, and
  one that parses is held to the bounds and filters of a live answer (`ParsedAnswer` enforces them) or
  discarded as corrupt;
- the catalog copy is validated like the packaged catalog (the schema, then `catalog check`), used
  only while it is not older than the packaged one, never changes a curated licence
  (`catalog.store.prefer`), and the answers built on it say where it came from (`catalog_note`).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import logging
import os
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from finetune_advisor import settings
from finetune_advisor.catalog import store
from finetune_advisor.catalog.check import check
from finetune_advisor.catalog.schema import Catalog
from finetune_advisor.errors import CacheWriteError, DataError
from finetune_advisor.licensing.terms import load_licenses
from finetune_advisor.unsloth_docs.reply import ParsedAnswer, PublicHttpUrl

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 1024 * 1024  # a docs answer
MAX_CATALOG_BYTES = 16 * 1024 * 1024  # the packaged catalog is about 1 MiB
_O_NONBLOCK, _O_NOFOLLOW, _O_CLOEXEC = (getattr(os, name, 0) for name in ("O_NONBLOCK", "O_NOFOLLOW", "O_CLOEXEC"))
_CLOCK_SKEW = 300.0  # an entry stamped further in the future than this is not trusted


class CachedAnswer(BaseModel):
    """A docs answer as cached; an entry outside these bounds (or ParsedAnswer's) is corrupt and discarded."""

    format: Literal[1] = 1
    stored_at: float = Field(ge=0, allow_inf_nan=False)  # epoch seconds; NaN would never expire
    asked_url: PublicHttpUrl
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
            entry = CachedAnswer.model_validate_json(read_regular(path, MAX_FILE_BYTES))
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("docs cache: cannot read %s (%s); asking the docs instead", path, exc)
            return None
        except (ValidationError, ValueError) as exc:
            why = _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
            logger.warning("docs cache: %s is corrupted (%s); discarding it", path, why)
            self._discard(path)
            return None
        age = self.clock() - entry.stored_at
        if age > self.ttl or age < -_CLOCK_SKEW:
            return None
        return entry

    def put(self, key: str, asked_url: str, parsed: ParsedAnswer) -> None:
        if self.ttl <= 0:
            return
        try:
            entry = CachedAnswer(stored_at=self.clock(), asked_url=asked_url, parsed=parsed)
            atomic_write(self._file(key), entry.model_dump_json().encode())
        except ValidationError as exc:  # not expected: a live answer is within the bounds a cached one is held to
            logger.warning("docs cache: answer not cached (%s)", _first_error(exc))
        except OSError as exc:
            logger.warning("docs cache: cannot write under %s (%s); answer not cached", self.folder, exc)

    @staticmethod
    def _discard(path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass


def _first_error(exc: ValidationError) -> str:
    """Where a cache entry first fails its model, and why, without the (hostile) value itself."""
    first = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "the entry"
    return f"{where}: {first['msg']}"


def read_regular(path: Path, cap: int) -> bytes:
    """The bytes of the regular file at `path`: FileNotFoundError when there is none, OSError when it cannot
    be read, ValueError when something else sits there (a symlink, FIFO, device, directory) or it is over `cap`.

    The open never blocks (O_NONBLOCK: a FIFO without a writer would hang a plain open) and never
    follows a symlink (O_NOFOLLOW); the type is checked on the open file, so it cannot change in between.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_NOFOLLOW | _O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError("a symbolic link, not a regular file") from None
        raise
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        data = file.read(cap + 1)
    if len(data) > cap:
        raise ValueError(f"larger than {cap} bytes")
    return data


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to a new temporary file beside `path`, then rename it over `path`.

    mkstemp gives the temporary file a random name and creates it with O_EXCL and O_NOFOLLOW (mode 0600),
    so nothing planted under a predictable name is written through; the rename replaces whatever sits
    at `path` (a symlink included) without following it.
    """
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
    """The refreshed copy when there is one that validates like the packaged catalog (else logged and ignored)."""
    path = catalog_path()
    try:
        copy = store.parse(read_regular(path, MAX_CATALOG_BYTES), str(path))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, DataError) as exc:
        logger.warning("Ignoring the cached catalog %s: %s", path, str(exc).splitlines()[0])
        return None
    problems = check(copy, set(load_licenses().ids()))
    if problems:
        logger.warning("Ignoring the cached catalog %s: %d problem(s) `catalog check` would report, the first: %s",
                       path, len(problems), problems[0])
        return None
    return copy


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
    catalog, kept = store.prefer(store.load_packaged(), read_catalog_copy())
    for entry_id in kept:
        logger.warning("The cached catalog %s changes the curated licence of %s; the packaged licence is kept",
                       catalog_path(), entry_id)
    return catalog


def catalog_note() -> str | None:
    """A sentence for answers built on the catalog when it is the cached copy, not the packaged one."""
    catalog = load_catalog()
    if catalog is store.load_packaged():
        return None
    when = f", generated {catalog.generated_at:%Y-%m-%d %H:%M} UTC" if catalog.generated_at else ""
    return (f"Catalog facts come from the copy `catalog refresh` wrote to {catalog_path()}{when}, not from the "
            "packaged catalog; delete that file to go back to the packaged one.")
