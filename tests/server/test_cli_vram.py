"""`finetune-advisor vram`: the breakdown table, JSON equal to the tool's result, and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_advisor.server.cli import main
from finetune_advisor.tools.estimate_vram import estimate_vram


def test_table_shows_every_component_the_total_and_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vram", "qwen3-8b", "--method", "lora", "--gpu-gib", "12"]) == 0
    out = capsys.readouterr().out
    for part in ("weights", "adapters", "gradients", "optimizer", "activations", "logits and loss", "overhead", "total per GPU"):
        assert part in out
    assert "does NOT fit" in out and "QLoRA (4-bit base weights) instead of lora" in out
    assert "(--detail adds the background: how the estimate is built.)" in out
    assert "GPU: 12 GiB, as given: does NOT fit" in out  # the size once (it read "12 GiB, 12 GiB, as given")
    assert main(["vram", "qwen3-8b", "--gpu", "T4"]) == 0
    assert "GPU: T4 (15 GiB as the driver reports it" in capsys.readouterr().out  # the size once here too


def test_json_is_the_tool_result(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vram", "llama-3.1-8b", "--stack", "transformers", "--seq-len", "4096", "--gpu-gib", "80", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    tool = estimate_vram(model="llama-3.1-8b", stack="transformers", seq_len=4096, gpu_memory_gib=80)
    assert printed == tool.model_dump(mode="json")


def _llama_config(tmp_path: Path, layers: int, hidden: int, mlp: int, heads: int, kv_heads: int, vocab: int) -> Path:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_type": "llama", "num_hidden_layers": layers, "hidden_size": hidden,
                                  "intermediate_size": mlp, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
                                  "vocab_size": vocab, "tie_word_embeddings": True}))
    return config


def test_architecture_file_and_params_b(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _llama_config(tmp_path, 16, 2048, 8192, 32, 8, 128256)
    assert main(["vram", "--architecture", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["resolved_from"] == "architecture"
    assert main(["vram", "--params-b", "7", "--gpu-gib", "24"]) == 0
    assert "[coarse]" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,status,words",
    [
        (["vram", "qwen3-8b", "--seq-len", "100000"], 2, ["Invalid --seq-len", "1 to 40960"]),
        (["vram", "smollm2-135m", "--rank", "1000"], 2, ["Invalid --rank", "hidden size 576"]),
        (["vram", "no-such-model-xyz"], 1, ["Unknown MODEL 'no-such-model-xyz'", "finetune-advisor catalog list"]),
        (["vram", "qwen3-8b", "--gpu", "T4", "--gpu-gib", "16"], 2, ["either --gpu (a name", "or --gpu-gib (e.g. 24)"]),
        (["plan", "qwen3-8b"], 2, ["a plan needs the GPU", "Accepted: --gpu (a name, e.g. 'RTX 4090') or --gpu-gib."]),
    ],
)
def test_bad_input_exits_with_the_reason(argv: list[str], status: int, words: list[str],
                                         capsys: pytest.CaptureFixture[str], no_gpu: None) -> None:
    assert main(argv) == status
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    assert "gpu_memory_gib" not in err  # the flag, not the MCP field


def test_without_a_gpu_the_answer_names_the_flags(capsys: pytest.CaptureFixture[str], no_gpu: None) -> None:
    assert main(["vram", "qwen3-8b"]) == 0
    out = capsys.readouterr().out
    assert "fit not checked; pass --gpu (a name) or --gpu-gib" in out and "gpu_memory_gib" not in out


@pytest.mark.parametrize("argv", [["vram"], ["vram", "qwen3-8b", "--params-b", "7"]])
def test_exactly_one_way_to_name_the_model(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "give exactly one of MODEL, --architecture or --params-b" in capsys.readouterr().err


def test_missing_config_file_names_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vram", "--architecture", str(tmp_path / "absent.json")]) == 2
    assert "Invalid --architecture" in capsys.readouterr().err


def test_assumptions_name_the_flags(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """An assumption that tells the user what to pass says it as the command's flag, as errors do."""
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["vram", "qwen3-vl-8b", "--gpu", "T4"]) == 0
    out = capsys.readouterr().out
    assert "give --images-per-row" in out and "images_per_row" not in out and "seq_len" not in out
    assert main(["vram", "qwen3-30b-a3b", "--gpu", "L4"]) == 0
    out = capsys.readouterr().out
    assert "the --no-router-aux-loss option estimates that run" in out and "router_aux_loss option" not in out
    assert main(["vram", "gemma-4-12b", "--seq-len", "32768", "--gpu", "H200"]) == 0
    out = capsys.readouterr().out
    assert "boolean seq_len^2 attention masks" in out and "--seq-len^2" not in out  # a quantity, not the flag


@pytest.mark.parametrize("make,words", [
    (lambda d: Path("/dev/zero"), ["/dev/zero is not a file"]),  # read forever before
    (lambda d: _file(d, '{"a": "' + "x" * 3_000_000 + '"}'), ["is larger than 2 MiB"]),
    (lambda d: _file(d, "[" * 100_000 + "]" * 100_000), ["(RecursionError)"]),  # a traceback before
])
def test_a_config_file_that_cannot_be_one_is_refused(make, words: list[str], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = make(tmp_path)
    if not path.exists():
        pytest.skip(f"{path} does not exist here")
    assert main(["vram", "--architecture", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Invalid --architecture" in err and all(w in err for w in words)


def _file(directory: Path, text: str) -> Path:
    path = directory / "config.json"
    path.write_text(text)
    return path


def test_a_tiny_config_reports_its_size_in_millions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 2-layer test config (about 0.4M parameters) was printed as '0B params', and its JSON said params_b 0.0."""
    config = _llama_config(tmp_path, 2, 64, 256, 4, 4, 1000)
    assert main(["vram", "--architecture", str(config), "--json"]) == 0
    params_b = json.loads(capsys.readouterr().out)["params_b"]
    assert 1e-4 < params_b < 1e-3
    assert main(["vram", "--architecture", str(config)]) == 0
    assert f"({params_b * 1000:.4g}M params," in capsys.readouterr().out
