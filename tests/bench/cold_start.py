"""Cold start over stdio: spawn -> initialize -> first tools/call answered, against mcp-server-time.

Both servers are started the same way (a fresh interpreter, the JSON-RPC lines written at once)
and timed until the answer to the tools/call arrives. Runs are interleaved so that machine load
hits both alike; the median of each is reported with the ratio.

    python tests/bench/cold_start.py --runs 15
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}

SERVERS = {
    "finetune-advisor": (
        [sys.executable, "-m", "finetune_advisor.server", "serve"],
        {"name": "detect_gpus", "arguments": {}},
    ),
    "mcp-server-time": (
        [sys.executable, "-m", "mcp_server_time"],
        {"name": "get_current_time", "arguments": {"timezone": "UTC"}},
    ),
}


def once(cmd: list[str], call: dict) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    lines = [INIT, INITIALIZED, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call}]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    proc.stdin.write("".join(json.dumps(m) + "\n" for m in lines))
    proc.stdin.flush()
    try:
        while True:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{cmd} exited before answering")
            message = json.loads(line)
            if message.get("id") == 2:
                elapsed = time.perf_counter() - start
                if message.get("result", {}).get("isError"):
                    raise RuntimeError(f"{cmd}: tool call failed: {message}")
                return elapsed
    finally:
        proc.stdin.close()
        proc.kill()
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per server (default 15)")
    args = parser.parse_args()
    for cmd, call in SERVERS.values():  # warm-up: page cache, .pyc files
        once(cmd, call)
    times: dict[str, list[float]] = {name: [] for name in SERVERS}
    for _ in range(args.runs):
        for name, (cmd, call) in SERVERS.items():
            times[name].append(once(cmd, call))
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    for name, values in times.items():
        q = statistics.quantiles(values, n=4)
        print(f"{name:18s} median {statistics.median(values) * 1000:6.0f} ms  [p25 {q[0] * 1000:.0f} .. p75 {q[2] * 1000:.0f}]  n={len(values)}")
    ratio = statistics.median(times["finetune-advisor"]) / statistics.median(times["mcp-server-time"])
    print(f"ratio finetune-advisor / mcp-server-time: {ratio:.2f}x (target <= 1.15x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
