"""A JSONL line over the limit is refused before it is read whole (attack pass A1: a 3 GiB file without a
newline was read into 6.4 GB of memory, then refused)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from finetune_advisor.adapters import dataset_file
from finetune_advisor.errors import InvalidInputError
from finetune_advisor.server.cli import main

LIMIT = 64 * 1024


@pytest.fixture(autouse=True)
def _small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset_file, "MAX_LINE_BYTES", LIMIT)


def _no_newline(tmp_path: Path, size: int = 8 * 1024 * 1024) -> Path:
    path = tmp_path / "one-line.jsonl"
    with path.open("wb") as out:
        out.write(b'{"text": "')
        out.write(b"x" * size)
    return path


def test_a_file_without_newlines_is_refused_with_memory_bounded_by_the_line_limit(tmp_path: Path) -> None:
    path = _no_newline(tmp_path)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInputError) as caught:
            dataset_file.row_lengths(path, [])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.field == "dataset"
    assert str(caught.value) == (f"Invalid 'dataset': a line of more than {LIMIT} bytes. "
                                 f"Accepted: lines of at most {LIMIT} bytes.")
    assert peak < 16 * LIMIT, f"{peak} bytes allocated to refuse a line over {LIMIT} bytes"  # the file is 8 MiB


def test_lines_up_to_the_limit_are_still_read(tmp_path: Path) -> None:
    row = b'{"text": "' + b"a" * (LIMIT - 13) + b'"}'  # with its newline, exactly LIMIT bytes
    path = tmp_path / "edge.jsonl"
    path.write_bytes(row + b"\n" + b'{"text": "bbbb"}\n' + row)  # the last line has no newline
    assert len(row) + 1 == LIMIT
    lengths, _ = dataset_file.row_lengths(path, [])
    assert lengths == [round((LIMIT - 13) / 4), 1, round((LIMIT - 13) / 4)]


def test_the_cli_names_the_flag_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _no_newline(tmp_path, size=4 * LIMIT)
    assert main(["plan", "qwen3-8b", "--gpu", "T4", "--dataset", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"finetune-advisor: Invalid --dataset: a line of more than {LIMIT} bytes. "
                   f"Accepted: lines of at most {LIMIT} bytes.\n")
