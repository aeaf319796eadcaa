"""A strict, incremental decoder for text/event-stream (WHATWG HTML, "Parsing an event stream").

It dispatches exactly what a browser's EventSource would, and records every framing
anomaly as a Note instead of silently absorbing it. Lines are split on bytes before
decoding, which is safe because UTF-8 never uses 0x0A or 0x0D inside a multi-byte
character, so a character split across chunks is simply held with its line.
"""

from __future__ import annotations

from streamconform.decode.events import Event, NoteLog, parse_json
from streamconform.decode.utf8 import bad_bytes, decode_strict

__all__ = ["SSEDecoder"]

_BOM = b"\xef\xbb\xbf"
_BOM_LEAD = 0xEF
_LF = 0x0A
_CR = 0x0D
_COLON = 0x3A
_MAX_RETRIES_KEPT = 100


class SSEDecoder:
    """Feed raw chunks with their arrival time; get back the events they complete.

    Memory is bounded by `max_event_bytes`: an event block (or a single line) larger than
    that is dropped, noted as `stream.event.too-large`, and never dispatched.
    """

    def __init__(self, *, max_event_bytes: int = 1 << 20, parse_json: bool = False) -> None:
        self.max_event_bytes = max_event_bytes
        self.parse_json = parse_json
        self.log = NoteLog()
        self.retry: int | None = None
        self.retries: list[tuple[int, int]] = []
        self.last_event_id = ""
        self._id_buffer = ""
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._offset = 0
        self._skip_lf = False
        self._started = False
        self._head = b""
        self._discarding_line = False
        self._index = 0
        self._reset_block()

    def _reset_block(self) -> None:
        self._data: list[str] = []
        self._type = ""
        self._block_start = -1
        self._block_bytes = 0
        self._block_has_id = False
        self._oversized = False

    @property
    def next_index(self) -> int:
        """The index the next dispatched event will get."""
        return self._index

    @property
    def mid_event(self) -> bool:
        """True when bytes of an event (not of a comment) have been consumed undispatched."""
        partial_line = bool(self._pending) and self._pending[0][:1] != b":"
        return partial_line or bool(self._data) or bool(self._type) or self._block_has_id

    def feed(self, chunk: bytes, time: float) -> list[Event]:
        """Consume one chunk; return the events whose final blank line it completed."""
        events: list[Event] = []
        if not chunk:
            return events
        if not self._started:
            chunk = self._head + chunk
            if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
                self._head = chunk  # could still become a leading BOM
                return events
            self._started = True
            self._head = b""
            if chunk.startswith(_BOM):  # one leading BOM is stripped
                chunk = chunk[len(_BOM) :]
                self._offset = len(_BOM)
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":  # second half of a CRLF split across chunks
                self._offset += 1
                chunk = chunk[1:]
                if not chunk:
                    return events
        if b"\n" not in chunk and b"\r" not in chunk:
            self._hold(chunk)
            return events
        if self._pending:
            self._pending.append(chunk)
            chunk = b"".join(self._pending)
            self._pending = []
            self._pending_len = 0
        lines = chunk.splitlines(True)
        tail = lines[-1]
        held = tail[-1] not in (_LF, _CR)
        if held:
            lines.pop()
        for raw in lines:
            size = len(raw)
            start = self._offset
            self._offset = start + size
            if self._discarding_line:
                self._discarding_line = False
                continue
            if raw[-1] == _LF:
                content = raw[:-2] if size > 1 and raw[-2] == _CR else raw[:-1]
            else:
                content = raw[:-1]
            self._line(content, start, time, events)
        if held:
            self._hold(tail)
        else:
            self._skip_lf = tail[-1] == _CR  # an LF may follow in the next chunk
        return events

    def close(self, time: float) -> list[Event]:
        """End of stream: nothing more is dispatched; an unfinished event is noted as lost."""
        incomplete = self._head + b"".join(self._pending)
        start = self._offset
        lost_line = bool(incomplete) and not self._discarding_line
        if lost_line:
            for index in decode_strict(incomplete)[1]:
                self.log.add(
                    "encoding.utf8.invalid",
                    start + index,
                    bad_bytes(incomplete, index),
                    self._index,
                )
            lost_line = incomplete[:1] != b":"
        if self._data or self._block_has_id or lost_line:
            where = self._block_start if self._block_start >= 0 else start
            what = "data" if self._data or lost_line else "id"
            self.log.add(
                "sse.event.unterminated",
                where,
                f"stream ended inside an event ({what} not followed by a blank line)",
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
        if self._pending_len + self._block_bytes > self.max_event_bytes:
            self._too_large(self._block_start if self._block_start >= 0 else self._offset)
            self._offset += self._pending_len
            self._pending = []
            self._pending_len = 0
            self._discarding_line = True

    def _too_large(self, where: int) -> None:
        if not self._oversized:
            self.log.add(
                "stream.event.too-large",
                where,
                f"event larger than the {self.max_event_bytes}-byte limit",
                self._index,
            )
        self._oversized = True
        self._data = []
        if self._block_start < 0:
            self._block_start = where

    def _line(self, content: bytes, start: int, time: float, out: list[Event]) -> None:
        if not content:
            self._dispatch(start + 1, time, out)  # just past the byte that dispatched it
            return
        if content[0] == _BOM_LEAD and content.startswith(_BOM):
            self.log.add("sse.bom.not-leading", start, "U+FEFF at the start of a line", self._index)
        if self._block_start < 0:
            self._block_start = start
        self._block_bytes += len(content) + 1  # CRLF counts as one: chunking must not matter
        if self._block_bytes > self.max_event_bytes:
            self._too_large(self._block_start)
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            text, bad = decode_strict(content)
            for index in bad:
                self.log.add(
                    "encoding.utf8.invalid", start + index, bad_bytes(content, index), self._index
                )
        if content[0] == _COLON:
            return  # comment
        colon = text.find(":")
        if colon < 0:
            name, value = text, ""
        else:
            name, value = text[:colon], text[colon + 1 :]
            if value[:1] == " ":
                value = value[1:]
        if name == "data":
            if not self._oversized:
                self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id":
            if "\0" in value:
                self.log.add("sse.id.nul", start, f"id {value!r} contains U+0000", self._index)
            else:
                self._block_has_id = True
                self._id_buffer = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self.retry = int(value)
                if len(self.retries) < _MAX_RETRIES_KEPT:
                    self.retries.append((start, self.retry))
            else:
                self.log.add("sse.retry.invalid", start, f"retry value {value!r}", self._index)
        elif not name.startswith("\ufeff"):  # a mid-stream BOM is reported as such
            self.log.add("sse.field.unknown", start, name, self._index)

    def _dispatch(self, end: int, time: float, out: list[Event]) -> None:
        self.last_event_id = self._id_buffer  # applied on every blank line, even with no data
        if self._oversized:
            self._reset_block()
            return
        if not self._data:
            if self._type:
                self.log.add(
                    "sse.event.no-data",
                    self._block_start,
                    f"event: {self._type!r} without a data line is never dispatched",
                    self._index,
                )
            self._reset_block()
            return
        data = "\n".join(self._data)
        payload, error = parse_json(data) if self.parse_json else (None, "")
        out.append(
            Event(
                self._index,
                self._block_start,
                end,
                time,
                data,
                self._type or "message",
                self.last_event_id,
                self._block_has_id,
                payload,
                error,
            )
        )
        self._index += 1
        self._reset_block()
