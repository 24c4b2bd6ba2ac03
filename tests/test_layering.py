"""The dependency rules of DESIGN.md, checked on the source: only server/ imports mcp;
network and NVML libraries only in the adapters; nothing heavy imported at module level."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = {"hub.py", "gpu.py", "docs_client.py", "catalog_refresh.py"}
HEAVY = {"huggingface_hub", "pynvml", "httpx2", "httpx", "torch", "uvicorn"}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level module name, imported at module level?) for every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name.split(".")[0], id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module.split(".")[0], id(node) in top_level))
    return found


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", ["tools", "prompts"])
def test_only_server_imports_mcp(folder: str) -> None:
    offenders = [str(p.relative_to(ROOT)) for p in _sources(folder) if any(m == "mcp" for m, _ in _imports(p))]
    assert offenders == []


def test_io_libraries_only_in_adapters() -> None:
    offenders = [
        f"{p.relative_to(ROOT)}: {m}"
        for p in _sources("tools")
        if p.name not in ADAPTERS
        for m, _ in _imports(p)
        if m in HEAVY
    ]
    assert offenders == []


@pytest.mark.parametrize("folder", ["server", "tools", "prompts"])
def test_heavy_libraries_wait_for_first_use(folder: str) -> None:
    offenders = [
        f"{p.relative_to(ROOT)}: {m}" for p in _sources(folder) for m, top in _imports(p) if top and m in HEAVY
    ]
    assert offenders == []


@pytest.mark.parametrize("folder", ["server", "tools", "prompts"])
def test_imports_are_absolute_through_the_package(folder: str) -> None:
    offenders = [
        f"{p.relative_to(ROOT)}: {m}" for p in _sources(folder) for m, _ in _imports(p) if m in {"server", "tools", "prompts"}
    ]
    assert offenders == []


def test_only_settings_reads_the_environment() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for folder in ("server", "tools", "prompts")
        for p in _sources(folder)
        if p.name != "settings.py" and ("os.environ" in p.read_text() or "os.getenv" in p.read_text())
    ]
    assert offenders == []


def test_no_print_in_server_or_tools() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for folder in ("server", "tools", "prompts")
        for p in _sources(folder)
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
    ]
    assert offenders == []
