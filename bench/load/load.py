"""Load and latency benchmark for finetune-advisor.

1. Over streamable HTTP: N concurrent SDK clients (default 16), each making M calls (default 20)
   cycling estimate_vram, check_license and recommend_model with varied arguments, against a
   server started as a subprocess. Reports errors, throughput and p50/p95/max latency.
2. Warm in-process latency of each tool function (no MCP), and through the in-memory MCP client.

    python bench/load/load.py [--clients 16] [--calls 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from itertools import cycle
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from live_server import http_server, server_env  # noqa: E402

MODELS = ["qwen3-8b", "llama-3.1-8b", "gemma-3-4b", "qwen2.5-coder-7b", "mistral-small-3.2-24b-2506", "phi-4"]
TASKS = ["chat", "code", "vision", "reasoning"]


def workload():
    """(tool name, arguments) pairs, cycling through tools and arguments."""
    for i in cycle(range(10_000)):
        model = MODELS[i % len(MODELS)]
        yield "estimate_vram", {"model": model, "method": ("qlora", "lora")[i % 2], "seq_len": 1024 * (1 + i % 4),
                                "gpu_memory_gib": 24}
        yield "check_license", {"model": model, "monthly_active_users": 10 ** (i % 10), "eu_entity": bool(i % 2)}
        yield "recommend_model", {"task": TASKS[i % len(TASKS)], "dataset_rows": 200 * (1 + i % 10),
                                  "gpu_memory_gib": (16, 24, 48, 80)[i % 4]}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def http_load(url: str, clients: int, calls: int) -> dict:
    from mcp import Client

    latencies: dict[str, list[float]] = {}
    errors: list[str] = []

    async def one_client(offset: int) -> None:
        work = workload()
        for _ in range(offset * 3):
            next(work)
        async with Client(url, mode="legacy") as client:
            for _ in range(calls):
                name, args = next(work)
                start = time.perf_counter()
                try:
                    result = await client.call_tool(name, args)
                    if result.is_error:
                        errors.append(f"{name}: {result.content[0].text[:200]}")
                except Exception as exc:  # noqa: BLE001 - a benchmark counts every failure
                    errors.append(f"{name}: {type(exc).__name__}: {exc}")
                latencies.setdefault(name, []).append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(one_client(i) for i in range(clients)))
    wall = time.perf_counter() - start
    every = [v for values in latencies.values() for v in values]
    return {"wall": wall, "calls": len(every), "errors": errors, "all": every, "per_tool": latencies}


def in_process(repeat: int) -> dict[str, list[float]]:
    from finetune_advisor.tools.check_license import check_license
    from finetune_advisor.tools.estimate_vram import estimate_vram
    from finetune_advisor.tools.recommend_model import recommend_model

    calls = {
        "estimate_vram": lambda i: estimate_vram(model=MODELS[i % len(MODELS)], method="qlora", seq_len=2048, gpu_memory_gib=24),
        "check_license": lambda i: check_license(model=MODELS[i % len(MODELS)], monthly_active_users=1000),
        "recommend_model": lambda i: recommend_model(task=TASKS[i % len(TASKS)], dataset_rows=500, gpu_memory_gib=24),
    }
    out: dict[str, list[float]] = {}
    for name, fn in calls.items():
        for i in range(5):  # warm-up: caches, lazy imports
            fn(i)
        times = []
        for i in range(repeat):
            start = time.perf_counter()
            fn(i)
            times.append(time.perf_counter() - start)
        out[name] = times
    return out


async def in_memory_mcp(repeat: int) -> dict[str, list[float]]:
    from mcp import Client

    from finetune_advisor.server.app import build_server

    out: dict[str, list[float]] = {}
    async with Client(build_server()) as client:
        work = workload()
        for _ in range(15):
            name, args = next(work)
            await client.call_tool(name, args)
        for _ in range(repeat * 3):
            name, args = next(work)
            start = time.perf_counter()
            await client.call_tool(name, args)
            out.setdefault(name, []).append(time.perf_counter() - start)
    return out


def fmt(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"p50 {statistics.median(ms):7.2f} ms  p95 {pct(ms, 95):7.2f} ms  max {max(ms):7.2f} ms  n={len(ms)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=200, help="in-process calls per tool")
    args = parser.parse_args()
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}")

    env = server_env(HF_HUB_OFFLINE="1", FINETUNE_ADVISOR_OFFLINE="1")
    with http_server(env=env) as url:
        result = asyncio.run(http_load(url, args.clients, args.calls))
    print(f"\nHTTP: {args.clients} clients x {args.calls} calls = {result['calls']} calls in {result['wall']:.2f} s "
          f"-> {result['calls'] / result['wall']:.1f} calls/s, errors: {len(result['errors'])}")
    print(f"  all              {fmt(result['all'])}")
    for name, values in sorted(result["per_tool"].items()):
        print(f"  {name:16s} {fmt(values)}")
    for error in result["errors"][:5]:
        print("  error:", error)

    os.environ.update(HF_HUB_OFFLINE="1", FINETUNE_ADVISOR_OFFLINE="1")
    print("\nwarm in-process, tool functions (no MCP):")
    for name, values in in_process(args.repeat).items():
        print(f"  {name:16s} {fmt(values)}")
    print("\nwarm in-memory MCP client (tools/call round trip):")
    for name, values in sorted(asyncio.run(in_memory_mcp(args.repeat // 4)).items()):
        print(f"  {name:16s} {fmt(values)}")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
