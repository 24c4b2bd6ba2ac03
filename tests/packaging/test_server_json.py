"""server.json, the entry for the MCP registry: valid against the registry's published schema, and
saying what the package really is.

`server.schema.json` beside this file is the registry's schema, vendored unchanged:
https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json (its `$id`), as
generated in github.com/modelcontextprotocol/registry at internal/validators/schemas/2025-12-11.json
(commit e361b5ff5a925b36a38eda0544bca8230a84558b). A newer schema is adopted by replacing the file
and server.json's `$schema` together.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest

import finetune_advisor

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).with_name("server.schema.json")).read_text(encoding="utf-8"))
SERVER = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))


def test_server_json_is_valid_against_the_registry_schema() -> None:
    validator = jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(SERVER), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)
    assert SERVER["$schema"] == SCHEMA["$id"], "server.json names the schema it is checked against"


@pytest.mark.parametrize("broken", [
    {"name": "finetune advisor"},  # the registry's name grammar: namespace/name
    {"description": "x" * 101},  # at most 100 characters
    {"packages": [{"registryType": "pypi", "identifier": "finetune-advisor", "version": "latest",
                   "transport": {"type": "stdio"}}]},
])
def test_the_vendored_schema_rejects_what_the_registry_rejects(broken: dict) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**SERVER, **broken}, SCHEMA)


def test_it_describes_this_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (package,) = SERVER["packages"]
    assert SERVER["version"] == package["version"] == finetune_advisor.__version__
    assert package["registryType"] == "pypi" and package["identifier"] == project["name"]
    assert package["transport"] == {"type": "stdio"}
    # uvx finetune-advisor serve: the console script the project declares, with the subcommand
    assert project["scripts"] == {"finetune-advisor": "finetune_advisor.server.cli:main"}
    assert package["runtimeHint"] == "uvx" and package["packageArguments"] == [{"type": "positional", "value": "serve"}]


def test_its_environment_variables_are_the_documented_ones() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", readme, flags=re.MULTILINE))
    (package,) = SERVER["packages"]
    for variable in package["environmentVariables"]:
        assert variable["name"] in documented, variable["name"]
        assert variable["isRequired"] is False, "every tool works without settings"
    assert {v["name"] for v in package["environmentVariables"] if v.get("isSecret")} == {"HF_TOKEN"}


def test_the_readme_carries_the_registry_marker() -> None:
    """The registry accepts a PyPI package when its description (this README) says `mcp-name: NAME`,
    with NAME matched in full (not as the prefix of a longer name)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = re.search(r"mcp-name: ([A-Za-z0-9._/-]+)", readme)
    assert marker and marker.group(1) == SERVER["name"]


def test_it_points_where_the_server_says_it_lives() -> None:
    from finetune_advisor.server.app import build_server

    assert SERVER["websiteUrl"] == SERVER["repository"]["url"] == build_server().website_url
