"""The `finetune-advisor` command line: help, version, gpu."""

from __future__ import annotations

import argparse
import json
import signal
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


# --- one vocabulary for the CLI and MCP (issue 14, item 7) -------------------------------------------

COMMAND_TOOLS = {"recommend": "recommend_model", "vram": "estimate_vram", "license": "check_license",
                 "ask": "query_docs", "gpu": "detect_gpus", "plan": "plan_training"}
# Options a command has beyond its tool's, and why.
CLI_EXTRAS = {"plan": {"dataset"}}  # counts a local file into dataset_rows, tokens_per_row and longest_row


def _subparser(command: str) -> argparse.ArgumentParser:
    from finetune_advisor.server.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices[command]


@pytest.mark.anyio
@pytest.mark.parametrize("command", sorted(COMMAND_TOOLS))
async def test_every_mcp_option_is_on_the_command_line_and_back(command: str) -> None:
    from mcp import Client

    from finetune_advisor.server.app import build_server
    from finetune_advisor.server.commands import CLI_ONLY, option_dests

    async with Client(build_server()) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    mcp_options = set(tools[COMMAND_TOOLS[command]].input_schema.get("properties", {}))
    cli_options = option_dests(_subparser(command)) - CLI_ONLY - CLI_EXTRAS.get(command, set())
    assert cli_options == mcp_options, f"only on the CLI: {cli_options - mcp_options}; only over MCP: {mcp_options - cli_options}"


@pytest.mark.anyio
async def test_every_tool_has_a_command() -> None:
    from mcp import Client

    from finetune_advisor.server.app import build_server

    async with Client(build_server()) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
    assert set(COMMAND_TOOLS.values()) == tools


# (argv, exit status): 2 for what the user typed wrong, 1 for what could not be answered.
EXIT_CASES = [
    (["recommend", "--top-k", "11"], 2),
    (["recommend", "--rows", "many"], 2),
    (["recommend", "--license", "no-such-licence"], 2),
    (["recommend", "--max-params-b", "0"], 2),
    (["vram", "qwen3-8b", "--seq-len", "50000"], 2),
    (["vram", "qwen3-8b", "--gpus", "0"], 2),
    (["vram"], 2),
    (["vram", "qwen3-8b", "--fp32-master"], 2),
    (["vram", "qwen3-8b", "--gpu", "RTX 9999"], 2),
    (["vram", "qwen3-8b", "--gpu", "T4", "--gpu-gib", "16"], 2),
    (["plan", "qwen3-8b", "--rank", "big"], 2),
    (["plan", "qwen3-8b", "--epochs", "0"], 2),
    (["plan", "qwen3-8b", "--gpu", "T4", "--dataset", "no-such-file.jsonl"], 2),
    (["license"], 2),
    (["license", "--license-id", "no-such-licence"], 2),
    (["license", "qwen3-8b", "--mau", "-1"], 2),
    (["ask", ""], 2),
    (["ask", "What rank?", "--page", "https://evil.example/"], 2),
    (["catalog", "list", "--family", "no-such-family"], 2),
    (["catalog", "show"], 2),
    (["catalog", "refresh", "--limit", "0"], 2),
    (["serve", "--transport", "carrier-pigeon"], 2),
    (["gpu", "--frobnicate"], 2),
    (["no-such-command"], 2),
    (["vram", "no-such-model-xyz"], 1),
    (["vram", "some-org/some-model"], 1),  # not in the catalog, and the Hub is off in tests
    (["license", "no-such-model-xyz"], 1),
    (["catalog", "show", "no-such-model-xyz"], 1),
    (["plan", "no-such-model-xyz", "--gpu", "T4"], 1),
]


