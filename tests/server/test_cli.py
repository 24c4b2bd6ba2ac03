"""The `finetune-advisor` command line: help, version, gpu."""

from __future__ import annotations

import json
import subprocess

import pytest
from live_server import CLI, server_env

from finetune_advisor.server.cli import COMMANDS, main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("finetune-advisor ")


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_on_every_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*([command] if command else []), "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "usage: finetune-advisor" in out
    if not command:
        for name in COMMANDS:
            assert name in out


def test_no_command_prints_help_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "usage:" in captured.err


def test_gpu_json_has_the_tool_shape(capsys: pytest.CaptureFixture[str], no_gpu: None) -> None:
    assert main(["gpu", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"source", "machine", "gpus", "driver_version", "cuda_driver_version", "note"}
    assert data["machine"] == "local"  # the CLI runs on the user's machine
    assert data["source"] == "none" and data["gpus"] == []


def test_gpu_table_without_gpu(capsys: pytest.CaptureFixture[str], no_gpu: None) -> None:
    assert main(["gpu"]) == 0
    out = capsys.readouterr().out
    assert "No NVIDIA GPU visible" in out and "nvidia-ml-py" in out


def test_gpu_table_with_fake_gpus(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from fake_nvml import H100, T4, FakeNvml

    from finetune_advisor.adapters import nvml as gpu

    monkeypatch.setattr(gpu, "_load_nvml", lambda: FakeNvml([H100, T4]))
    assert main(["gpu"]) == 0
    out = capsys.readouterr().out
    assert "NVIDIA H100 80GB HBM3" in out and "Tesla T4" in out and "580.159.04" in out


def test_console_script_entry_point_runs() -> None:
    proc = subprocess.run([*CLI, "gpu", "--json"], env=server_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["source"] in {"none", "nvml"}
