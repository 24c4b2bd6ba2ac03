"""bench/catalog_audit/unsloth_loader.py reads an Unsloth release's mapper and redirects without running its code, and
reports where the catalog or naming.LOADER_REDIRECTS would name or size another checkpoint than that release loads."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
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
    rules = {file: "".join(f"def {name}(config):\n    return {name!r}\n\n" for f, name in audit.RULE_CODE if f == file)
             for file, _ in audit.RULE_CODE}
    rules[audit.LOADER] = f"import os\n\nBAD_MAPPINGS = {{\n{bad}}}\n\n" + rules.get(audit.LOADER, "")
    rules.update({file: f"if {text}:\n    pass\n" for file, text in audit.RULE_TEXT.items()})
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(audit.MAPPER, f"__all__ = []\n\n__INT_TO_FLOAT_MAPPER = \\\n{table!r}\n\ndef build_mappers(m):\n    pass\n")
        for file, text in rules.items():
            z.writestr(file, text)
    return wheel


@pytest.fixture(autouse=True)
def _rules_of_the_fake_release(monkeypatch: pytest.MonkeyPatch) -> None:
    """The digests of the functions `_release` writes, in place of those read in the real release."""
    monkeypatch.setattr(audit, "RULE_CODE", {key: audit.digest(source, audit.functions(source)[key[1]]) for key in
                                             audit.RULE_CODE for source in [f"def {key[1]}(config):\n    return {key[1]!r}\n"]})


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


def test_a_change_in_the_code_a_loader_rule_was_read_from_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The FP8 rule's functions are fingerprinted (layout and comments aside) and the -bf16 rule's test is looked
    for: a release that edits one, drops one or no longer tests -bf16 names says which rule to read again."""
    source = "def maybe_arm_fp8_to_nf4(config):\n    # a comment\n    return   'maybe_arm_fp8_to_nf4'\n"
    assert audit.digest(source, audit.functions(source)["maybe_arm_fp8_to_nf4"]) == \
        audit.RULE_CODE[(audit.FP8_TO_NF4, "maybe_arm_fp8_to_nf4")]
    files = audit.read_release(_release(tmp_path))
    assert audit.rule_problems(files) == []
    files[audit.FP8_TO_NF4] = (files[audit.FP8_TO_NF4] or "").replace("return '_block_size'", "return None")
    files[audit.UTILS] = ""
    files[audit.FAST_LOADER] = "if model_name.endswith('-bf16'):\n    pass\n"
    problems = audit.rule_problems(files)
    assert any(p.startswith("unsloth/models/fp8_to_nf4.py _block_size changed") for p in problems)
    assert any(p.startswith("unsloth/models/_utils.py verify_fp8_support_if_applicable is gone") for p in problems)
    assert any("no longer tests" in p and "-bf16" in p for p in problems) and len(problems) == 3


@pytest.mark.pypi
def test_the_release_the_estimates_are_calibrated_for_loads_what_the_product_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Against unsloth 2026.10.9 itself, fetched from PyPI: its redirects, mapper swaps, uploads and the code the FP8
    and -bf16 rules were read from agree with the catalog, LOADER_REDIRECTS and RULE_CODE."""
    monkeypatch.undo()  # the real digests, not the fake release's
    fetched = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "unsloth==2026.10.9", "-d",
                              str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert fetched.returncode == 0, fetched.stderr[-2000:]
    assert audit.main([str(next(tmp_path.glob("unsloth-2026.10.9-*.whl")))]) == 0, capsys.readouterr().out
