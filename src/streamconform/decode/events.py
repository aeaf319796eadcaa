"""What decoders produce: dispatched events and notes about how the bytes were framed."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NOT_JSON", "Event", "Note", "NoteLog", "parse_json"]


class _NotJSON:
    """Marker for an event whose data was expected to be JSON but is not."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Any = _NotJSON()


@dataclass(slots=True)
class Event:
    """One dispatched event, stamped with where and when it arrived.

    Not frozen: building one is on the decoders' hot path, and a frozen dataclass costs
    five times as much to construct. Nothing mutates an Event after dispatch.

    `offset` is the byte offset of the first line of the event; `end` is just past the
    byte that dispatched it (the first byte of the final line break). `time` is when the
    bytes that completed it arrived, in seconds since the request was sent. SSE fills
    `type`, `id` (the last event ID string in force at dispatch, which persists over
    events that carry no `id:` line) and `has_id_field`. `payload` is the parsed JSON
    value, NOT_JSON when parsing failed, None when not parsed.
    """

    index: int
    offset: int
    end: int
    time: float
    data: str
    type: str = ""
    id: str = ""
    has_id_field: bool = False
    payload: Any = None
    json_error: str = ""


@dataclass(frozen=True, slots=True)
class Note:
    """A framing anomaly seen by a decoder, with the byte offset where it starts.

    `event_index` is the index the next dispatched event gets (the event the anomaly
    belongs to, or precedes).
    """

    kind: str
    offset: int
    detail: str
    event_index: int


@dataclass(slots=True)
class NoteLog:
    """Notes kept in bounded memory: at most `per_kind` of each kind, the rest counted."""

    per_kind: int = 50
    notes: list[Note] = field(default_factory=list)
    kept: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, offset: int, detail: str, event_index: int) -> None:
        if self.kept[kind] >= self.per_kind:
            self.dropped[kind] += 1
            return
        self.kept[kind] += 1
        self.notes.append(Note(kind, offset, detail, event_index))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str) -> tuple[Any, str]:
    """Parse strict JSON (no NaN or Infinity): (value, "") or (NOT_JSON, reason)."""
    try:
        return json.loads(text, parse_constant=_reject_constant), ""
    except ValueError as err:
        return NOT_JSON, str(err)
