"""Adapter for a training file on the user's disk: how many rows, and how many tokens each.

JSONL (one example per line) is read directly; Parquet needs pyarrow, when it is installed. A row's
text is its `text` field, its chat turns (`messages` / `conversations`: `content` or `value`), or
its Alpaca fields (`instruction`, `input`, `output`). Tokens are counted with the model's own
tokenizer when `tokenizers` is installed and the model's tokenizer.json is already in the local
Hugging Face cache (no download); otherwise they are estimated at about 4 characters per token,
and the answer says so. The file is hostile until read: its size and row count are capped, a row
that is not a JSON object is skipped and counted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from finetune_advisor.errors import InvalidInputError

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 4 * 1024**3
MAX_ROWS = 5_000_000
MAX_LINE_BYTES = 16 * 1024 * 1024
CHARS_PER_TOKEN = 4.0  # a common rule of thumb for English text; code and other scripts differ


def row_lengths(path: Path, repo_ids: list[str]) -> tuple[list[int], str]:
    """Every row's token count and how it was counted ('tokenizer of <repo>' or the estimate)."""
    _check_file(path)
    count, how = _counter(repo_ids)
    lengths = [count(text) for text in _texts(path)]
    return lengths, how


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise InvalidInputError("dataset", f"{str(path)!r} is not a file", "a .jsonl or .parquet file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InvalidInputError("dataset", f"the file is {size / 1024**3:.1f} GiB", f"at most {MAX_FILE_BYTES // 1024**3} GiB")


def _texts(path: Path) -> Iterator[str]:
    rows = _parquet_rows(path) if path.suffix.lower() == ".parquet" else _jsonl_rows(path)
    skipped = 0
    for n, row in enumerate(rows):
        if n >= MAX_ROWS:
            raise InvalidInputError("dataset", f"more than {MAX_ROWS} rows", f"at most {MAX_ROWS} rows; count a sample")
        text = row_text(row) if isinstance(row, dict) else None
        if text is None:
            skipped += 1
            continue
        yield text
    if skipped:
        logger.warning("%d rows of %s had no text field the planner knows and were skipped", skipped, path.name)


def _jsonl_rows(path: Path) -> Iterator[Any]:
    """Each line parsed as JSON (None where it is not); no more than MAX_LINE_BYTES + 1 bytes of a line are
    ever read, so a file without newlines costs no more memory than one line at the limit."""
    with path.open("rb") as fh:
        while line := fh.readline(MAX_LINE_BYTES + 1):
            if len(line) > MAX_LINE_BYTES:
                raise InvalidInputError("dataset", f"a line of more than {MAX_LINE_BYTES} bytes",
                                        f"lines of at most {MAX_LINE_BYTES} bytes")
            if line.strip():
                try:
                    yield json.loads(line)
                except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser's recursion limit
                    yield None


def _parquet_rows(path: Path) -> Iterator[Any]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InvalidInputError("dataset", "reading Parquet needs pyarrow, which is not installed",
                                "a JSONL file, or pip install pyarrow") from None
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=4096)
        for batch in batches:
            yield from batch.to_pylist()
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid and ArrowIOError derive from these
        raise InvalidInputError("dataset", f"{path.name} is not a Parquet file pyarrow can read ({type(exc).__name__})",
                                "a valid .parquet or .jsonl file") from None


def row_text(row: dict[str, Any]) -> str | None:
    """The text a trainer sees for one row, without the chat template's own tokens."""
    if isinstance(row.get("text"), str):
        return row["text"]
    turns = row.get("messages") or row.get("conversations")
    if isinstance(turns, list):
        parts = [t.get("content") or t.get("value") for t in turns if isinstance(t, dict)]
        texts = [p for p in parts if isinstance(p, str)]
        return "\n".join(texts) if texts else None
    fields = [row.get(k) for k in ("instruction", "input", "output")]
    texts = [f for f in fields if isinstance(f, str) and f]
    return "\n".join(texts) if texts else None


def _counter(repo_ids: list[str]) -> tuple[Callable[[str], int], str]:
    for repo in repo_ids:
        tokenizer = _cached_tokenizer(repo)
        if tokenizer is not None:
            return (lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)), f"counted with the tokenizer of {repo}"
    how = (f"estimated at ~{CHARS_PER_TOKEN:g} characters per token (no local tokenizer for the model; install `tokenizers` "
           "and have the model's tokenizer.json in the Hugging Face cache to count exactly)")
    return (lambda text: max(1, round(len(text) / CHARS_PER_TOKEN))), how


def _cached_tokenizer(repo_id: str) -> Any:
    """The model's tokenizer from the local Hugging Face cache, or None (never downloads)."""
    try:
        from huggingface_hub import try_to_load_from_cache
        from tokenizers import Tokenizer
    except ImportError:
        return None
    found = try_to_load_from_cache(repo_id, "tokenizer.json")
    if not isinstance(found, str):
        return None
    try:
        return Tokenizer.from_file(found)
    except Exception:  # noqa: BLE001 - a broken cache entry is the same as none
        logger.warning("the cached tokenizer.json of %s could not be read", repo_id)
        return None
