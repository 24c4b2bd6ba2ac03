"""Record (or check) the golden snapshot of the tools' answers.

    python tests/golden/record.py            # rewrite tests/golden/snapshot.jsonl
    pytest tests/golden                      # compare against it

Run with no GPU visible and offline (the test does the same through its fixtures); recording is a
deliberate act: commit the new snapshot in its own commit that says why the numbers moved.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SNAPSHOT = HERE / "snapshot.jsonl"
sys.path.insert(0, str(HERE))

from cases import cases, key  # noqa: E402


def _compact(tool: str, arguments: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """Sweep estimates keep every number; their long assumption texts are kept as a digest."""
    if tool == "estimate_vram" and set(arguments) == {"model", "method", "stack", "gpu_memory_gib"} and "assumptions" in result:
        text = "\n".join(result.pop("assumptions"))
        result["assumptions_sha256"] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return result


async def answers() -> dict[str, Any]:
    """Every case's answer: the structured result, or {"error": text}."""
    from mcp import Client

    from finetune_advisor.server.app import build_server

    out: dict[str, Any] = {}
    async with Client(build_server()) as client:
        for tool, arguments in cases():
            res = await client.call_tool(tool, arguments)
            if res.is_error:
                answer: Any = {"error": " ".join(c.text for c in res.content if hasattr(c, "text"))}
            else:
                answer = _compact(tool, arguments, dict(res.structured_content or {}))
            out[key(tool, arguments)] = answer
    return out


# The environment the snapshot is defined in: offline, no GPU, the default docs URL.
ENVIRONMENT = {"FINETUNE_ADVISOR_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
UNSET = ("FINETUNE_ADVISOR_DOCS_URL", "HF_ENDPOINT", "HF_TOKEN")


def write(data: dict[str, Any]) -> None:
    with SNAPSHOT.open("w", encoding="utf-8") as fh:
        for k, v in data.items():
            fh.write(json.dumps({"call": k, "answer": v}, sort_keys=True, ensure_ascii=False) + "\n")


def read() -> dict[str, Any]:
    with SNAPSHOT.open(encoding="utf-8") as fh:
        return {row["call"]: row["answer"] for row in map(json.loads, fh)}


if __name__ == "__main__":
    import tempfile

    os.environ.update(ENVIRONMENT)
    for name in UNSET:
        os.environ.pop(name, None)
    os.environ["FINETUNE_ADVISOR_CACHE_DIR"] = tempfile.mkdtemp()
    data = asyncio.run(answers())
    write(data)
    print(f"{len(data)} answers written to {SNAPSHOT}", file=sys.stderr)
