"""Third-party clients from npm: the MCP Inspector CLI and the official conformance suite.

They are pinned with their whole dependency tree: tests/npm/package.json names exact versions and
tests/npm/package-lock.json fixes every transitive package with its integrity hash; `npm ci`
installs exactly that (no install scripts run, except the `node` package's, which fetches the
Node 22 the conformance suite needs, at the exact version pinned). They need npm and the npm
registry. CI (CI=true) must have them: there these tests fail rather than skip when npm is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from live_server import CLI, http_server, server_env

pytestmark = pytest.mark.npm

NPM_DIR = Path(__file__).parents[1] / "npm"
BIN = NPM_DIR / "node_modules" / ".bin"
INSPECTOR = [str(BIN / "mcp-inspector"), "--cli"]
CONFORMANCE = [str(BIN / "conformance")]
BASELINE = Path(__file__).with_name("conformance-expected-failures.yml")
MUST_PASS = (
    "server-initialize", "ping", "tools-list", "resources-list", "prompts-list",
    "dns-rebinding-protection", "completion-complete",
)


def _npm(*args: str) -> None:
    proc = subprocess.run(["npm", *args, "--no-audit", "--no-fund"], cwd=NPM_DIR, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "npm_config_update_notifier": "false"})
    assert proc.returncode == 0, f"npm {' '.join(args)} failed:\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module", autouse=True)
def _pinned_tools() -> None:
    """Install tests/npm exactly as locked (once per lockfile)."""
    if shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("npm is required in CI (install node 20+ and npm)")
        pytest.skip("npm not installed")
    lock = hashlib.sha256((NPM_DIR / "package-lock.json").read_bytes()).hexdigest()
    marker = NPM_DIR / "node_modules" / ".installed-from-lock"
    if not marker.is_file() or marker.read_text() != lock:
        _npm("ci", "--ignore-scripts")
        _npm("rebuild", "node")  # its install script fetches the pinned Node 22 binary
        marker.write_text(lock)


def _run(cmd: list[str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**server_env(), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # the pinned node first
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).parent)


def test_the_npm_tools_are_pinned_exactly_with_their_whole_tree() -> None:
    wanted = json.loads((NPM_DIR / "package.json").read_text())["devDependencies"]
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in wanted.values()), wanted
    locked = json.loads((NPM_DIR / "package-lock.json").read_text())["packages"]
    for name, version in wanted.items():
        assert locked[f"node_modules/{name}"]["version"] == version
    assert all(entry.get("integrity") for path, entry in locked.items() if path and not entry.get("link"))
    assert _run([str(BIN / "node"), "--version"]).stdout.strip() == f"v{wanted['node']}"


# The Inspector starts the server with a minimal environment of its own: pass on what the tests set
# (isolation, and PYTHONPATH so that the code under test is the one served).
PASSED_ON = ("PYTHONPATH", "HF_HUB_OFFLINE", "HF_HOME", "FINETUNE_ADVISOR_CACHE_DIR", "FINETUNE_ADVISOR_DOCS_URL")


def _stdio_target() -> list[str]:
    env = server_env()
    passed = [arg for name in PASSED_ON if name in env for arg in ("-e", f"{name}={env[name]}")]
    return [*passed, "--", *CLI, "serve"]


def test_inspector_lists_and_calls_over_stdio() -> None:
    listed = _run([*INSPECTOR, "--method", "tools/list", *_stdio_target()])
    assert listed.returncode == 0, listed.stderr[-2000:]
    names = {t["name"] for t in json.loads(listed.stdout)["tools"]}
    assert "detect_gpus" in names
    called = _run([*INSPECTOR, "--method", "tools/call", "--tool-name", "detect_gpus", *_stdio_target()])
    assert called.returncode == 0, called.stderr[-2000:]
    assert json.loads(called.stdout)["structuredContent"]["source"] in {"none", "nvml"}


def test_inspector_finds_no_schema_portability_problem() -> None:
    """The Inspector checks every tool schema for what some clients reject (it reported 48 warnings,
    all about `type: [T, "null"]` arrays, before issue 14's item 5); it must find nothing to report."""
    listed = _run([*INSPECTOR, "--strict", "--method", "tools/list", *_stdio_target()])
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "plan_training" in {t["name"] for t in json.loads(listed.stdout)["tools"]}
    report = listed.stderr.lower()
    assert "warning" not in report and "error" not in report and "portability" not in report, listed.stderr[-3000:]


def test_inspector_lists_and_calls_over_http() -> None:
    with http_server() as url:
        listed = _run([*INSPECTOR, url, "--transport", "http", "--method", "tools/list"])
        assert listed.returncode == 0, listed.stderr[-2000:]
        assert "detect_gpus" in {t["name"] for t in json.loads(listed.stdout)["tools"]}
        called = _run([*INSPECTOR, url, "--transport", "http", "--method", "tools/call", "--tool-name", "detect_gpus"])
        assert called.returncode == 0, called.stderr[-2000:]
        assert json.loads(called.stdout)["structuredContent"]["source"] in {"none", "nvml"}


def _summary(output: str) -> dict[str, tuple[int, int]]:
    return {m[1]: (int(m[2]), int(m[3])) for m in re.finditer(r"[✓✗] ([\w-]+): (\d+) passed, (\d+) failed", output)}


@pytest.mark.parametrize("stateless", [False, True], ids=["stateful", "stateless"])
def test_conformance_suite(stateless: bool, tmp_path: Path) -> None:
    baseline = BASELINE
    if stateless:
        # Without sessions there is no standalone GET stream to open twice: the scenario cannot apply.
        baseline = tmp_path / "stateless-baseline.yml"
        baseline.write_text(BASELINE.read_text() + "  - server-sse-multiple-streams\n")
    with http_server(*(["--stateless"] if stateless else [])) as url:
        proc = _run([*CONFORMANCE, "server", "--url", url, "--expected-failures", str(baseline)], timeout=300)
    output = proc.stdout + proc.stderr
    summary = _summary(output)
    assert summary, output[-3000:]
    for scenario in MUST_PASS:
        passed, failed = summary[scenario]
        assert failed == 0 and passed > 0, f"{scenario}: {passed} passed, {failed} failed"
    if not stateless:
        assert summary["server-sse-multiple-streams"][1] == 0 and summary["server-sse-multiple-streams"][0] > 0
    assert proc.returncode == 0, output[-3000:]  # only the listed fixture scenarios failed, and all of them did
