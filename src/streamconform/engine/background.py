"""An event loop in a thread of its own, on which a run plays its scenarios.

Cases are judged one by one, in pytest's order, in the main thread; the evidence they
judge is gathered ahead of them, many plays at a time, on this loop. A case waits only
for its own evidence, so progress is reported as evidence arrives, and waiting on the
compressed-time bounds of one endpoint overlaps with the plays of others.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["Background"]

T = TypeVar("T")
_STOP_TIMEOUT = 10.0  # for cancelled plays to unwind (closing their connections)


class Background:
    """A daemon thread running one event loop, started on first use."""

    def __init__(self, name: str = "streamconform-plays") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _started(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
            self._thread.start()
            self._loop = loop
        return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run a coroutine on the loop; its future is safe to wait on from any thread."""
        return asyncio.run_coroutine_threadsafe(coro, self._started())

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return self.submit(coro).result()

    def close(self) -> None:
        """Cancel whatever still plays, let it unwind, and stop the loop and its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=_STOP_TIMEOUT)

        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(_STOP_TIMEOUT + 1)
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            pass
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_STOP_TIMEOUT)
            if not thread.is_alive():
                loop.close()
