"""Check the catalog's Unsloth ids and naming.LOADER_REDIRECTS against an Unsloth release, before calibrating on it.

    python bench/catalog_audit/unsloth_loader.py unsloth-2026.10.9-py3-none-any.whl   # or an unpacked source tree

Reads two tables out of the release without running its code (ast, literal values only): the mapper's
`__INT_TO_FLOAT_MAPPER` (unsloth/models/mapper.py), from which its loader derives which 4-bit upload a 16-bit name is
swapped for under load_in_4bit, and `BAD_MAPPINGS` (unsloth/models/loader_utils.py), the uploads it loads another repo
for. Prints, and exits 1 on, any difference that changes what the product names or sizes:
- a redirect in the release that LOADER_REDIRECTS lacks or gives another target, or one it has that the release dropped;
- a listed -unsloth-bnb-4bit upload that the release's mapper does not swap its variant's 16-bit names to (the
  estimator assumes the swap: vram.resolve.ResolvedArch.storage_for);
- an Unsloth upload the mapper lists beside a catalog entry's original repo that the entry does not list;
- a change in the code the product's loader rules were read from (`RULE_CODE`: what Unsloth does with an FP8
  checkpoint, catalog/quantised.py; `RULE_TEXT`: the -bf16 names it loads in 16 bits, catalog/naming.py): re-read it.
"""

from __future__ import annotations

import ast
import hashlib
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from finetune_advisor.catalog import naming  # noqa: E402
from finetune_advisor.catalog.schema import Catalog, CatalogEntry  # noqa: E402
from finetune_advisor.catalog.store import load_packaged  # noqa: E402
from finetune_advisor.vocabulary import Variant  # noqa: E402

MAPPER, LOADER = "unsloth/models/mapper.py", "unsloth/models/loader_utils.py"
FP8_TO_NF4, UTILS, FAST_LOADER = "unsloth/models/fp8_to_nf4.py", "unsloth/models/_utils.py", "unsloth/models/loader.py"
# The functions catalog/quantised.py's FP8 rule was read from in unsloth 2026.10.9, by file, with the digest of each
# one's code (`digest`: layout and whole-line comments aside). Another digest in a release means: read the rule again.
RULE_CODE: dict[tuple[str, str], str] = {
    (FP8_TO_NF4, "_block_size"): "391a369e6ed225ff",
    (FP8_TO_NF4, "fp8_block_quantization_config"): "2165a7584ff3fc28",
    (FP8_TO_NF4, "maybe_arm_fp8_to_nf4"): "24f4046ced312bb3",
    (LOADER, "check_and_disable_bitsandbytes_loading"): "a6d6ae4c634dd469",
    (LOADER, "_fp8_dequantize_quantization_config"): "53166b82a5fa9929",
    (UTILS, "verify_fp8_support_if_applicable"): "f9160500a06f75d3",
}
# naming's -bf16 rule sits inside FastLanguageModel.from_pretrained, which every release edits: its test, verbatim.
RULE_TEXT: dict[str, str] = {FAST_LOADER: 'model_name.lower().endswith("-bf16")'}


def read_release(path: Path) -> dict[str, str | None]:
    """The text of each file the audit reads, from a wheel or a source tree (None where the release has none)."""
    names = {MAPPER, LOADER, *(f for f, _ in RULE_CODE), *RULE_TEXT}
    if path.is_dir():
        return {n: (path / n).read_text() if (path / n).is_file() else None for n in names}
    with zipfile.ZipFile(path) as wheel:
        listed = set(wheel.namelist())
        return {n: wheel.read(n).decode() if n in listed else None for n in names}


