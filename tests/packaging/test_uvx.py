"""The README's `uvx --from <checkout> finetune-advisor serve`, run for real: uv builds this checkout,
installs it with its dependencies from PyPI into an environment of its own, and starts the server,
which must answer over stdio from its packaged data (catalog, licences, docs notes, prompts).

Needs uv (a test extra) and PyPI. Without uv the test is skipped, except in CI (CI=true), where the
test extras are installed and a missing uv is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from live_server import server_env
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.pypi

ROOT = Path(__file__).resolve().parents[2]


def _uvx() -> list[str] | None:
    """`uvx`, or the same as `uv tool run`, from PATH or from the uv package of the test extras."""
    if found := shutil.which("uvx"):
        return [found]
    uv = shutil.which("uv")
    if uv is None:
        try:
            from uv import find_uv_bin
        except ImportError:
            return None
        uv = find_uv_bin()
    return [uv, "tool", "run"]


@pytest.fixture(scope="module")
def uvx_server(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, str], Path]:
    """The command that serves this checkout through uvx, its environment, a working directory outside it."""
    uvx = _uvx()
    if uvx is None:
        if os.environ.get("CI"):
            pytest.fail("uv is required in CI: it is a test extra (pip install '.[test]')")
        pytest.skip("uv is not installed (pip install uv, or the test extras)")
    work = tmp_path_factory.mktemp("uvx")
    env = {k: v for k, v in server_env().items() if k != "PYTHONPATH"}  # serve the installed copy only
    env.update(UV_CACHE_DIR=str(work / "uv-cache"), UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never",
               FINETUNE_ADVISOR_OFFLINE="1")
    command = [*uvx, "--python", sys.executable, "--from", str(ROOT), "finetune-advisor"]
    # The first run builds and installs (from PyPI): done here, with its own bound, so that the MCP
    # session below starts from the cached environment.
    built = subprocess.run([*command, "--version"], env=env, cwd=work, capture_output=True, text=True,
                           timeout=600, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    assert built.stdout.startswith("finetune-advisor ")
    return command, env, work


@pytest.mark.anyio
async def test_uvx_from_a_checkout_serves_every_tool(uvx_server: tuple[list[str], dict[str, str], Path]) -> None:
    command, env, work = uvx_server
    params = StdioServerParameters(command=command[0], args=[*command[1:], "serve"], env=env, cwd=str(work))
    async with Client(params) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        calls = {
            "recommend_model": {"task": "code", "gpu_memory_gib": 24},
            "plan_training": {"model": "qwen3-8b", "gpu": "RTX 4090", "dataset_rows": 1000, "tokens_per_row": 300},
            "estimate_vram": {"model": "qwen3-8b", "gpu_memory_gib": 24},
            "check_license": {"model": "llama-3.1-8b"},
            "query_docs": {"question": "How much VRAM for a 70B model with QLoRA?"},
            "detect_gpus": {},
        }
        assert names == set(calls), "a tool the test does not call"
        for tool, arguments in calls.items():
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, (tool, result.content)
        docs = (await client.call_tool("query_docs", calls["query_docs"])).structured_content
        assert docs["origin"] == "offline" and docs["sources"], "the packaged docs notes answer offline"
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert {"choose_model", "base_or_instruct", "fit_on_my_gpu"} <= prompts
        catalog = await client.read_resource("catalog://models/qwen3-8b")
        assert "qwen3-8b" in catalog.contents[0].text
