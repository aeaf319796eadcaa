"""Send one request and read its answer within bounds: the one request path of setup flows,
key and token probes and generated input (a stream is read by capture.stream).

The whole exchange is bounded by a deadline, and the body by a size limit; a success is
read whole, for its first bytes only, or not at all, as the caller needs.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import Enum

import httpx

from streamconform.core.echoes import Echo, find_echoes

__all__ = ["Answer", "Success", "describe_http_error", "read_answer"]

_FIRST_BYTES = 0.5  # how long an accepted stream is read, to show what it began with


class Success(Enum):
    """How much of a success (2xx) body to read."""

    WHOLE = "whole"  # a JSON answer to judge or capture from
    FIRST_BYTES = "first-bytes"  # a stream that should not have opened: what it began with
    SKIP = "skip"  # nothing: only whether it opened matters


@dataclass(slots=True)
class Answer:
    """What came back: status and headers (None, empty: none arrived), the body read, and
    how the read ended."""

    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    headers_time: float | None = None  # seconds from sending to the response head
    body: bytes = b""
    duration: float = 0.0
    timed_out: bool = False  # the deadline passed first
    error: str = ""  # a transport failure, described
    cut: bool = False  # the body reached its limit and was not read on

    def header(self, name: str) -> str | None:
        """A response header's value (repeated ones joined, as httpx joins them), or None."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def echoes(self, credential: tuple[str, str] | None) -> tuple[Echo, ...]:
        """Where the answer carried the request's credential back."""
        return find_echoes(*credential, self.headers, self.body) if credential else ()


def describe_http_error(err: httpx.HTTPError) -> str:
    """One line for a transport failure: what failed and against which URL."""
    kind = type(err).__name__
    detail = str(err) or "no detail"
    try:
        url = str(err.request.url)
    except RuntimeError:
        url = ""
    return f"{kind} ({detail})" + (f" for {url}" if url else "")


async def read_answer(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    deadline: float,
    error_limit: int,
    success: Success,
    success_limit: int | None = None,
) -> Answer:
    """Send the request and read its answer: an error body up to `error_limit` bytes, a
    success body as `success` says, up to `success_limit` (the error limit by default).
    A body may run past its limit by the last piece read."""
    answer = Answer()
    body = bytearray()
    started = time.monotonic()
    try:
        async with asyncio.timeout(deadline):
            response = await client.send(request, stream=True)
            try:
                answer.status, answer.headers = response.status_code, response.headers.multi_items()
                answer.headers_time = time.monotonic() - started
                if answer.accepted and success is Success.FIRST_BYTES:
                    await _first_bytes(response, body, error_limit)
                elif not answer.accepted or success is Success.WHOLE:
                    limit = error_limit if not answer.accepted else success_limit or error_limit
                    async for piece in response.aiter_bytes():
                        body += piece
                        if len(body) >= limit:
                            answer.cut = True
                            break
            finally:
                await response.aclose()
    except TimeoutError:
        answer.timed_out = True
    except httpx.HTTPError as err:
        answer.error = describe_http_error(err)
    answer.body = bytes(body)
    answer.duration = time.monotonic() - started
    return answer


async def _first_bytes(response: httpx.Response, body: bytearray, limit: int) -> None:
    """What an accepted stream began with, for the report: one read, briefly awaited."""
    pieces = response.aiter_bytes()
    try:
        piece = await asyncio.wait_for(anext(pieces), _FIRST_BYTES)
    except (TimeoutError, StopAsyncIteration):
        return
    body += piece[:limit]
