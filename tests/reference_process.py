"""`streamconform serve` in its own process: a reference server (broken on purpose where a
fault is named) that the CLI and pytest can target as they would a team's server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


@contextmanager
def serving(spec: Path, probe: str, *extra: str) -> Iterator[tuple[str, str]]:
    """(its URL, the line it printed first), once `probe` (a path) answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = [sys.executable, "-m", "streamconform.cli", "serve", str(spec), "--port", str(port)]
    server = subprocess.Popen(
        [*argv, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + probe, timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr and server.stderr.read()
                assert time.monotonic() < deadline, f"{url} did not answer in 30 s"
                time.sleep(0.1)
        yield url, banner
    finally:
        server.terminate()
        server.wait(timeout=10)