def _status(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


@pytest.mark.parametrize(("argv", "status"), EXIT_CASES, ids=[" ".join(a) or "-" for a, _ in EXIT_CASES])
def test_exit_status_says_usage_or_domain_error(argv: list[str], status: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert _status(argv) == status
    captured = capsys.readouterr()
    assert captured.out == ""
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("finetune-advisor") and "Traceback" not in captured.err, captured.err


@pytest.mark.parametrize("command", sorted(COMMAND_TOOLS))
def test_errors_name_the_flags_not_the_mcp_parameters(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Every error a command gives in EXIT_CASES, and the tool-level ones, speak the CLI's words."""
    from finetune_advisor.server.commands import flag_names

    names = flag_names(_subparser(command))
    renamed = {param for param, flag in names.items() if flag != f"--{param}"}
    for argv, _ in [case for case in EXIT_CASES if case[0][0] == command]:
        _status(argv)
        err = capsys.readouterr().err
        for param in renamed:
            assert f"'{param}'" not in err, (argv, param, err)
            if "_" in param:
                assert param not in err, (argv, param, err)


def test_bounds_print_as_the_integers_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    assert _status(["vram", "qwen3-8b", "--seq-len", "2000000"]) == 2
    err = capsys.readouterr().err
    assert "argument --seq-len: 2000000 is out of range; accepted: 1 to 1048576" in err and "e+" not in err
    assert _status(["recommend", "--mau", "1e12"]) == 2
    assert "'1e12' is not a whole number; accepted: 0 to 100000000000" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "typed"), [("--seq-len", "99999999999999999999999"), ("--epochs", "1e400"),
                                             ("--epochs", "99999999999999999999999")])
def test_an_out_of_range_number_is_echoed_as_typed(flag: str, typed: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--seq-len 99999999999999999999999 came back as '1e+23' (the attack pass's C4), --epochs 1e400 as 'inf'."""
    assert _status(["plan", "qwen3-8b", "--gpu", "T4", flag, typed]) == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: {typed} is out of range; accepted:" in err and "e+" not in err and "inf" not in err
    assert _status(["plan", "qwen3-8b", "--gpu", "T4", flag, "9" * 5000]) == 2  # echoed, but not 5,000 digits of it
    assert f"argument {flag}: {'9' * 37}... is" in capsys.readouterr().err


def test_a_domain_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vram", "no-such-model-xyz"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("finetune-advisor: Unknown MODEL 'no-such-model-xyz'")


# --- a pipe that closes, Ctrl-C ----------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["recommend", "--gpu-gib", "24"], ["catalog", "list", "--json"], ["--help"]])
def test_a_reader_that_went_away_gets_no_traceback(argv: list[str]) -> None:
    """`finetune-advisor recommend | head -1`: the reader is gone before the answer is written (here
    it never reads). The command ends quietly, with the status of a program killed by SIGPIPE."""
    proc = subprocess.Popen([*CLI, *argv], env=server_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the interpreter has even started: every write meets a closed pipe
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == (0 if argv == ["--help"] else 141), err.decode()
    assert b"Traceback" not in err and b"Exception ignored" not in err and b"BrokenPipeError" not in err, err.decode()


def _initialized(proc: subprocess.Popen) -> None:
    """Talk to a stdio server until it has answered initialize: it is then waiting for input."""
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
    proc.stdin.write(json.dumps(init).encode() + b"\n")
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["id"] == 1


def test_ctrl_c_ends_stdio_serve_at_once() -> None:
    """In a terminal, `serve` waits on stdin; Ctrl-C (SIGINT) must end it, not wait for another line."""
    proc = subprocess.Popen([*CLI, "serve"], env=server_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        _initialized(proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)  # it hung until the next input line before
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert b"Traceback" not in err and err.strip().endswith(b"finetune-advisor: interrupted")


def test_ctrl_c_ends_http_serve_cleanly() -> None:
    from live_server import free_port, wait_for_port

    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", "--transport", "http", "--port", str(port)], env=server_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130 and b"Traceback" not in err, err.decode()  # as over stdio: interrupted


# --- fitted to the terminal --------------------------------------------------------------------------------

TEXT_COMMANDS = [
    ["recommend", "--gpu-gib", "24"],
    ["recommend", "--task", "code", "--rows", "500", "--gpu-gib", "24"],
    ["recommend", "--task", "tts", "--gpu-gib", "1"],
    ["vram", "qwen3-8b", "--gpu-gib", "6", "--detail"],
    ["license", "llama-3.2-11b-vision", "--eu"],
    ["catalog", "list"],
    ["catalog", "show", "qwen3-8b"],
    ["ask", "How much VRAM for a 70B model with QLoRA?"],
    ["plan", "llama-3.1-8b", "--gpu", "RTX 4090", "--rows", "20000", "--tokens-per-row", "400", "--price-per-hour", "0.5"],
]


@pytest.mark.parametrize("argv", TEXT_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("columns", [60, 100])
def test_text_fits_the_terminal_width(argv: list[str], columns: int, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str], no_gpu: None) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("FINETUNE_ADVISOR_OFFLINE", "1")
    assert main(argv) == 0
    out = capsys.readouterr().out
    if argv[:2] == ["catalog", "list"] and columns < 70:
        return  # its id column stays whole (ids are copied): 60 columns cannot hold the rest beside it
    markdown = argv[0] == "ask"  # the docs' answer is Markdown and is printed as written
    for line in out.splitlines():
        if len(line) > columns and not markdown:
            # only a word that cannot be broken (a URL, a source reference) may stick out
            assert max(map(len, line.split())) > columns - 12, line


@pytest.mark.parametrize("argv", [a for a in TEXT_COMMANDS if a[0] != "catalog"] + [["catalog", "show", "qwen3-8b"]],
                         ids=" ".join)
def test_json_output_does_not_depend_on_the_terminal(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str], no_gpu: None) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_OFFLINE", "1")
    assert main([*argv, "--json"]) == 0
    wide = capsys.readouterr().out
    monkeypatch.setenv("COLUMNS", "40")
    assert main([*argv, "--json"]) == 0
    assert capsys.readouterr().out == wide and json.loads(wide)


def test_a_narrow_table_wraps_its_cells_and_keeps_ids_whole(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["catalog", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    footer = next(i for i, line in enumerate(lines) if " models (" in line)  # the summary under the table
    ids = {line.split()[0] for line in lines[2:footer] if not line.startswith(" ")}
    from finetune_advisor.adapters.cache import load_catalog

    assert ids == {m.id for m in load_catalog().models}
    assert max(len(line) for line in lines) <= 80


# --- options that do nothing say so ------------------------------------------------------------------------


def test_sharding_on_one_gpu_is_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vram", "qwen3-8b", "--gpu-gib", "24", "--sharding", "fsdp", "--json"]) == 0
    captured = capsys.readouterr()
    assert "finetune-advisor: warning: --sharding fsdp has no effect with one GPU" in captured.err
    assert main(["vram", "qwen3-8b", "--gpu-gib", "24", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert json.loads(captured.out)["total_gib"] == plain["total_gib"]
    assert main(["vram", "qwen3-8b", "--gpu-gib", "24", "--sharding", "fsdp", "--gpus", "2", "--json"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_lora_options_with_full_fine_tuning_are_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vram", "qwen3-0.6b", "--method", "full", "--rank", "64", "--target", "q_proj", "--json"]) == 0
    err = capsys.readouterr().err
    assert "warning: --rank has no effect with --method full" in err
    assert "warning: --target has no effect with --method full" in err


def test_http_options_with_stdio_are_a_warning() -> None:
    proc = subprocess.run([*CLI, "serve", "--port", "9000", "--stateless"], env=server_env(), input=b"", check=False,
                          capture_output=True, timeout=60)
    assert proc.returncode == 0
    assert b"warning: --port has no effect with --transport stdio" in proc.stderr
    assert b"warning: --stateless has no effect with --transport stdio" in proc.stderr


@pytest.mark.parametrize(("argv", "said"), [
    (["vram", "qwen3-8b", "--seqlen", "4096"], "finetune-advisor vram: error: unrecognized arguments: --seqlen 4096 "
                                                "(--seqlen: did you mean --seq-len?)"),
    (["recommend", "--gpu-gb=24"], "finetune-advisor recommend: error: unrecognized arguments: --gpu-gb=24 "
                                   "(--gpu-gb: did you mean --gpu-gib?)"),
    (["license", "--model", "llama-3.1-8b"], "finetune-advisor license: error: unrecognized arguments: --model "
                                             "(give MODEL without --model)"),
    (["license", "llama-3.1-8b", "--users", "1000000"], "finetune-advisor license: error: unrecognized arguments: "
                                                         "--users 1000000 (--users: did you mean --mau?)"),
    (["plan", "qwen3-8b", "--zzzz"], "finetune-advisor plan: error: unrecognized arguments: --zzzz"),
    (["--bogus"], "finetune-advisor: error: unrecognized arguments: --bogus"),
])
def test_an_unknown_option_is_reported_by_its_command_with_the_option_meant(
        argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A typo'd option used to get the top-level usage and no hint ('finetune-advisor: error: unrecognized arguments:
    --seqlen 4096'), and `--model NAME` (the first thing many type) suggested nothing: the command's own usage now
    comes with the option meant, or the positional argument the word names."""
    assert _status(argv) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == said
    command = "" if argv[0].startswith("-") else f" {argv[0]}"
    assert f"usage: finetune-advisor{command}" in err
