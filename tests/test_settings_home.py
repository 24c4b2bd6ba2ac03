"""A cache directory that needs a home directory nobody has is refused in one line naming the variable, by
every command and before the server starts (attack pass A4: a RuntimeError traceback instead)."""

from __future__ import annotations

import pwd
import subprocess

import pytest
from live_server import CLI, server_env

from finetune_advisor import settings
from finetune_advisor.errors import ConfigurationError
from finetune_advisor.server.cli import main

NO_SUCH_USER = "~finetune-advisor-no-such-user/cache"


@pytest.fixture
def homeless(monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME unset and no passwd entry for this uid: a container run with `--user 12345`."""
    for name in ("FINETUNE_ADVISOR_CACHE_DIR", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(name, raising=False)

    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", no_entry)


@pytest.mark.parametrize("argv", [["gpu"], ["serve"], ["ask", "Which rank?"]])
def test_a_tilde_of_an_unknown_user_names_the_variable(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_CACHE_DIR", NO_SUCH_USER)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"finetune-advisor: FINETUNE_ADVISOR_CACHE_DIR='{NO_SUCH_USER}'"), err
    assert "home directory cannot be found" in err and "Accepted:" in err


@pytest.mark.parametrize("argv", [["gpu"], ["serve"]])
def test_no_home_directory_for_the_default_says_which_variable_sets_one(
    argv: list[str], homeless: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert err.startswith("finetune-advisor: No home directory could be found for the default cache directory")
    assert "Accepted: FINETUNE_ADVISOR_CACHE_DIR, or XDG_CACHE_HOME as an absolute path" in err


def test_without_a_home_an_explicit_or_xdg_cache_directory_still_works(
    homeless: None, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert settings.cache_dir() == tmp_path / "xdg" / "finetune-advisor"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # ignored, as the XDG spec says: the home is needed again
    with pytest.raises(ConfigurationError, match="No home directory"):
        settings.cache_dir()
    monkeypatch.setenv("FINETUNE_ADVISOR_CACHE_DIR", str(tmp_path / "mine"))
    assert settings.cache_dir() == tmp_path / "mine"


def test_the_console_script_prints_no_traceback() -> None:
    proc = subprocess.run([*CLI, "gpu"], env=server_env(FINETUNE_ADVISOR_CACHE_DIR=NO_SUCH_USER),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        f"finetune-advisor: FINETUNE_ADVISOR_CACHE_DIR='{NO_SUCH_USER}' starts with a ~ whose home directory "
        "cannot be found. Accepted: a path, with ~ or ~user only where that home directory exists.\n"
    )
