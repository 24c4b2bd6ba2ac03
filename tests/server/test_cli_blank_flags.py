"""Flags that name something (a GPU, a dataset file) refuse an empty value by name: `--gpu ""` fell back to the local
GPU as if left out, `--dataset ""` was reported as "'.' is not a file" (the attack pass's C4); and a GPU count of four
digits is a count, refused by its range like one of three, not a GPU name to list the whole table for."""

from __future__ import annotations

import pytest

from finetune_advisor.server.cli import main


@pytest.mark.parametrize("argv", [
    ["vram", "qwen3-8b", "--gpu", ""], ["recommend", "--task", "chat", "--gpu", "  "],
    ["plan", "qwen3-8b", "--gpu", ""], ["plan", "qwen3-8b", "--gpu", "T4", "--dataset", ""],
])
def test_an_empty_name_is_refused_naming_the_flag(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    flag = argv[-2]
    err = capsys.readouterr().err
    assert f"argument {flag}: it is empty" in err and "Traceback" not in err


def test_a_count_of_four_digits_is_read_as_a_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vram", "qwen3-8b", "--gpu", "1000xH100"]) == 2
    err = capsys.readouterr().err
    assert "1000 is out of range. Accepted: 1 to 512" in err and "T4, V100" not in err
