"""`finetune-advisor ask`: the same answers on the command line."""

from __future__ import annotations

import io
import json
import sys

import pytest
from fake_docs import ZH_GUIDE, FakeDocs

from finetune_advisor.server.cli import main


def test_ask_prints_answer_sources_and_follow_ups(fake_docs: FakeDocs, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "Base or instruct for 500 rows?"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("With more than 1,000 rows, start from a **base** model")
    assert f"\nSources:\n- What model should I use?: {fake_docs.url}/" in out
    assert "\nFollow-up questions:\n- Which model fits 24 GB?\n" in out
    assert f"\n[live] {fake_docs.url}/get-started/fine-tuning-llms-guide/what-model-should-i-use.md?ask=" in out


def test_ask_json_in_chinese(fake_docs: FakeDocs, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "基础模型还是指令模型？", "--lang", "zh", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["origin"] == "live" and data["page"] == ZH_GUIDE and data["language"] == "zh"
    assert fake_docs.requests[0].path == f"/docs/{ZH_GUIDE}.md"


def test_ask_on_another_page(fake_docs: FakeDocs, capsys: pytest.CaptureFixture[str]) -> None:
    page = "get-started/fine-tuning-llms-guide/lora-hyperparameters-guide"
    assert main(["ask", "Which rank?", "--page", page, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["page"] == page


def test_ask_offline_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    """The isolated environment has no docs (a closed port): the packaged notes answer."""
    assert main(["ask", "How much VRAM for a 70B model with QLoRA?"]) == 0
    out = capsys.readouterr().out
    assert "| 70B | 41 GB | 164 GB |" in out
    assert "\n[offline] " in out and "were not reached" in out


def test_ask_offline_about_something_the_notes_do_not_cover(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "How do I install Unsloth on Windows?"]) == 0
    out = capsys.readouterr().out
    url = "https://unsloth.ai/docs/get-started/install/windows-installation"
    assert out.startswith(f"The offline notes do not cover this; ask again online, or see [Installing Unsloth on Windows]({url}).\n")
    assert f"\nSources:\n- Installing Unsloth on Windows: {url}\n" in out and "\n[offline] " in out
    assert main(["ask", "How do I install Unsloth on Windows?", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["covered"] is False and data["origin"] == "offline"


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_ask_shows_a_progress_line_on_a_terminal_after_a_second(
    fake_docs: FakeDocs, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_docs.set("slow", delay=2.3)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["ask", "Which rank?"]) == 0
    out, shown = capsys.readouterr().out, terminal.getvalue()
    assert out.startswith("With more than 1,000 rows") and "\r" not in out and "Waiting" not in out
    draws = shown.split("\r\x1b[2K")
    assert draws[0] == "" and draws[-1] == ""  # drawn in place, and erased before the answer is printed
    assert any(d.startswith(("| ", "/ ", "- ", "\\ ")) and "Waiting for the docs: 1 s of at most 15 s" in d for d in draws)
    assert "Asking the Unsloth docs" not in shown  # the first second stays quiet


def test_ask_shows_no_progress_for_a_quick_answer(
    fake_docs: FakeDocs, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["ask", "Which rank?"]) == 0
    assert terminal.getvalue() == "" and capsys.readouterr().out.startswith("With more than 1,000 rows")


def test_ask_shows_no_progress_when_stderr_is_not_a_terminal(fake_docs: FakeDocs, capsys: pytest.CaptureFixture[str]) -> None:
    fake_docs.set("slow", delay=1.5)
    assert main(["ask", "Which rank?"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.startswith("With more than 1,000 rows")


def test_ask_refuses_a_hostile_page(fake_docs: FakeDocs, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "What rank?", "--page", "../../etc/passwd"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("finetune-advisor: Invalid --page: ")
    assert fake_docs.requests == []


def test_ask_rejects_an_unknown_language(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["ask", "What rank?", "--lang", "xx"])
    assert exit_.value.code == 2
    assert "invalid choice: 'xx'" in capsys.readouterr().err
