"""`finetune-advisor ask`: the same answers on the command line."""

from __future__ import annotations

import json

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
