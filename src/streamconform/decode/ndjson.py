"""A strict, incremental NDJSON decoder: one complete JSON object per LF-terminated line.

Lenient readers (like the sample parser in the PromptFloe docs) skip blank lines and
strip CR, so those are noted at SHOULD level; a line that is not one complete JSON
object, or a last line with no LF (which such readers never process), is a failure.
"""

from __future__ import annotations

from streamconform.decode.events import NOT_JSON, Event, NoteLog, parse_json
from streamconform.decode.utf8 import bad_bytes, decode_strict

__all__ = ["NDJSONDecoder"]


class NDJSONDecoder:
    """Feed raw chunks with their arrival time; get back one event per complete JSON line."""

    def __init__(self, *, max_event_bytes: int = 1 << 20) -> None:
        self.max_event_bytes = max_event_bytes
        self.log = NoteLog()
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._offset = 0
        self._discarding_line = False
        self._index = 0

    @property
    def next_index(self) -> int:
        """The index the next dispatched event will get."""
        return self._index

    @property
    def mid_event(self) -> bool:
        """True when bytes of an event not yet dispatched have been consumed."""
        return bool(self._pending_len) or False

    def feed(self, chunk: bytes, time: float) -> list[Event]:
        """Consume one chunk; return the events for the lines it completed."""
        events: list[Event] = []
        if b"\n" not in chunk:
            self._hold(chunk)
            return events
        if self._pending:
            self._pending.append(chunk)
            chunk = b"".join(self._pending)
            self._pending = []
            self._pending_len = 0
        lines = chunk.split(b"\n")
        tail = lines.pop()
        for raw in lines:
            start = self._offset
            self._offset = start + len(raw) + 1
            if self._discarding_line:
                self._discarding_line = False
                continue
            self._line(raw, start, time, events)
        if tail:
            self._hold(tail)
        return events

    def close(self, time: float) -> list[Event]:
        """End of stream: a last line without LF is noted; lenient readers never see it."""
        tail = b"".join(self._pending)
        if tail.strip() and not self._discarding_line:
            self.log.add(
                "ndjson.line.unterminated",
                self._offset,
                f"last line ({len(tail)} bytes) has no terminating LF",
                self._index,
            )
        self._pending = []
        self._pending_len = 0
        return []

    def _hold(self, piece: bytes) -> None:
        if self._discarding_line:
            self._offset += len(piece)
            return
        self._pending.append(piece)
        self._pending_len += len(piece)
        if self._pending_len > self.max_event_bytes:
            self.log.add(
                "stream.event.too-large",
                self._offset,
                f"line longer than the {self.max_event_bytes}-byte limit",
                self._index,
            )
            self._offset += self._pending_len
            self._pending = []
            self._pending_len = 0
            self._discarding_line = True

    def _line(self, raw: bytes, start: int, time: float, out: list[Event]) -> None:
        if len(raw) > self.max_event_bytes:
            self.log.add(
                "stream.event.too-large",
                start,
                f"line longer than the {self.max_event_bytes}-byte limit",
                self._index,
            )
            return
        if raw[-1:] == b"\r":
            self.log.add("ndjson.line.cr", start + len(raw) - 1, "line ends with CRLF", self._index)
            raw = raw[:-1]
        text, bad = decode_strict(raw)
        for index in bad:
            self.log.add("encoding.utf8.invalid", start + index, bad_bytes(raw, index), self._index)
        if not text.strip():
            self.log.add("ndjson.line.blank", start, "blank line", self._index)
            return
        payload, error = parse_json(text)
        if payload is NOT_JSON:
            self.log.add("ndjson.line.not-json", start, f"{error}: {text[:80]!r}", self._index)
            return
        if not isinstance(payload, dict):
            self.log.add(
                "ndjson.line.not-object",
                start,
                f"{type(payload).__name__}: {text[:80]!r}",
                self._index,
            )
            return
        out.append(
            Event(
                index=self._index,
                offset=start,
                end=self._offset,
                time=time,
                data=text,
                payload=payload,
            )
        )
        self._index += 1
