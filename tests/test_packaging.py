"""Supply chain (issue 13, item 11): every dependency is declared and has an upper bound, and what
is installed here satisfies the declared ranges."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
EVERYTHING = [
    *RUNTIME,
    *(Requirement(r) for extra in PYPROJECT["project"]["optional-dependencies"].values() for r in extra),
    *(Requirement(r) for r in PYPROJECT["build-system"]["requires"]),
]
# Import names that differ from the distribution that provides them.
PROVIDED_BY = {"pynvml": "nvidia-ml-py"}


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


@pytest.mark.parametrize("requirement", EVERYTHING, ids=str)
def test_every_dependency_has_an_upper_bound(requirement: Requirement) -> None:
    assert any(spec.operator in ("<", "<=", "==", "~=") for spec in requirement.specifier), (
        f"{requirement} has no upper bound"
    )


def test_everything_the_package_imports_is_declared() -> None:
    imported: set[str] = set()
    for path in (ROOT / "finetune_advisor").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "finetune_advisor"}
    # the `data` extra's modules are imported only when installed (adapters/dataset_file.py)
    optional = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["data"]]
    declared = {_normal(r.name) for r in [*RUNTIME, *optional]}
    assert {_normal(PROVIDED_BY.get(m, m)) for m in third_party} <= declared


@pytest.mark.parametrize("requirement", RUNTIME, ids=str)
def test_the_installed_versions_are_within_the_bounds(requirement: Requirement) -> None:
    assert requirement.specifier.contains(Version(version(requirement.name)), prereleases=True)
