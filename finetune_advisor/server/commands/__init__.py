"""CLI subcommands: each module has `register(subparsers)` setting `handler(args) -> int`.

A command that answers with a tool names every option's `dest` after the tool's parameter
(`--gpu-gib` stores `gpu_memory_gib`), so the CLI and the MCP tool take the same options
(tests/server/test_cli.py compares them), the handler passes them on with `tool_arguments`, and an
error about a parameter, or a note telling what to pass, is printed with the flag the user types
(`in_cli_words`).
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finetune_advisor.adapters.hub import MAX_CONFIG_BYTES
from finetune_advisor.errors import InvalidInputError
from finetune_advisor.vocabulary import (
    INTEGER_LIMITS,
    LIMITS,
    cut_short,
    describe_range,
)

# Options of the command line only: how to print, not what to answer.
CLI_ONLY = frozenset({"json"})

# MCP wording, and what the command line calls the same thing.
_CLI_WORDS = (("the catalog://models resource", "`finetune-advisor catalog list`"),
              ("catalog://models", "`finetune-advisor catalog list`"),
              ("(fits is null)", "(the fits column shows -)"),
              ("see memory.suggestions", "see the changes listed below"),
              ("see what_would_qualify below", "see what would qualify, below"),
              ("Read the licence itself (license_url)", "Read the licence itself (its text is linked above)"),
              *((tool, f"`finetune-advisor {command}`") for tool, command in (
                  ("recommend_model", "recommend"), ("estimate_vram", "vram"), ("plan_training", "plan"),
                  ("check_license", "license"), ("query_docs", "ask"))))


def add_run_switches(p: argparse.ArgumentParser) -> None:
    """The flags that vram and plan share for how the trainer runs (beyond method, stack and shapes)."""
    p.add_argument("--autocast", action="store_true",
                   help="transformers stack: the forward runs under bf16 autocast (Trainer or TRL's SFTConfig with bf16=True)")
    p.add_argument("--no-router-aux-loss", dest="router_aux_loss", action="store_false",
                   help="MoE: trl's router load-balancing loss off (SFTConfig(router_aux_loss_coef=0.0)); on Unsloth it "
                   "keeps the first step's trial forwards. UNSLOTH_BLOCK_COMPILE=0 gives the same figure with it on")


def bounded(name: str) -> Callable[[str], float]:
    """argparse type for a quantity with bounds in `vocabulary.LIMITS` (whole numbers where it counts things)."""
    low, high = LIMITS[name]
    whole = name in INTEGER_LIMITS

    def parse(text: str) -> float:
        out_of_range = argparse.ArgumentTypeError(  # echoed as typed: 1e400 is not 'inf', nor 10**23 '1e+23'
            f"{cut_short(text.strip())} is out of range; accepted: {describe_range(name)}")
        try:
            value: float = int(text) if whole else float(text)
        except ValueError:
            if text.strip().lstrip("+-").isdecimal():  # more digits than int() reads (4,300)
                raise out_of_range from None
            kind = "a whole number" if whole else "a number"
            raise argparse.ArgumentTypeError(f"{cut_short(text)!r} is not {kind}; accepted: {describe_range(name)}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise out_of_range
        return value

    return parse


def nonblank(text: str) -> str:
    """argparse type for a name or path that must say something: '' read as 'not given' (--gpu fell back to the
    local GPU) or as the current folder (--dataset '' was '.')."""
    if not text.strip():
        raise argparse.ArgumentTypeError("it is empty; leave the flag out to use the default")
    return text


def positive_int(text: str) -> int:
    """argparse type for a count with no upper bound of its own (e.g. repositories to list)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; accepted: an integer of at least 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is out of range; accepted: an integer of at least 1")
    return value


def tool_arguments(args: argparse.Namespace, tool: Callable[..., Any], **overrides: Any) -> dict[str, Any]:
    """The tool's keyword arguments, read from the options named after its parameters."""
    names = inspect.signature(tool).parameters
    return {name: overrides[name] if name in overrides else getattr(args, name)
            for name in names if name in overrides or hasattr(args, name)}


def flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Parameter name -> what the user typed for it: the option (`--gpu-gib`) or the positional's metavar."""
    names: dict[str, str] = {}
    for action in parser._actions:  # argparse has no public list of a parser's actions
        if action.dest in (argparse.SUPPRESS, "help"):
            continue
        options = [o for o in action.option_strings if o.startswith("--") and not o.startswith("--no-")]
        if options:
            names[action.dest] = options[0]
        elif action.option_strings:
            names[action.dest] = action.option_strings[0]
        else:
            names[action.dest] = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    return names


def in_cli_words(message: str, parser: argparse.ArgumentParser | None, bare: bool = True) -> str:
    """Text written for MCP (an error, or an answer's note that tells the user what to pass) with the command's flags
    for the tool's parameter names ('gpu_memory_gib' -> --gpu-gib, 'model' -> MODEL), and CLI commands for MCP
    resources and tools. `bare`: unquoted names too, as errors use them; a note quotes the name it asks for and may
    use a bare one as a quantity ('seq_len^2'), which stays."""
    names = flag_names(parser) if parser is not None else {}
    for name in sorted(names, key=len, reverse=True):
        message = message.replace(f"'{name}'", names[name])
        if bare and "_" in name:  # a bare identifier only where it cannot be an ordinary word
            message = re.sub(rf"\b{re.escape(name)}\b", names[name], message)
    for mcp_words, cli_words in _CLI_WORDS:
        message = message.replace(mcp_words, cli_words)
    return message


def option_dests(parser: argparse.ArgumentParser) -> set[str]:
    """The names of every option and positional of a parser, as the handler reads them."""
    return {a.dest for a in parser._actions if a.dest not in (argparse.SUPPRESS, "help")}


def add_model_options(p: argparse.ArgumentParser) -> None:
    """The three ways vram and plan take a model: MODEL, --architecture or --params-b (exactly one)."""
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help="catalog id or alias, or a Hugging Face repo id (Unsloth variants included)")
    p.add_argument("--architecture", type=Path, metavar="CONFIG_JSON", help="a config.json file instead of MODEL")
    p.add_argument("--params-b", dest="params_b", type=bounded("params_b"), metavar="B",
                   help="parameters in billions instead of MODEL (coarse)")


def one_model(args: argparse.Namespace) -> dict[str, Any] | None:
    """Check that exactly one of MODEL, --architecture and --params-b was given; the config.json's fields, if named."""
    given = [name for name, value in (("MODEL", args.model), ("--architecture", args.architecture),
                                      ("--params-b", args.params_b)) if value is not None]
    if len(given) != 1:
        args.parser.error("give exactly one of MODEL, --architecture or --params-b" + (f" (got {', '.join(given)})" if given else ""))
    return read_config(args.architecture) if args.architecture else None


def read_config(path: Path) -> dict[str, Any]:
    """The config.json a user named: a regular file of at most the size a Hub config may have (a device such as
    /dev/zero would be read forever), parsed as one JSON object."""
    if not path.is_file():
        raise InvalidInputError("architecture", f"{path} is not a file", "a config.json file")
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise InvalidInputError("architecture", f"cannot read {path} ({type(exc).__name__})", "a config.json file") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise InvalidInputError("architecture", f"{path} is larger than {MAX_CONFIG_BYTES // 1024 // 1024} MiB",
                                "a config.json file")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidInputError("architecture", f"cannot read {path} ({type(exc).__name__})", "a config.json file") from None
    if not isinstance(data, dict):
        raise InvalidInputError("architecture", f"{path} is not a JSON object", "a config.json file")
    return data
