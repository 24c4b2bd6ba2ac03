"""`finetune-advisor plan`: the plan_training answer on the command line, from flags or a dataset file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_advisor.server.cli import main


def test_plan_prints_settings_time_and_cost(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "llama-3.1-8b", "--gpu", "RTX 4090", "--rows", "20000", "--tokens-per-row", "400",
                 "--price-per-hour", "0.5"])
    out = capsys.readouterr().out
    assert code == 0
    for words in ("seq_len", "micro-batch x accumulation", "steps", "time", "cost", "instead"):
        assert words in out, words


def test_plan_text_says_what_its_peak_memory_assumes_once(capsys: pytest.CaptureFixture[str]) -> None:
    """The text plan shows the memory figure's assumptions, not only --json: for Gemma 4 26B-A4B QLoRA, that an older
    Unsloth left its experts 16-bit (about 32 GiB more); a note the plan already gives is not printed twice."""
    assert main(["plan", "gemma-4-26b-a4b", "--gpu", "RTX 5090", "--rows", "5000", "--tokens-per-row", "1500",
                 "--seq-len", "32768", "--batch-size", "1"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Peak memory assumes:" in out and "left them 16-bit" in out and "2026.10.9" in out
    assert out.count("the longest step of this family's MoE models") == 1


def test_plan_json_is_the_tool_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "qwen3-8b", "--gpu", "T4", "--rows", "1000", "--tokens-per-row", "300", "--rank", "max", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["fits"] and answer["lora_rank"] >= 16 and answer["total_steps"] == 63


def test_a_dataset_file_is_counted_and_truncation_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps({"text": "w" * n}) for n in (400, 800, 1200, 40_000)) + "\n")
    assert main(["plan", "qwen3-8b", "--gpu", "T4", "--dataset", str(path), "--seq-len", "1024", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["dataset"]["rows"] == 4 and answer["dataset"]["longest_row"] == 10_000
    assert answer["truncated_rows"] == 1 and "estimated" in answer["dataset"]["counted"]


def test_a_row_longer_than_any_context_is_planned_and_cut(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 10 MB row (2.5M tokens by the estimate) was refused as 'Invalid --longest-row', a flag never given."""
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps({"text": "w" * n}) for n in (400, 10_000_000)) + "\n")
    assert main(["plan", "qwen3-8b", "--gpu", "T4", "--dataset", str(path), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["dataset"]["longest_row"] == 2_500_000 and answer["truncated_rows"] == 1
    assert answer["seq_len"] <= 40_960  # Qwen3-8B's context


def test_rank_that_is_not_a_number_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["plan", "qwen3-8b", "--gpu", "T4", "--rank", "big"])
    assert exit_.value.code == 2
    assert "argument --rank: 'big' is not a whole number; accepted: 1 to 4096, or 'max'" in capsys.readouterr().err


def test_the_router_aux_loss_switch_reaches_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """--no-router-aux-loss is SFTConfig(router_aux_loss_coef=0.0): on Qwen3-30B-A3B it removes the first step's
    trial forwards from the estimate, and the plan made with it fits a longer context."""
    def answer(*argv: str) -> dict:
        assert main([*argv, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    vram = ["vram", "qwen3-30b-a3b", "--seq-len", "8192", "--gpu-gib", "80"]
    assert answer(*vram, "--no-router-aux-loss")["total_gib"] < answer(*vram)["total_gib"] - 30
    plan = ["plan", "qwen3-30b-a3b", "--gpu", "H100", "--method", "qlora", "--rows", "1000", "--tokens-per-row", "3000"]
    assert answer(*plan, "--no-router-aux-loss")["max_seq_len"] > answer(*plan)["max_seq_len"]


def test_a_plan_that_cannot_fit_points_at_the_table_it_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """The note named the JSON field memory.suggestions; the command prints those changes as a table."""
    assert main(["plan", "llama-3.3-70b", "--gpu", "2xRTX 4090", "--rows", "500", "--tokens-per-row", "800"]) == 0
    out = capsys.readouterr().out
    assert "see the changes listed below" in out and "memory.suggestions" not in out and "to fit, change" in out
