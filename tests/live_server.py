"""Start `finetune-advisor serve` as a real subprocess (stdio or HTTP) for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CLI = [sys.executable, "-m", "finetune_advisor.server"]


def server_env(**extra: str) -> dict[str, str]:
    """The test process's (already isolated) environment plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"server did not listen on {port} within {timeout}s")


@contextmanager
def http_server(*args: str, env: dict[str, str] | None = None, log: Path | None = None) -> Iterator[str]:
    """Run `serve --transport http` on a free port; yield the /mcp URL."""
    port = free_port()
    stderr = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*CLI, "serve", "--transport", "http", "--port", str(port), *args],
        env=env or server_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            stderr.close()


@contextmanager
def running_app(limits=None, token: str | None = None, rules_host: str = "127.0.0.1", allowed_hosts: list[str] | None = None,
                stateless: bool = False) -> Iterator[tuple[str, object]]:
    """The HTTP transport in this process (a uvicorn thread on a free 127.0.0.1 port), built as
    `serve` builds it but with the given limits; yields (the /mcp URL, the uvicorn.Server). The
    Host/Origin rules are those of a bind on `rules_host` (0.0.0.0 needs a token and allowed_hosts)."""
    import threading

    import uvicorn

    from finetune_advisor.server.app import build_server
    from finetune_advisor.server.http import bind, build_app
    from finetune_advisor.server.http_limits import HttpLimits, uvicorn_options

    limits = limits or HttpLimits()
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    app = build_app(build_server(remote=True), rules_host, port, token, allowed_hosts or [], stateless=stateless, limits=limits)
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(limits)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise RuntimeError("the in-process HTTP server did not start")
    try:
        yield f"http://127.0.0.1:{port}/mcp", server
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
