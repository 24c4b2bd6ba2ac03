"""bench/catalog_audit/unsloth_loader.py reads an Unsloth release's mapper and redirects without running its code, and
reports where the catalog or naming.LOADER_REDIRECTS would name or size another checkpoint than that release loads."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import pytest

from finetune_advisor.adapters.cache import load_catalog
from finetune_advisor.catalog import naming

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "catalog_audit" / "unsloth_loader.py"
spec = importlib.util.spec_from_file_location("unsloth_loader_audit", SCRIPT)
audit = importlib.util.module_from_spec(spec)
assert spec.loader is not None
spec.loader.exec_module(audit)


def _release(tmp_path: Path, drop_swap: str | None = None, redirects: dict[str, str] | None = None,
             more: dict[str, tuple[str, ...]] | None = None) -> Path:
    """A wheel laid out as Unsloth's, its tables written as the release writes them, agreeing with the catalog."""
    table: dict[str, tuple[str, ...]] = {}
    for entry in load_catalog().models:
        for variant in ("base", "instruct"):
            dynamic = entry.unsloth.get(variant, "unsloth-bnb-4bit")
            names = [n for n in (entry.unsloth.get(variant, "16bit"), entry.base_id if variant == "base" else
                                 entry.instruct_id) if n]
            if dynamic and not naming.redirected(dynamic) and dynamic != drop_swap:
                table[dynamic] = tuple(names)
    table.update(more or {})
    found = redirects if redirects is not None else {k.lower(): v for k, (v, _) in naming.LOADER_REDIRECTS.items()}
    bad = "".join(f'    "{k}".lower(): "{v}",  # a reason\n' for k, v in found.items())
    wheel = tmp_path / "unsloth-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(audit.MAPPER, f"__all__ = []\n\n__INT_TO_FLOAT_MAPPER = \\\n{table!r}\n\ndef build_mappers(m):\n    pass\n")
        z.writestr(audit.LOADER, f"import os\n\nBAD_MAPPINGS = {{\n{bad}}}\n")
    return wheel


def test_a_release_that_loads_what_the_catalog_says_has_no_differences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert audit.main([str(_release(tmp_path))]) == 0
    assert capsys.readouterr().out.startswith("0 difference(s)")


def test_a_dropped_swap_and_changed_redirects_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    redirects = {k.lower(): v for k, (v, _) in naming.LOADER_REDIRECTS.items() if "solar" not in k}
    redirects["unsloth/qwen3-32b-unsloth-bnb-4bit"] = "unsloth/Qwen3-32B"
    redirects["unsloth/new-model-bnb-4bit"] = "org/New-Model"
    more = {"unsloth/Qwen3.5-27B-unsloth-bnb-4bit": ("unsloth/Qwen3.5-27B", "Qwen/Qwen3.5-27B")}
    assert audit.main([str(_release(tmp_path, "unsloth/Qwen3-8B-unsloth-bnb-4bit", redirects, more))]) == 1
    out = capsys.readouterr().out
    assert "redirect missing from LOADER_REDIRECTS: unsloth/new-model-bnb-4bit -> org/New-Model" in out
    assert "redirect target differs: unsloth/qwen3-32b-unsloth-bnb-4bit -> unsloth/Qwen3-32B" in out
    assert "redirect no longer in the release: unsloth/solar-10.7b-bnb-4bit" in out
    assert "qwen3-8b: load_in_4bit takes None for unsloth/Qwen3-8B, not the listed unsloth/Qwen3-8B-unsloth-bnb-4bit" in out
    assert ("qwen3.5-27b: the mapper names unsloth/Qwen3.5-27B-unsloth-bnb-4bit (instruct, unsloth-bnb-4bit); the catalog "
            "lists none") in out
    assert "unsloth/Qwen3.5-27B (instruct, 16bit)" not in out  # listed
