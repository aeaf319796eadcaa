"""A captured stream: everything the checks judge, recorded once.

Capture and judgment are kept apart: the engine fills a Transcript from the wire, and
every check is a pure function over it. Times are seconds since the request was sent.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from streamconform.core.echoes import Echo
from streamconform.decode.events import Event, Note

__all__ = ["Chunk", "End", "RequestRecord", "Transcript"]


class End(StrEnum):
    """Why the capture stopped reading."""

    CLOSED = "closed"  # the server ended the body
    TERMINAL = "terminal"  # a long-lived stream delivered the terminal event we waited for
    IDLE_TIMEOUT = "idle-timeout"  # no byte for longer than the idle bound
    MAX_DURATION = "max-duration"  # the stream outlived its maximum duration
    SIZE_LIMIT = "size-limit"  # the body outgrew the capture limit
    RESPONSE_TIMEOUT = "response-timeout"  # no response headers in time
    READ_ERROR = "read-error"  # the connection broke mid-body
    NOT_CLOSED = "not-closed"  # a finite stream stayed open after its terminal event
    SETUP_FAILED = "setup-failed"  # a setup or trigger flow failed: nothing to judge
    CUT = "cut"  # the suite dropped the connection on purpose, to resume
    NOT_A_STREAM = "not-a-stream"  # an error status: the body was read as a plain response
    UNAVAILABLE = "unavailable"  # the request needs a variable the target does not have


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes as one read returned them, with arrival time and absolute byte offset."""

    time: float
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """The request as sent, already redacted."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Transcript:
    """One stream, start to end, as the wire delivered it."""

    spec: str
    endpoint: str
    framing: str
    request: RequestRecord
    status: int | None = None
    http_version: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    chunks: tuple[Chunk, ...] = ()
    events: tuple[Event, ...] = ()
    notes: tuple[Note, ...] = ()
    notes_dropped: Mapping[str, int] = field(default_factory=dict)
    retries: tuple[tuple[int, int], ...] = ()
    end: End = End.CLOSED
    end_detail: str = ""
    headers_time: float | None = None
    duration: float = 0.0
    body_bytes: int = 0
    setup_log: tuple[str, ...] = ()
    # what the setup flows captured (a run id, say), secrets aside
    captures: Mapping[str, object] = field(default_factory=dict)
    variant: str = ""  # the request variant it was captured with ("" for the plain one)
    # (when, how long) this process's own event loop could not run during the capture:
    # delays of ours, which must never be read as the server's
    stalls: tuple[tuple[float, float], ...] = ()
    # where the response carried the request's own credential back
    echoes: tuple[Echo, ...] = ()

    @classmethod
    def unprepared(
        cls, spec: str, endpoint: str, framing: str, variant: str, detail: str
    ) -> Transcript:
        """No request was sent: a setup flow (or what a scenario needed) failed first."""
        return cls(
            spec,
            endpoint,
            framing,
            RequestRecord("", ""),
            end=End.SETUP_FAILED,
            end_detail=detail,
            variant=variant,
        )

    def header(self, name: str) -> str | None:
        """A response header's value (repeated headers joined by ", "), or None."""
        wanted = name.lower()
        values = [v for k, v in self.headers if k.lower() == wanted]
        return ", ".join(values) if values else None

    @property
    def opened(self) -> bool:
        """True when a successful response arrived, so there is a stream to judge."""
        ok = self.status is not None and 200 <= self.status < 300
        return ok and self.end is not End.SETUP_FAILED

    def notes_of(self, kind: str) -> list[Note]:
        return [n for n in self.notes if n.kind == kind]

    def time_at(self, offset: int) -> float | None:
        """When the byte at `offset` arrived (None past the end of what was captured)."""
        i = bisect.bisect_right(self.chunks, offset, key=lambda c: c.offset) - 1
        if i < 0 or offset >= self.chunks[i].offset + len(self.chunks[i].data):
            return None
        return self.chunks[i].time
