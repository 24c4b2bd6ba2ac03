"""Counting a training file's rows and tokens (the CLI's `plan --dataset`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_advisor.adapters import dataset_file
from finetune_advisor.errors import InvalidInputError


def _write(tmp_path: Path, rows: list[object]) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_text_chat_and_alpaca_rows_are_counted_and_broken_rows_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path, [
        {"text": "a" * 400},
        {"messages": [{"role": "user", "content": "b" * 100}, {"role": "assistant", "content": "c" * 99}]},
        {"conversations": [{"from": "human", "value": "d" * 40}]},
        {"instruction": "e" * 20, "input": "", "output": "f" * 19},
        "not json at all",
        "[" * 100_000 + "]" * 100_000,  # valid JSON the parser cannot descend: RecursionError, not a traceback
        [1, 2, 3],
        {"label": 3},
    ])
    lengths, how = dataset_file.row_lengths(path, ["no-such/model-for-tests"])
    assert lengths == [100, 50, 10, 10] and "estimated" in how  # 4 characters per token; newlines join turns


def test_a_missing_file_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        dataset_file.row_lengths(tmp_path / "nope.jsonl", [])
    assert caught.value.field == "dataset"


def test_an_oversized_line_is_refused_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset_file, "MAX_LINE_BYTES", 1000)
    path = _write(tmp_path, [{"text": "x" * 5000}])
    with pytest.raises(InvalidInputError) as caught:
        dataset_file.row_lengths(path, [])
    assert "at most 1000 bytes" in caught.value.accepted


def test_parquet_without_pyarrow_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    path.write_bytes(b"PAR1not-really")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(InvalidInputError) as caught:
            dataset_file.row_lengths(path, [])
        assert "pyarrow" in str(caught.value)
    else:
        pytest.skip("pyarrow is installed here")


def test_a_parquet_file_pyarrow_cannot_read_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pyarrow raises ArrowInvalid (a ValueError) on a damaged file; the user gets the flag and the file's name."""
    import sys
    import types

    def broken(path: Path) -> None:
        raise ValueError("Parquet magic bytes not found in footer")

    fake = types.ModuleType("pyarrow.parquet")
    fake.ParquetFile = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyarrow", types.ModuleType("pyarrow"))
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", fake)
    path = tmp_path / "train.parquet"
    path.write_bytes(b"PAR1not-really")
    with pytest.raises(InvalidInputError) as caught:
        dataset_file.row_lengths(path, [])
    assert caught.value.field == "dataset" and "train.parquet is not a Parquet file" in str(caught.value)
