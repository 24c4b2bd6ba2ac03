"""Half-open connection flood against `serve --transport http` with a bearer token.

The server runs as a subprocess limited to 1,024 open files (a common default). A client without
the token opens N connections (default 1,100) and sends nothing; meanwhile a client with the token
initializes a session three times. Reports the server's open files at the peak, after one second
and after the header timeout, the authorised client's latency, and how many requests without the
token one keep-alive client gets answered per second.

    python bench/load/flood.py [--connections 1100] [--limit 1024]

Run it from a checkout of another commit (`PYTHONPATH=...`) to compare.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from live_server import CLI, free_port, server_env

TOKEN = "flood-benchmark-token-" + "x" * 20
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "flood", "version": "0"}}}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def authorised(url: str) -> str:
    start = time.monotonic()
    try:
        status = httpx2.post(url, json=INIT, headers={**ACCEPT, "Authorization": f"Bearer {TOKEN}"}, timeout=30).status_code
    except httpx2.HTTPError as exc:
        return f"failed ({type(exc).__name__}) after {time.monotonic() - start:.1f} s"
    return f"{status} in {1000 * (time.monotonic() - start):.0f} ms"


def refused_per_second(url: str, seconds: float = 3.0) -> float:
    start, count = time.monotonic(), 0
    with httpx2.Client(timeout=10) as client:
        while time.monotonic() - start < seconds:
            try:
                client.post(url, json=INIT, headers=ACCEPT)
            except httpx2.HTTPError:
                break
            count += 1
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1100)
    parser.add_argument("--limit", type=int, default=1024, help="the server's open-file limit")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    command = [*CLI, "serve", "--transport", "http", "--host", "0.0.0.0", "--port", str(port), "--allowed-hosts", "127.0.0.1:*"]
    proc = subprocess.Popen(command, env=server_env(FINETUNE_ADVISOR_HTTP_TOKEN=TOKEN), stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (args.limit, args.limit)))
    try:
        time.sleep(4)
        print(f"server open files, idle: {open_files(proc.pid)} (limit {args.limit})")
        start, held = time.monotonic(), []
        for _ in range(args.connections):
            try:
                held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError as exc:
                print(f"connect failed: {exc}")
                break
        print(f"{len(held)} silent connections opened in {time.monotonic() - start:.2f} s; "
              f"server open files: {open_files(proc.pid)}")
        time.sleep(1)
        print(f"server open files 1 s later: {open_files(proc.pid)}")
        for _ in range(3):
            print(f"authorised initialize: {authorised(url)}")
        print(f"requests without the token, one keep-alive client: {refused_per_second(url):.0f}/s")
        time.sleep(11)
        print(f"server open files 11 s later: {open_files(proc.pid)}")
        for sock in held:
            sock.close()
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
