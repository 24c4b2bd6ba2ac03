"""`finetune-advisor recommend`: the table with reasons, JSON equal to the tool's, and errors."""

from __future__ import annotations

import json

import pytest

from finetune_advisor.server.cli import main
from finetune_advisor.tools.recommend_model import recommend_model


def test_table_names_the_model_to_load_and_why(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # no reason wraps
    assert main(["recommend", "--task", "code", "--rows", "500", "--gpu-gib", "24"]) == 0
    out = capsys.readouterr().out
    result = recommend_model(task="code", dataset_rows=500, gpu_memory_gib=24)
    first = result.recommendations[0]
    assert "Task: code. GPU: 24 GiB" in out
    assert "Base or instruct: instruct" in out and "experimenting with the base" in out
    assert first.name in out and f"   load: {first.unsloth_model_id or first.repo_id}" in out
    assert f"   + {first.reasons[0]}" in out
    assert "VRAM GiB" in out and "licence" in out and "Note: " in out


def test_json_is_the_tool_result(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["recommend", "--task", "vision", "--gpu-gib", "48", "--eu", "--no-commercial", "--top-k", "5", "--json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    expected = recommend_model(task="vision", gpu_memory_gib=48, eu_entity=True, commercial_use=False, top_k=5)
    assert data == expected.model_dump(mode="json")


def test_every_option_reaches_the_tool(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "recommend", "--task", "chat", "--use-case", "German support agent", "--rows", "5000", "--gpu-gib", "80",
        "--method", "qlora", "--seq-len", "4096", "--mau", "1000000000", "--license", "apache-2.0", "mit",
        "--license", "gemma", "--max-params-b", "14", "--lang", "de", "--lang", "fr", "--top-k", "4", "--json",
    ]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    expected = recommend_model(
        task="chat", use_case="German support agent", dataset_rows=5000, gpu_memory_gib=80, method="qlora", seq_len=4096,
        monthly_active_users=1_000_000_000, allowed_licenses=["apache-2.0", "mit", "gemma"], max_params_b=14,
        languages=["de", "fr"], top_k=4,
    )
    assert data == expected.model_dump(mode="json")
    assert data["base_vs_instruct"]["choice"] == "base"
    assert all(r["method"] == "qlora" and r["params_b"] <= 14 for r in data["recommendations"])


def test_nothing_qualifies_prints_what_would(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recommend", "--task", "tts", "--gpu-gib", "1"]) == 0
    out = capsys.readouterr().out
    assert "No model qualifies." in out and "What would qualify:" in out and "A GPU with at least" in out


def test_unknown_gpu_is_said(capsys: pytest.CaptureFixture[str], no_gpu: None) -> None:
    assert main(["recommend", "--task", "stt"]) == 0
    out = capsys.readouterr().out
    assert "fit not checked" in out


def test_no_arguments_recommend_for_chat(capsys: pytest.CaptureFixture[str], no_gpu: None) -> None:
    """The quick start runs `finetune-advisor recommend` with the embedded defaults."""
    assert main(["recommend"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Task: chat.") and "fit not checked" in out and "unsloth/" in out
    assert "pass --gpu (a name) or --gpu-gib" in out and "gpu_memory_gib" not in out  # the flags, not MCP's fields


def test_negative_memory_is_a_usage_error_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["recommend", "--task", "chat", "--gpu-gib", "-3"])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "argument --gpu-gib: -3 is out of range; accepted: 0.25 to 4096" in captured.err
    assert "gpu_memory_gib" not in captured.err


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--task", "poetry"], "invalid choice: 'poetry'"), (["--task", "chat", "--method", "dora"], "invalid choice: 'dora'"),
     (["--task", "chat", "--rows", "-5"], "--rows: -5 is out of range"),
     (["--gpu-gib", "lots"], "--gpu-gib: 'lots' is not a number; accepted: 0.25 to 4096")],
)
def test_bad_arguments_are_usage_errors(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["recommend", *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert needle in err
    if "poetry" in args:
        assert all(t in err for t in ("chat", "code", "vision", "reasoning", "tts", "stt"))


def test_a_pick_sized_with_the_router_aux_loss_off_says_so_in_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recommend", "--task", "chat", "--use-case", "moe", "--gpu-gib", "19.5", "--rows", "800",
                 "--top-k", "10", "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "ERNIE" in line and "21B" in line)
    assert "with aux loss off" in row
    assert "SFTConfig(router_aux_loss_coef=0.0)" in out
