"""An incremental decoder for text/plain streams: UTF-8 text, one event per chunk."""

from __future__ import annotations

from streamconform.decode.events import Event, NoteLog
from streamconform.decode.utf8 import bad_bytes, decode_strict, incomplete_tail

__all__ = ["TextDecoder"]


class TextDecoder:
    """Text streams have no framing: each chunk's text is an event, split characters held over."""

    def __init__(self) -> None:
        self.log = NoteLog()
        self._carry = b""
        self._offset = 0
        self._index = 0

    @property
    def next_index(self) -> int:
        """The index the next dispatched event will get."""
        return self._index

    @property
    def mid_event(self) -> bool:
        """True when bytes of a character not yet emitted (split by a chunk) are held over."""
        return bool(self._carry)

    def feed(self, chunk: bytes, time: float) -> list[Event]:
        """Consume one chunk; return its text, less any trailing partial character."""
        raw = self._carry + chunk
        keep = incomplete_tail(raw)
        self._carry = raw[len(raw) - keep :] if keep else b""
        raw = raw[: len(raw) - keep]
        return self._emit(raw, time)

    def close(self, time: float) -> list[Event]:
        """End of stream: bytes of a character that never completed are invalid UTF-8."""
        raw, self._carry = self._carry, b""
        return self._emit(raw, time)

    def _emit(self, raw: bytes, time: float) -> list[Event]:
        if not raw:
            return []
        start = self._offset
        self._offset += len(raw)
        text, bad = decode_strict(raw)
        for index in bad:
            self.log.add("encoding.utf8.invalid", start + index, bad_bytes(raw, index), self._index)
        event = Event(index=self._index, offset=start, end=self._offset, time=time, data=text)
        self._index += 1
        return [event]
