"""`finetune-advisor catalog list|show|refresh` through main(), as a user runs them."""

from __future__ import annotations

import json

import pytest
from fake_hub import FakeHub

from finetune_advisor.adapters.cache import catalog_path as cache_path
from finetune_advisor.adapters.cache import load_catalog
from finetune_advisor.catalog.store import load_packaged
from finetune_advisor.server.cli import main


@pytest.fixture(autouse=True)
def fresh_catalog() -> None:
    load_catalog.cache_clear()
    yield
    load_catalog.cache_clear()


def test_list_is_a_table_of_every_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "params", "tasks", "licence", "release"]
    rows = {line.split()[0]: line for line in lines[2:-1]}
    assert set(rows) == {m.id for m in load_packaged().models}
    assert "8.03B" in rows["llama-3.1-8b"] and "llama3.1" in rows["llama-3.1-8b"] and "2024-07-23" in rows["llama-3.1-8b"]
    assert "30.53B (3.3B active)" in rows["qwen3-30b-a3b"]
    assert lines[-1].startswith(f"{len(rows)} models")


@pytest.mark.parametrize(("args", "expected", "absent"), [
    (["--task", "stt"], {"whisper-large-v3", "whisper-large-v3-turbo", "whisper-small"}, "qwen3-8b"),
    (["--task", "code"], {"qwen2.5-coder-7b", "qwen3-coder-30b-a3b", "devstral-small-2507"}, "gemma-3-1b"),
    (["--family", "gemma-3"], {"gemma-3-270m", "gemma-3-1b", "gemma-3-4b", "gemma-3-12b", "gemma-3-27b"}, "gemma-2-9b"),
    (["--family", "Qwen3", "--task", "reasoning"], {"qwen3-8b", "qwen3-4b"}, "qwen3-30b-a3b"),
])
def test_list_filters(args: list[str], expected: set[str], absent: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list", *args, "--json"]) == 0
    ids = {m["id"] for m in json.loads(capsys.readouterr().out)}
    assert expected <= ids and absent not in ids


def test_list_unknown_family_names_the_accepted_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list", "--family", "gpt-5"]) == 2
    err = capsys.readouterr().err
    assert "Invalid --family" in err and "qwen3" in err and "gemma-3" in err


def test_list_unknown_task_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["catalog", "list", "--task", "translate"])
    assert exit_.value.code == 2
    assert "chat" in capsys.readouterr().err


def test_show_is_readable_and_flags_unverified_values(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one fact per line
    assert main(["catalog", "show", "unsloth/Devstral-Small-2507-bnb-4bit"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Devstral Small 1.1 (2507)  [devstral-small-2507]")
    assert "matched         unsloth/Devstral-Small-2507-bnb-4bit  (instruct, bnb-4bit)" in out
    assert out.split("base repo")[1].splitlines()[0].strip() == "-"  # Mistral publishes no Devstral base
    assert "(verified)" in out.split("architecture")[1].splitlines()[0]  # checked against its config.json
    assert "licence         apache-2.0\n" in out
    assert "sources:\n  - github unslothai/unsloth" in out
    assert main(["catalog", "show", "devstral-small-2505"]) == 0
    assert "(unverified)" in capsys.readouterr().out.split("architecture")[1].splitlines()[0]  # a reconstruction


def test_show_json_is_the_entry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "show", "Llama 3.1 8B", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == load_packaged().get("llama-3.1-8b").model_dump(mode="json")


def test_show_unknown_model_suggests_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "show", "qwen3-9b"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Unknown ID 'qwen3-9b'" in captured.err and "qwen3-8b" in captured.err


def test_refresh_shows_progress_on_stderr_and_a_summary(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    arch = load_packaged().get("qwen3-8b").architecture.model_dump(exclude_none=True)
    fake_hub.add_model("unsloth/Qwen3-8B", config=arch, card={"license": "apache-2.0"})
    fake_hub.add_model("unsloth/Qwen3.5-9B", raw_config=b"<html>", card={"license": "apache-2.0"})
    assert main(["catalog", "refresh"]) == 0
    captured = capsys.readouterr()
    assert "Listing the unsloth models" in captured.err and "[1/" in captured.err
    assert f"Refreshed catalog written to {cache_path()}" in captured.out
    assert "qwen3-8b: " in captured.out and "kept out unsloth/Qwen3.5-9B: config.json" in captured.out
    assert main(["catalog", "show", "qwen3-8b", "--json"]) == 0  # now read from the refreshed copy
    assert json.loads(capsys.readouterr().out)["last_modified"] == "2026-09-01"


def test_refresh_json_report(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    fake_hub.add_model("unsloth/Qwen3-8B", card={"license": "apache-2.0"})
    assert main(["catalog", "refresh", "--limit", "10", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["listed_repos"] == 1 and report["path"] == str(cache_path())
    assert {"updated", "added", "kept_out", "models", "endpoint", "complete_listing"} <= set(report)


def test_refresh_offline_fails_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "refresh"]) == 1  # the test isolation sets HF_HUB_OFFLINE=1
    captured = capsys.readouterr()
    assert "Offline" in captured.err and captured.out == ""
    assert not cache_path().exists()


def test_show_says_which_layout_unsloths_uploads_are_stored_in(capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The layout decides which projections take LoRA adapters (Phi-3's fused ones take none), so a user sees it."""
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["catalog", "show", "phi-4"]) == 0
    assert "unsloth layout  llama (Unsloth converted its uploads)\n" in capsys.readouterr().out
    assert main(["catalog", "show", "phi-4-mini-reasoning"]) == 0
    assert "unsloth layout  the original's  (unverified)\n" in capsys.readouterr().out
