"""`serve --max-connections` is bounded before anything starts (attack pass A5: 5000000000 printed
"serving", then crashed in listen() with an OverflowError traceback)."""

from __future__ import annotations

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
