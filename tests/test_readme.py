"""The README's examples work as written: a README that drifts from the code fails here.

Every `finetune-advisor ...` command in a ```bash block is run (offline, on the packaged data, with
no GPU) and must exit 0 with output; the few that cannot run as a one-shot command are listed in
NOT_RUN with the reason and the test that covers them. The JSON host snippets must parse and carry
no prose in a value, the quick start must be what CI runs, and the Inspector version is pinned.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from finetune_advisor.server.cli import main
from finetune_advisor.tools.estimate_vram import estimate_vram
from finetune_advisor.vram import fit

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PROSE = " ".join(README.split())  # sentences as they read, whatever their line breaks

# finetune-advisor subcommands (leading words) that are not run here, and why.
NOT_RUN = {
    ("serve",): "serves until stopped, on fixed ports; tests/server/test_stdio.py, test_http.py and test_cli.py run it",
    ("catalog", "refresh"): "lists the Hub's unsloth organisation (network); tests/server/test_cli_catalog.py runs it on a fake Hub",
}

# Files the examples name, as a reader would have them (made in a scratch working directory).
FILES = {
    "my-model/config.json": {  # the fields of meta-llama/Llama-3.2-1B's config.json the estimator reads
        "model_type": "llama", "num_hidden_layers": 16, "hidden_size": 2048, "intermediate_size": 8192,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256,
        "tie_word_embeddings": True, "max_position_embeddings": 131072,
    },
    "train.jsonl": "\n".join(json.dumps({"text": "word " * n}) for n in (120, 300, 800)) + "\n",
}

SEPARATORS = {"&&", "||", ";", "|", "&"}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def _commands(block: str) -> list[list[str]]:
    """Shell commands in a block: continuation lines joined, comments dropped, split at && ; | &."""
    commands: list[list[str]] = []
    for line in block.replace("\\\n", " ").splitlines():
        line = _without_substitutions(line)
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        current: list[str] = []
        for token in lexer:
            if token in SEPARATORS:
                commands.append(current)
                current = []
            else:
                current.append(token)
        commands.append(current)
    return [c for c in commands if c]


def _without_substitutions(line: str) -> str:
    """A command substitution $(...), however its parentheses nest, stands for one value."""
    out, depth, i = [], 0, 0
    while i < len(line):
        if line.startswith("$(", i) and depth == 0:
            depth, i = 1, i + 2
            out.append("VALUE")
            continue
        if depth:
            depth += {"(": 1, ")": -1}.get(line[i], 0)
        else:
            out.append(line[i])
        i += 1
    return "".join(out)


def _program(command: list[str]) -> tuple[str, list[str]]:
    """(program, its arguments), past leading VAR=value assignments."""
    words = list(command)
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        words.pop(0)
    return (words[0], words[1:]) if words else ("", [])


def _cli_examples() -> list[list[str]]:
    examples = []
    for block in _blocks("bash"):
        for command in _commands(block):
            program, argv = _program(command)
            if program == "finetune-advisor":
                examples.append(argv)
    return examples


EXAMPLES = _cli_examples()
RUN = [argv for argv in EXAMPLES if not any(tuple(argv[: len(key)]) == key for key in NOT_RUN)]


def test_the_readme_has_examples_to_run() -> None:
    assert len(RUN) >= 15, "the README parser found too few commands: has the README's format changed?"


def test_every_example_not_run_is_listed_and_every_listing_is_used() -> None:
    skipped = [argv for argv in EXAMPLES if argv not in RUN]
    assert ["serve", "--transport", "http", "--host", "0.0.0.0", "--allowed-hosts",
            "advisor.internal:8000,10.0.0.5:8000"] in skipped, "a command after VAR=$(...) is still found"
    for key in NOT_RUN:
        assert any(tuple(argv[: len(key)]) == key for argv in skipped), f"NOT_RUN lists {key}, which no example uses"


@pytest.mark.parametrize("argv", RUN, ids=" ".join)
def test_readme_example_runs(argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str], no_gpu: None) -> None:
    for name, content in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FINETUNE_ADVISOR_OFFLINE", "1")
    try:
        status = main(argv)
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert captured.out.strip(), "no output"
    assert "Traceback" not in captured.err


def test_quick_start_is_what_ci_runs() -> None:
    """The README's first two commands are the ones .ci/run runs on a clean clone, as written."""
    quick_start = _blocks("bash")[0].splitlines()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    for line in quick_start[:2]:
        command = line.split("  #")[0].strip()
        assert command in ci, f"{command!r} is not a line of .ci/run"
    assert quick_start[0].startswith("python3 -m venv .venv && . .venv/bin/activate && pip install . && ")


