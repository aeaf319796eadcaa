"""Run an ASGI app with uvicorn on 127.0.0.1, in a background thread or in the foreground."""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

__all__ = ["LOOPBACK", "BackgroundServer", "serve_forever"]

LOOPBACK = "127.0.0.1"
_START_TIMEOUT = 10.0


class _QuietDisconnects(logging.Filter):
    """Drops asyncio's note that a reference server wrote to a client that had gone.

    The suites hang up on purpose (a stream that starts is not read to its end), so on a
    reference-server thread that note is expected, and only noise in reports.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            (record.threadName or "").startswith(_THREAD_PREFIX)
            and record.getMessage().startswith("socket.send() raised exception")
        )


_THREAD_PREFIX = "reference-server-"
logging.getLogger("asyncio").addFilter(_QuietDisconnects())


def _bind(port: int) -> socket.socket:
    # IPPROTO_TCP named, so asyncio turns Nagle off on accepted connections (TCP_NODELAY)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _config(app: ASGIApp) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=1,
        ws="none",
    )


class BackgroundServer:
    """A real HTTP server in a daemon thread, bound to an ephemeral loopback port.

    Usable without pytest: `with BackgroundServer(app) as server: server.url`.
    """

    def __init__(self, app: ASGIApp, port: int = 0) -> None:
        self._sock = _bind(port)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._server = uvicorn.Server(_config(app))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            daemon=True,
            name=f"{_THREAD_PREFIX}{self.port}",
        )

    def start(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"reference server on port {self.port} did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._server.force_exit = True
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(app: ASGIApp, port: int) -> None:
    """Serve in the foreground until interrupted (Ctrl-C or SIGTERM)."""
    sock = _bind(port)
    try:
        uvicorn.Server(_config(app)).run(sockets=[sock])
    finally:
        sock.close()
