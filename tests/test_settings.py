"""Bad configuration fails at start-up with one line naming the variable and what it accepts
(issue 13 item 8, issue 14 item 7), for every CLI command, and secrets are never echoed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from live_server import CLI, server_env

from finetune_advisor import settings
from finetune_advisor.errors import ConfigurationError
from finetune_advisor.server.cli import COMMANDS, main

SECRET = "hf_SECRETvalue"

# A malformed value for every variable settings.py checks, and a word its message must contain.
MALFORMED = {
    "FINETUNE_ADVISOR_LOG_LEVEL": ("LOUD", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    "FINETUNE_ADVISOR_DOCS_URL": ("unsloth.ai/docs", "http:// or https://"),
    "HF_ENDPOINT": (f"ftp://user:{SECRET}@mirror.example", "http:// or https://"),
    "FINETUNE_ADVISOR_HUB_TIMEOUT": ("-1", "seconds"),
    "FINETUNE_ADVISOR_DOCS_TIMEOUT": ("inf", "seconds"),
    "FINETUNE_ADVISOR_DOCS_CACHE_TTL": ("a week", "seconds"),
    "FINETUNE_ADVISOR_OFFLINE": ("maybe", "true"),
    "HF_HUB_OFFLINE": ("2", "true"),
    "HF_TOKEN": (f"paste {SECRET} here", "printable"),
    "FINETUNE_ADVISOR_HTTP_TOKEN": (SECRET, "secrets.token_urlsafe(32)"),
}
# Never refused: CUDA and the XDG spec say how any value is read, and any path is a path (an unusable
# cache directory is the cache's business: tests/server/test_faults.py).
UNCHECKED = {"CUDA_VISIBLE_DEVICES", "XDG_CACHE_HOME", "FINETUNE_ADVISOR_CACHE_DIR"}
ARGV = {
    "serve": ["serve"], "recommend": ["recommend", "--task", "chat"], "vram": ["vram", "qwen3-8b"],
    "license": ["license", "qwen3-8b"], "ask": ["ask", "How do I pick a rank?"], "catalog": ["catalog", "list"],
    "gpu": ["gpu"], "plan": ["plan", "qwen3-8b", "--gpu", "T4"],
}


def test_every_variable_settings_reads_is_checked_here() -> None:
    read = set(re.findall(r'_get\("([A-Z_]+)"\)', Path(settings.__file__).read_text()))
    read |= set(re.findall(r'(?:_flag|_seconds|_url|_secret)\(\s*"([A-Z_]+)"', Path(settings.__file__).read_text()))
    assert read - UNCHECKED == set(MALFORMED)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_value_is_refused_in_one_line(name: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    value, accepted = MALFORMED[name]
    monkeypatch.setenv(name, value)
    assert main(["gpu"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"finetune-advisor: {name}"), err
    assert accepted in err and "Accepted:" in err
    assert SECRET not in err


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_checks_the_environment_first(command: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_DOCS_URL", "not a url")
    assert main(ARGV[command]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("finetune-advisor: FINETUNE_ADVISOR_DOCS_URL is not a usable URL")


@pytest.mark.parametrize("name", ["HF_ENDPOINT", "FINETUNE_ADVISOR_DOCS_URL"])
@pytest.mark.parametrize("url", ["http://a b.com", "http://a%20b.com/x", "https://a..b", "http://a<b.com"])
def test_a_url_whose_host_is_no_host_name_is_refused_at_start_up(name: str, url: str, monkeypatch, capsys) -> None:
    """HF_ENDPOINT='http://a b.com' passed the start-up check and failed later, as a ConnectError in the licence
    answer (the attack pass's C4)."""
    monkeypatch.setenv(name, url)
    assert main(["gpu"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"finetune-advisor: {name} is not a usable URL")
    assert "a host (a name of letters, digits, hyphens and dots, or an IP address)" in err


@pytest.mark.parametrize("url", ["https://hub.example.org", "http://[::1]:8080/hub", "https://münchen.example",
                                 "http://mirror_1.internal.", "http://10.0.0.7:9000"])
def test_a_url_with_a_real_host_is_read(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", url)
    assert settings.hub_endpoint() == url.rstrip("/")


@pytest.mark.parametrize(
    ("name", "value", "reader", "expected"),
    [
        ("FINETUNE_ADVISOR_LOG_LEVEL", " debug ", settings.log_level, "DEBUG"),
        ("FINETUNE_ADVISOR_DOCS_CACHE_TTL", "0", settings.docs_cache_ttl, 0.0),
        ("FINETUNE_ADVISOR_HUB_TIMEOUT", "0.3", settings.hub_timeout, 0.3),
        ("FINETUNE_ADVISOR_OFFLINE", "YES", settings.offline, True),
        ("HF_HUB_OFFLINE", "", settings.hub_offline, False),
        ("HF_ENDPOINT", "http://127.0.0.1:8080/", settings.hub_endpoint, "http://127.0.0.1:8080"),
        ("FINETUNE_ADVISOR_HTTP_TOKEN", "x" * 32, settings.http_token, "x" * 32),
    ],
)
def test_good_values_are_read(name: str, value: str, reader, expected, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, value)
    assert reader() == expected
    settings.check()


def test_a_relative_xdg_cache_home_is_ignored_as_the_spec_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINETUNE_ADVISOR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert settings.cache_dir() == Path.home() / ".cache" / "finetune-advisor"


def test_a_short_token_says_how_to_make_a_good_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_ADVISOR_HTTP_TOKEN", "x" * 31)
    with pytest.raises(ConfigurationError, match=r"at least 32 random characters; generate one with: python -c"):
        settings.http_token()


def test_the_console_script_prints_no_traceback() -> None:
    proc = subprocess.run([*CLI, "vram", "qwen3-8b"], env=server_env(FINETUNE_ADVISOR_LOG_LEVEL="LOUD"),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        "finetune-advisor: FINETUNE_ADVISOR_LOG_LEVEL='LOUD' is not a log level. "
        "Accepted: DEBUG, INFO, WARNING, ERROR, CRITICAL.\n"
    )
