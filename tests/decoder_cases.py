"""Feed a byte string to a decoder under every chunking and check that they all agree.

A stream decoder must give the same result whatever the chunk boundaries are, so each
input is fed (1) whole, (2) one byte per chunk and (3) split in two at every offset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from streamconform.decode import Event, NDJSONDecoder, SSEDecoder, TextDecoder

Decoder = SSEDecoder | NDJSONDecoder | TextDecoder
View = Callable[[Any, list[Event]], Any]


def chunkings(data: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """Every way the helper splits `data`, each with a label for failure messages."""
    yield "whole", [data]
    yield "one byte per chunk", [data[i : i + 1] for i in range(len(data))]
    for i in range(len(data) + 1):
        yield f"split at {i}", [data[:i], data[i:]]


def decode(decoder: Decoder, chunks: list[bytes]) -> list[Event]:
    """Feed `chunks` (chunk n arrives at time n), then close; return all events."""
    events: list[Event] = []
    for time, chunk in enumerate(chunks):
        events += decoder.feed(chunk, float(time))
    events += decoder.close(float(len(chunks)))
    return events


def decode_every_way(make_decoder: Callable[[], Decoder], data: bytes, view: View) -> Any:
    """Decode `data` under every chunking; assert the views agree and return the view."""
    first_label, first = None, None
    for label, chunks in chunkings(data):
        decoder = make_decoder()
        got = view(decoder, decode(decoder, chunks))
        if first_label is None:
            first_label, first = label, got
        assert got == first, (
            f"chunk boundaries change the result for {data!r}\n"
            f"  {first_label}: {first!r}\n  {label}: {got!r}"
        )
    return first


def notes_of(decoder: Decoder) -> list[tuple[str, int]]:
    return [(note.kind, note.offset) for note in decoder.log.notes]


class SSEOutcome(NamedTuple):
    events: list[tuple[str, str, str, bool]]
    notes: list[tuple[str, int]]
    last_event_id: str
    retry: int | None


def sse_view(decoder: SSEDecoder, events: list[Event]) -> SSEOutcome:
    return SSEOutcome(
        [(e.type, e.data, e.id, e.has_id_field) for e in events],
        notes_of(decoder),
        decoder.last_event_id,
        decoder.retry,
    )


def decode_sse(data: bytes, **options: Any) -> SSEOutcome:
    """The SSE outcome of `data`, checked to be the same under every chunking."""
    return decode_every_way(lambda: SSEDecoder(**options), data, sse_view)


def ev(data: str, type: str = "message", id: str = "", has_id: bool = False) -> tuple:
    """An expected SSE event, in the shape `sse_view` reports it."""
    return (type, data, id, has_id)
