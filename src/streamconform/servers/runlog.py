"""An append-only event log that a producer task fills and any number of readers follow.

Runs outlive the connection that started them, which is what makes resumption possible.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

__all__ = ["EventLog"]

T = TypeVar("T")


class EventLog(Generic[T]):
    """Items in order; `follow(start)` yields them from `start`, waiting for more."""

    def __init__(self) -> None:
        self.items: list[T] = []
        self.closed = False
        self.readers = 0
        self.detached_at = time.monotonic()
        self._grew = asyncio.Event()

    def append(self, item: T) -> None:
        self.items.append(item)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        self._grew.set()
        self._grew = asyncio.Event()

    def idle_for(self) -> float:
        """Seconds since the last reader left (0 while someone reads)."""
        return 0.0 if self.readers else time.monotonic() - self.detached_at

    async def follow(self, start: int = 0, *, idle: float | None = None) -> AsyncIterator[T | None]:
        """Items from `start` on until the log closes; None after each `idle` seconds of quiet."""
        self.readers += 1
        try:
            index = start
            while True:
                while index < len(self.items):
                    yield self.items[index]
                    index += 1
                if self.closed:
                    return
                try:
                    await asyncio.wait_for(self._grew.wait(), idle)
                except TimeoutError:
                    yield None
        finally:
            self.readers -= 1
            self.detached_at = time.monotonic()