def test_uvx_examples_have_the_tested_shape() -> None:
    """tests/packaging/test_uvx.py runs `uvx --from <checkout> finetune-advisor serve`; the README's
    uvx lines must be that command, from a path or a git URL."""
    uvx = [_program(c)[1] for block in _blocks("bash") for c in _commands(block) if _program(c)[0] == "uvx"]
    assert uvx, "the README shows no uvx command"
    for argv in uvx:
        assert argv[0] == "--from" and argv[2:] == ["finetune-advisor", "serve"], argv
        assert argv[1] == "." or argv[1].startswith("git+https://"), argv


def test_json_snippets_parse_and_carry_no_prose_in_values() -> None:
    """A pasted snippet must work as it is: no placeholder sentence where a value goes (an HF_TOKEN
    of 'hf_... (optional, ...)' would be sent as a token)."""
    snippets = _blocks("json")
    assert len(snippets) >= 4
    for snippet in snippets:
        data = json.loads(snippet)
        for server in (data.get("mcpServers") or data.get("servers") or {}).values():
            assert server["command"].startswith("/") and server["args"][-1] == "serve", server
            for name, value in (server.get("env") or {}).items():
                assert not re.search(r"\s", value), f"{name}: {value!r}"


def test_host_snippets_say_where_the_file_is_and_how_to_restart() -> None:
    host = README[README.index("## Use it from an MCP host"):README.index("### MCP Inspector")]
    for words in ("claude_desktop_config.json", "~/Library/Application Support/Claude", "%APPDATA%",
                  "claude mcp add -s user", ".vscode/mcp.json", "MCP: Open User Configuration",
                  "~/.cursor/mcp.json", "restart"):
        assert words in host, words


def test_the_inspector_version_is_pinned_everywhere() -> None:
    locked = json.loads((ROOT / "tests" / "npm" / "package.json").read_text(encoding="utf-8"))
    pinned = locked["devDependencies"]["@modelcontextprotocol/inspector"]  # what the npm tests run
    uses = re.findall(r"@modelcontextprotocol/inspector(@[\d.]+)?", README)
    assert uses and all(version == f"@{pinned}" for version in uses), uses


def test_the_tight_fit_margins_are_the_ones_the_verdict_uses() -> None:
    for fraction, says in ((fit.TIGHT_FRACTION, "of the estimate free is marked `tight`"),
                           (fit.BEYOND_TIGHT_FRACTION, "for a path or a step longer than the family was measured on"),
                           (fit.UNMEASURED_TIGHT_FRACTION, "for Unsloth families we have not measured"),
                           (fit.FAR_TIGHT_FRACTION, "for hybrid linear-attention or Mamba models")):
        percent = f"{fraction:.0%}".replace("%", " %")
        assert re.search(rf"{percent}[^;]*?{re.escape(says)}|{re.escape(says)}[^;]*?{percent}", PROSE), \
            f"the README's rule no longer says {percent} {says}"


# Figures the README quotes from estimate_vram, with the arguments that give them: a refit that moves one fails here.
QUOTED = [
    ("ERNIE 4.5 21B-A3B QLoRA on a 19.5 GiB card needs {} GiB, and {} with",
     {"model": "ernie-4.5-21b-a3b", "method": "qlora", "gpu_memory_gib": 19.5}),
    ("is sized without the trials: {} GiB in QLoRA", {"model": "qwen3-coder-30b-a3b", "method": "qlora"}),
    ("(Qwen3-30B-A3B on an 80 GB card: {} GiB, {} without)",
     {"model": "qwen3-30b-a3b", "method": "lora", "gpu": "A100-80GB-SXM"}),
]


@pytest.mark.parametrize(("says", "arguments"), QUOTED, ids=[q[1]["model"] for q in QUOTED])
def test_the_figures_the_readme_quotes_are_the_estimators(says: str, arguments: dict, no_gpu: None) -> None:
    figures = [estimate_vram(**arguments).total_gib]
    if says.count("{}") == 2:  # the second figure: trl's router aux loss off
        figures.append(estimate_vram(**arguments, router_aux_loss=False).total_gib)
    expected = says.format(*(f"{figure:.1f}" for figure in figures))
    assert expected in PROSE, f"the README should say: {expected}"