def digest(source: str, function: ast.AST) -> str:
    """A function's code without its layout: its lines less whole-line comments and every blank, hashed (the text,
    not the syntax tree, whose dump differs between Python versions)."""
    lines = ast.get_source_segment(source, function, padded=True) or ""
    code = "".join("".join(line.split()) for line in lines.splitlines() if not line.strip().startswith("#"))
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def functions(source: str) -> dict[str, ast.AST]:
    """Every function defined in a module, at any depth, by name (the last of a name wins)."""
    return {n.name: n for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def rule_problems(files: dict[str, str | None]) -> list[str]:
    """Where the code a loader rule was read from changed, moved or went."""
    problems = []
    parsed = {file: functions(files.get(file) or "") for file in {f for f, _ in RULE_CODE}}
    for (file, name), expected in RULE_CODE.items():
        found = parsed[file].get(name)
        if found is None or digest(files[file] or "", found) != expected:
            how = "is gone" if found is None else "changed"
            problems.append(f"{file} {name} {how}: read catalog/quantised.py's rule in it again, then update RULE_CODE")
    problems += [f"{file} no longer tests {text}: read naming's -bf16 rule in it again"
                 for file, text in RULE_TEXT.items() if text not in (files.get(file) or "")]
    return problems


def _assigned(source: str, name: str) -> ast.expr:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
    raise SystemExit(f"{name} is not assigned at the top level: the release's layout changed; read it by hand")


def _string(node: ast.expr) -> str:
    """A string literal, or a literal's .lower() (BAD_MAPPINGS writes its keys so)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "lower":
        return _string(node.func.value).lower()
    value = ast.literal_eval(node)
    if not isinstance(value, str):
        raise SystemExit(f"not a string in the table: {ast.dump(node)[:80]}")
    return value


def redirects(loader_source: str) -> dict[str, str]:
    """BAD_MAPPINGS: lower-cased upload -> the repo loaded instead."""
    table = _assigned(loader_source, "BAD_MAPPINGS")
    if not isinstance(table, ast.Dict):
        raise SystemExit("BAD_MAPPINGS is not a dict literal: the release's layout changed; read it by hand")
    return {_string(k): _string(v) for k, v in zip(table.keys, table.values) if k is not None}


def mapper_table(mapper_source: str) -> dict[str, list[str]]:
    """`__INT_TO_FLOAT_MAPPER`: 4-bit upload -> the names listed under it (16-bit uploads, the original, FP8 ones)."""
    table = ast.literal_eval(_assigned(mapper_source, "__INT_TO_FLOAT_MAPPER"))
    return {key: [n for n in ([*values.get("16", ()), *values.get("8", ())] if isinstance(values, dict) else values) if n]
            for key, values in table.items()}


def swaps(table: dict[str, list[str]]) -> dict[str, str]:
    """Lower-cased 16-bit (or FP8) name -> the 4-bit upload load_in_4bit takes for it: every name listed under a
    4-bit key maps to that key, as the mapper's build_mappers derives FLOAT_TO_INT_MAPPER."""
    return {name.lower(): key for key, names in table.items() for name in names}


def redirect_problems(found: dict[str, str]) -> list[str]:
    ours = {k.lower(): v for k, (v, _) in naming.LOADER_REDIRECTS.items()}
    problems = [f"redirect missing from LOADER_REDIRECTS: {k} -> {v}" for k, v in found.items() if k not in ours]
    problems += [f"redirect target differs: {k} -> {v} (LOADER_REDIRECTS: {ours[k]})"
                 for k, v in found.items() if k in ours and ours[k] != v]
    problems += [f"redirect no longer in the release: {k}" for k in ours if k not in found]
    return problems


def swap_problems(catalog: Catalog, found: dict[str, str]) -> list[str]:
    problems = []
    for entry in catalog.models:
        for variant in ("base", "instruct"):
            dynamic = entry.unsloth.get(variant, "unsloth-bnb-4bit")
            names = [n for n in (entry.unsloth.get(variant, "16bit"), entry.base_id if variant == "base" else
                                 entry.instruct_id) if n]
            if dynamic:
                problems += [f"{entry.id}: load_in_4bit takes {found.get(n.lower())} for {n}, not the listed {dynamic}"
                             for n in names if found.get(n.lower(), "").lower() != dynamic.lower()
                             and not naming.redirected(dynamic)]
    return problems


def listing_problems(catalog: Catalog, table: dict[str, list[str]]) -> list[str]:
    """Unsloth uploads the release's mapper names beside a catalog entry's original repo that the entry does not list:
    recommend_model would name a worse repo for them (the original, or a 16-bit one quantised on load)."""
    originals: dict[str, list[tuple[CatalogEntry, Variant]]] = {}
    for e in catalog.models:  # a fine-tune's entry may name its base model's repo as its base (Tulu 3)
        for v, r in (("base", e.base_id), ("instruct", e.instruct_id)):
            if r:
                originals.setdefault(r.lower(), []).append((e, v))
    problems = []
    for key, names in table.items():
        owners = next((originals[n.lower()] for n in names if n.lower() in originals), [])
        for repo in {key, *names} if owners else ():
            quant = naming.split_quant(repo)[1]
            if (repo.startswith(naming.ORG + "/") and "fp8" not in repo.lower()
                    and not any(e.unsloth.get(v, quant) for e, v in owners)):
                problems.append(f"{owners[0][0].id}: the mapper names {repo} ({owners[0][1]}, {quant}); the catalog "
                                "lists none")
    return sorted(problems)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    files = read_release(Path(argv[0]))
    mapper_source, loader_source = files[MAPPER], files[LOADER]
    if mapper_source is None or loader_source is None:
        raise SystemExit(f"{argv[0]} has no {MAPPER} or {LOADER}: not an Unsloth release")
    catalog = load_packaged()
    table = mapper_table(mapper_source)
    problems = [*redirect_problems(redirects(loader_source)), *swap_problems(catalog, swaps(table)),
                *listing_problems(catalog, table), *rule_problems(files)]
    for problem in problems:
        print(problem)
    print(f"{len(problems)} difference(s) between the catalog / LOADER_REDIRECTS and {argv[0]}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
