"""How long an offline `query_docs` call takes: the first call that finds the docs unreachable, the
calls after it, and the packaged-notes answer alone.

Runs `query_docs` in process against a docs URL on 127.0.0.1 where nothing listens (connection
refused). `--name HOST` adds a host name that does not resolve: that sends real DNS queries to the
machine's resolver, so it is off by default. Every answer must come from the packaged notes.

    python bench/docs_offline/offline_latency.py [--calls 50] [--name nonexistent.invalid]

Point PYTHONPATH at another checkout to time that one (the README compares main before issue 14).
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import sys
import tempfile
import time

QUESTIONS = [
    "How do I export my fine-tuned model to GGUF?",
    "How do I do GRPO?",
    "What learning rate and LoRA rank should I use?",
    "How do I fine-tune on multiple GPUs?",
    "How do I install Unsloth on Windows?",
    "怎么把微调后的模型导出成 GGUF？",
    "如何微调嵌入模型？",
    "Tell me a joke about cats",
]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def time_calls(url: str, calls: int) -> tuple[float, list[float]]:
    """(first call, later calls) in seconds, all through query_docs with the docs at `url`."""
    import anyio

    from finetune_advisor.tools.query_docs import query_docs

    os.environ["FINETUNE_ADVISOR_DOCS_URL"] = url
    timings = []
    for i in range(calls + 1):
        question = QUESTIONS[i % len(QUESTIONS)] + f" ({i})"  # never a cache hit
        start = time.perf_counter()
        result = anyio.run(query_docs, question)
        timings.append(time.perf_counter() - start)
        assert result.origin == "offline", result
    return timings[0], timings[1:]


def time_notes(calls: int) -> list[float] | None:
    """The notes answer alone; None on a checkout without scored matching (before issue 14)."""
    from finetune_advisor.unsloth_docs import notes

    if not hasattr(notes, "library"):
        return None
    offline_answer = notes.offline_answer
    notes.library()  # read and index the notes once, as the first call of a process does
    timings = []
    for i in range(calls):
        start = time.perf_counter()
        offline_answer(QUESTIONS[i % len(QUESTIONS)])
        timings.append(time.perf_counter() - start)
    return timings


def report(label: str, first: float, later: list[float]) -> None:
    q = statistics.quantiles(later, n=20)
    print(f"{label:<28} first {ms(first):>9}   then p50 {ms(statistics.median(later)):>8}  p95 {ms(q[18]):>8}  max {ms(max(later)):>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="calls after the first (default 50)")
    parser.add_argument("--name", help="also time a host name that does not resolve (sends DNS queries)")
    args = parser.parse_args()
    os.environ["FINETUNE_ADVISOR_CACHE_DIR"] = tempfile.mkdtemp()
    os.environ.pop("FINETUNE_ADVISOR_OFFLINE", None)
    import finetune_advisor

    print(f"code: {os.path.dirname(finetune_advisor.__file__)}")
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    notes = time_notes(args.calls * 10)
    if notes:
        report("notes answer alone", notes[0], notes[1:])
    report("query_docs, refused port", *time_calls(f"http://127.0.0.1:{closed_port()}/docs", args.calls))
    if args.name:
        report(f"query_docs, {args.name}", *time_calls(f"https://{args.name}/docs", args.calls))


if __name__ == "__main__":
    sys.exit(main())
