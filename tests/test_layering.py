"""The dependency rules of docs/DESIGN.md, checked on the source.

- only `server/` imports `mcp`;
- the five tools never import each other;
- the pure core (catalog, vram, licensing, recommend, unsloth_docs, gpus and the shared modules)
  imports neither the adapters, the settings, the lookups, the tools nor the server;
- only the adapters import network and NVML libraries, and only on first use;
- only `settings.py` reads the environment; nothing prints.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "finetune_advisor"
CORE = ("catalog", "vram", "licensing", "recommend", "unsloth_docs", "gpus", "plan")
SHARED = ("errors.py", "vocabulary.py", "hub_card.py", "redaction.py", "untrusted.py")
IO_LIBRARIES = {"huggingface_hub", "pynvml", "httpx2", "httpx", "uvicorn", "requests", "urllib3", "tokenizers", "pyarrow"}
HEAVY = IO_LIBRARIES | {"torch", "tokenizers", "pyarrow"}
TOOLS = {p.stem for p in (PACKAGE / "tools").glob("*.py") if p.stem != "__init__"}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, imported at module level?) for every absolute import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(f"{node.module}.{a.name}", id(node) in top_level) for a in node.names]
    return found


def _sources(*parts: str) -> list[Path]:
    found: list[Path] = []
    for part in parts:
        path = PACKAGE / part
        found += [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))
    return found


def _offenders(paths: list[Path], bad) -> list[str]:
    return [f"{p.relative_to(ROOT)}: {m}" for p in paths for m, top in _imports(p) if bad(m, top)]


def test_the_layers_exist() -> None:
    for folder in ("tools", "adapters", "server", "prompts", *CORE):
        assert (PACKAGE / folder / "__init__.py").is_file(), folder
    assert TOOLS == {"recommend_model", "estimate_vram", "plan_training", "check_license", "query_docs", "detect_gpus"}


def test_only_server_imports_mcp() -> None:
    everything_else = [p for p in _sources(".") if "server" not in p.relative_to(PACKAGE).parts]
    assert _offenders(everything_else, lambda m, _: m.split(".")[0] == "mcp") == []


def test_tools_do_not_import_each_other() -> None:
    offenders = [
        f"{p.name}: {m}" for p in _sources("tools") for m, _ in _imports(p)
        if m.startswith("finetune_advisor.tools.") and m.split(".")[2] != p.stem
    ]
    assert offenders == []


def test_the_core_is_pure() -> None:
    outer = ("finetune_advisor.adapters", "finetune_advisor.settings", "finetune_advisor.tools", "finetune_advisor.server",
             "finetune_advisor.prompts", "finetune_advisor.lookup")
    offenders = _offenders(_sources(*CORE, *SHARED), lambda m, _: m.startswith(outer) or m.split(".")[0] in IO_LIBRARIES)
    assert offenders == []


def test_io_libraries_only_in_adapters_and_the_http_transport() -> None:
    allowed = set((PACKAGE / "server").glob("http*.py"))  # the HTTP transport: http.py and its http_*.py parts
    others = [p for p in _sources(".") if "adapters" not in p.relative_to(PACKAGE).parts and p not in allowed]
    assert _offenders(others, lambda m, _: m.split(".")[0] in IO_LIBRARIES) == []


def test_heavy_libraries_wait_for_first_use() -> None:
    assert _offenders(_sources("."), lambda m, top: top and m.split(".")[0] in HEAVY) == []


@pytest.mark.parametrize("outside", ["server", "tools", "prompts", "adapters", "catalog", "vram"])
def test_imports_are_absolute_through_the_package(outside: str) -> None:
    # A bare `import tools` or `from catalog import ...` would only work from the repository root.
    assert _offenders(_sources("."), lambda m, _: m.split(".")[0] == outside) == []


def test_only_settings_reads_the_environment() -> None:
    offenders = [
        str(p.relative_to(ROOT)) for p in _sources(".")
        if p.name != "settings.py" and ("os.environ" in p.read_text() or "os.getenv" in p.read_text())
    ]
    assert offenders == []


def test_nothing_prints() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in _sources(".")
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
    ]
    assert offenders == []
