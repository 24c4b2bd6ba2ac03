"""`serve --max-connections` is bounded before anything starts (attack pass A5: 5000000000 printed
"serving", then crashed in listen() with an OverflowError traceback), by the process's open-file limit too."""

from __future__ import annotations

import resource
import socket
import subprocess

import pytest
from live_server import CLI, free_port, server_env

from finetune_advisor.server.cli import main
from finetune_advisor.server.http_limits import MAX_CONNECTIONS, HttpLimits, uvicorn_options


@pytest.mark.parametrize(("value", "problem"), [
    ("5000000000", "5000000000 is out of range"),
    (str(MAX_CONNECTIONS + 1), f"{MAX_CONNECTIONS + 1} is out of range"),
    ("0", "0 is out of range"),
    ("lots", "'lots' is not a whole number"),
])
def test_an_unusable_max_connections_is_refused_naming_the_flag_and_the_range(
    value: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--transport", "http", "--port", "1", "--max-connections", value])
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and "serving" not in err
    assert err.splitlines()[-1] == (f"finetune-advisor serve: error: argument --max-connections: {problem}; "
                                    f"accepted: an integer from 1 to {MAX_CONNECTIONS}")


def test_the_console_script_refuses_before_serving_without_a_traceback() -> None:
    proc = subprocess.run([*CLI, "serve", "--transport", "http", "--port", str(free_port()),
                           "--max-connections", "5000000000"],
                          env=server_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Traceback" not in proc.stderr and "serving" not in proc.stderr
    assert "argument --max-connections: 5000000000 is out of range" in proc.stderr


def test_the_largest_accepted_value_gives_a_backlog_listen_takes() -> None:
    options = uvicorn_options(HttpLimits(max_connections=MAX_CONNECTIONS))
    assert 16 <= options["backlog"] < 2**31


def test_max_sessions_still_needs_at_least_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--max-sessions", "0"])
    assert "argument --max-sessions: 0 is out of range; accepted: an integer of at least 1" in capsys.readouterr().err


def _with_open_files(files: int) -> None:
    """Run in the child before the server: it may open `files` files (ulimit -n)."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def test_a_value_beyond_the_open_file_limit_is_refused_naming_the_flag_and_the_limit() -> None:
    """The default was lowered to half of ulimit -n, but a value the user gave was not checked against it (attack pass
    A5): at ulimit -n 256, 1000 connections run the process out of files before the cap acts."""
    proc = subprocess.run([*CLI, "serve", "--transport", "http", "--port", str(free_port()), "--max-connections", "1000"],
                          env=server_env(), capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: _with_open_files(256))
    assert proc.returncode == 2 and proc.stdout == "" and "serving" not in proc.stderr
    assert proc.stderr == ("finetune-advisor: --max-connections 1000 is more than this process may hold open: it may "
                           "open 256 files (ulimit -n), half of them kept for the server's own. Accepted: at most 128 "
                           "here, or raise the limit first (ulimit -n 2000).\n")


def test_a_value_within_the_open_file_limit_goes_on_to_serve() -> None:
    with socket.socket() as holder:  # a taken port: the server gets as far as binding it, and stops there
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = subprocess.run([*CLI, "serve", "--transport", "http", "--port", str(port), "--max-connections", "128"],
                              env=server_env(), capture_output=True, text=True, timeout=60,
                              preexec_fn=lambda: _with_open_files(256))
    assert proc.returncode == 1 and "the port is already in use" in proc.stderr and "max-connections" not in proc.stderr
