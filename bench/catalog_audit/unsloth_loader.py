"""Check the catalog's Unsloth ids and naming.LOADER_REDIRECTS against an Unsloth release, before calibrating on it.

    python bench/catalog_audit/unsloth_loader.py unsloth-2026.10.9-py3-none-any.whl   # or an unpacked source tree

Reads two tables out of the release without running its code (ast, literal values only): the mapper's
`__INT_TO_FLOAT_MAPPER` (unsloth/models/mapper.py), from which its loader derives which 4-bit upload a 16-bit name is
swapped for under load_in_4bit, and `BAD_MAPPINGS` (unsloth/models/loader_utils.py), the uploads it loads another repo
for. Prints, and exits 1 on, any difference that changes what the product names or sizes:
- a redirect in the release that LOADER_REDIRECTS lacks or gives another target, or one it has that the release dropped;
- a listed -unsloth-bnb-4bit upload that the release's mapper does not swap its variant's 16-bit names to (the
  estimator assumes the swap: vram.resolve.ResolvedArch.storage_for);
- an Unsloth upload the mapper lists beside a catalog entry's original repo that the entry does not list.
"""

from __future__ import annotations

import ast
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from finetune_advisor.catalog import naming  # noqa: E402
from finetune_advisor.catalog.schema import Catalog, CatalogEntry  # noqa: E402
from finetune_advisor.vocabulary import Variant  # noqa: E402

MAPPER, LOADER = "unsloth/models/mapper.py", "unsloth/models/loader_utils.py"


def read_release(path: Path) -> tuple[str, str]:
    """The text of mapper.py and loader_utils.py from a wheel or a source tree."""
    if path.is_dir():
        return (path / MAPPER).read_text(), (path / LOADER).read_text()
    with zipfile.ZipFile(path) as wheel:
        return wheel.read(MAPPER).decode(), wheel.read(LOADER).decode()


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
    mapper_source, loader_source = read_release(Path(argv[0]))
    catalog = Catalog.model_validate_json((ROOT / "finetune_advisor/catalog/catalog.json").read_text())
    table = mapper_table(mapper_source)
    problems = [*redirect_problems(redirects(loader_source)), *swap_problems(catalog, swaps(table)),
                *listing_problems(catalog, table)]
    for problem in problems:
        print(problem)
    print(f"{len(problems)} difference(s) between the catalog / LOADER_REDIRECTS and {argv[0]}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
