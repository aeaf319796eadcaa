"""A loopback front that answers in HTTP/1.0: no chunked encoding, the body ends when the
connection closes. A client must read such a stream to its end as it arrives, and a
server that old (or a proxy that downgrades) is correct, if unusual.

It forwards each request to a server of ours and rewrites only the framing of the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from streamconform.servers.runner import LOOPBACK

__all__ = ["Http10Front"]

_MAX_HEAD = 64 << 10
_HOP_BY_HOP = {b"transfer-encoding", b"connection", b"keep-alive", b"content-length"}


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def _headers(head: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    first, *lines = head[:-4].split(b"\r\n")
    pairs = []
    for line in lines:
        name, _, value = line.partition(b":")
        pairs.append((name.strip(), value.strip()))
    return first, pairs


async def _copy_chunked(upstream: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The chunks' data, each written as it arrives, without the chunk framing."""
    while True:
        size_line = await upstream.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            return
        data = await upstream.readexactly(size + 2)
        writer.write(data[:-2])
        await writer.drain()


async def _serve(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream_port: int
) -> None:
    try:
        head = await _read_head(reader)
        first, pairs = _headers(head)
        length = next((int(v) for k, v in pairs if k.lower() == b"content-length"), 0)
        body = await reader.readexactly(length) if length else b""
        up_reader, up_writer = await asyncio.open_connection(LOOPBACK, upstream_port)
        try:
            kept = [(k, v) for k, v in pairs if k.lower() not in (b"connection",)]
            request = first + b"\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in kept)
            up_writer.write(request + b"Connection: close\r\n\r\n" + body)
            await up_writer.drain()
            status, answer = _headers(await _read_head(up_reader))
            chunked = any(
                k.lower() == b"transfer-encoding" and b"chunked" in v.lower() for k, v in answer
            )
            shown = [(k, v) for k, v in answer if k.lower() not in _HOP_BY_HOP]
            writer.write(
                b"HTTP/1.0 "
                + status.split(b" ", 1)[1]
                + b"\r\n"
                + b"".join(k + b": " + v + b"\r\n" for k, v in shown)
                + b"Connection: close\r\n\r\n"
            )
            if chunked:
                await _copy_chunked(up_reader, writer)
            else:
                while piece := await up_reader.read(1 << 16):
                    writer.write(piece)
                    await writer.drain()
        finally:
            up_writer.close()
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        pass  # a client or upstream gone: nothing to answer
    finally:
        with contextlib.suppress(OSError):
            writer.close()


class Http10Front:
    """Listens on an ephemeral loopback port in a daemon thread; `url` is where."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream = upstream_port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="http10-front")
        self.url = ""

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await asyncio.start_server(
                lambda r, w: _serve(r, w, self._upstream), LOOPBACK, 0, limit=_MAX_HEAD
            )
            port = self._server.sockets[0].getsockname()[1]
            self.url = f"http://{LOOPBACK}:{port}"
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def start(self) -> Http10Front:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the HTTP/1.0 front did not start")
        return self

    def stop(self) -> None:
        def shut() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.stop()

        self._loop.call_soon_threadsafe(shut)
        self._thread.join(timeout=5)
