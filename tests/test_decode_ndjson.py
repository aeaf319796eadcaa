"""NDJSONDecoder: one complete JSON object per LF-terminated line, whatever the chunks."""

from __future__ import annotations

import pytest
from decoder_cases import decode, decode_every_way, notes_of

from streamconform.decode import NDJSONDecoder

CR = "ndjson.line.cr"
BLANK = "ndjson.line.blank"
NOT_JSON = "ndjson.line.not-json"
NOT_OBJECT = "ndjson.line.not-object"
UNTERMINATED = "ndjson.line.unterminated"
UTF8 = "encoding.utf8.invalid"
TOO_LARGE = "stream.event.too-large"


def ndjson_view(decoder: NDJSONDecoder, events: list) -> tuple[list, list]:
    return [(e.offset, e.payload) for e in events], notes_of(decoder)


def decode_ndjson(data: bytes, **options: int) -> tuple[list, list]:
    """([(offset, payload)], [(note kind, offset)]), the same under every chunking."""
    return decode_every_way(lambda: NDJSONDecoder(**options), data, ndjson_view)


def case(id: str, data: bytes, events: list, notes: list | None = None):
    return pytest.param(data, events, notes or [], id=id)


@pytest.mark.parametrize(
    ("data", "events", "notes"),
    [
        case("lines", b'{"a": 1}\n{"b": "x"}\n', [(0, {"a": 1}), (9, {"b": "x"})]),
        case(
            "multibyte-characters",
            '{"t": "é€😀"}\n{"u": "ok"}\n'.encode(),
            [(0, {"t": "é€😀"}), (19, {"u": "ok"})],
        ),
        case(
            "nested-values",
            b'{"a": {"b": [1, null, true]}}\n',
            [(0, {"a": {"b": [1, None, True]}})],
        ),
        case(
            "pretty-printed-object-is-broken-framing",
            b'{\n  "a": 1\n}\n',
            [],
            [(NOT_JSON, 0), (NOT_JSON, 2), (NOT_JSON, 11)],
        ),
        case(
            "crlf-is-noted-but-decoded",
            b'{"a": 1}\r\n{"b": 2}\r\n',
            [(0, {"a": 1}), (10, {"b": 2})],
            [(CR, 8), (CR, 18)],
        ),
        case(
            "blank-line-is-noted",
            b'{"a": 1}\n\n{"b": 2}\n',
            [(0, {"a": 1}), (10, {"b": 2})],
            [(BLANK, 9)],
        ),
        case("whitespace-line-is-blank", b'  \t\n{"a": 1}\n', [(4, {"a": 1})], [(BLANK, 0)]),
        case("crlf-blank-line", b'\r\n{"a": 1}\n', [(2, {"a": 1})], [(CR, 0), (BLANK, 0)]),
        case(
            "last-line-without-lf-is-not-emitted",
            b'{"a": 1}\n{"b": 2}',
            [(0, {"a": 1})],
            [(UNTERMINATED, 9)],
        ),
        case("only-line-without-lf", b'{"a": 1}', [], [(UNTERMINATED, 0)]),
        case("top-level-array", b"[1, 2]\n", [], [(NOT_OBJECT, 0)]),
        case("top-level-number", b"42\n", [], [(NOT_OBJECT, 0)]),
        case("top-level-string", b'"x"\n', [], [(NOT_OBJECT, 0)]),
        case("top-level-null", b"null\n", [], [(NOT_OBJECT, 0)]),
        case("nan-rejected", b'{"a": NaN}\n', [], [(NOT_JSON, 0)]),
        case("infinity-rejected", b'{"a": Infinity}\n', [], [(NOT_JSON, 0)]),
        case("bare-nan-rejected", b"NaN\n", [], [(NOT_JSON, 0)]),
        case("two-values-on-one-line", b'{"a": 1} {"b": 2}\n', [], [(NOT_JSON, 0)]),
        case("sse-framing-is-not-json", b'data: {"a": 1}\n\n', [], [(NOT_JSON, 0), (BLANK, 15)]),
        case(
            "invalid-utf8-is-noted",
            b'{"a": 1}\n{"t": "\xff"}\n',
            [(0, {"a": 1}), (9, {"t": "\ufffd"})],
            [(UTF8, 16)],
        ),
        case(
            "truncated-character-is-noted",
            b'{"t": "' + "€".encode()[:2] + b'"}\n',
            [(0, {"t": "\ufffd"})],
            [(UTF8, 7)],
        ),
    ],
)
def test_ndjson_case(data: bytes, events: list, notes: list) -> None:
    assert decode_ndjson(data) == (events, notes)


def test_line_split_across_many_chunks() -> None:
    line = '{"text": "naïve € 😀 done"}\n'.encode()
    decoder = NDJSONDecoder()
    chunks = [line[start : start + 3] for start in range(0, len(line), 3)]
    events = [event for chunk in chunks for event in decoder.feed(chunk, 1.0)]
    assert [e.payload for e in events] == [{"text": "naïve € 😀 done"}]
    assert decoder.log.notes == []


def test_event_data_and_offsets() -> None:
    decoder = NDJSONDecoder()
    events = decode(decoder, [b'{"a": 1}\r\n{"b": 2}\n'])
    assert [(e.index, e.offset, e.end, e.data) for e in events] == [
        (0, 0, 10, '{"a": 1}'),
        (1, 10, 19, '{"b": 2}'),
    ]


def test_events_arrive_without_close() -> None:
    decoder = NDJSONDecoder()
    assert [e.payload for e in decoder.feed(b'{"a": 1}\n{"b"', 1.0)] == [{"a": 1}]
    assert [e.payload for e in decoder.feed(b": 2}\n", 2.0)] == [{"b": 2}]


def test_close_returns_nothing() -> None:
    decoder = NDJSONDecoder()
    decoder.feed(b'{"a": 1}', 0.0)
    assert decoder.close(1.0) == []


@pytest.mark.parametrize(
    ("data", "events", "notes"),
    [
        case(
            "too-large-line-dropped-next-decoded",
            b'{"a": "0123456789abcdefghij"}\n{"b": 1}\n',
            [(30, {"b": 1})],
            [(TOO_LARGE, 0)],
        ),
        case(
            "too-large-after-earlier-line",
            b'{"b": 1}\n{"a": "0123456789abcdefghij"}\n',
            [(0, {"b": 1})],
            [(TOO_LARGE, 9)],
        ),
        case("within-limit-is-decoded", b'{"a": "0123456789"}\n', [(0, {"a": "0123456789"})]),
    ],
)
def test_max_event_bytes(data: bytes, events: list, notes: list) -> None:
    assert decode_ndjson(data, max_event_bytes=20) == (events, notes)


def test_max_event_bytes_bounds_memory() -> None:
    limit, step = 64 * 1024, 4 * 1024
    stream = b'{"a": "' + b"x" * (200 * 1024) + b'"}\n{"b": 1}\n'
    decoder = NDJSONDecoder(max_event_bytes=limit)
    events = []
    for start in range(0, len(stream), step):
        events += decoder.feed(stream[start : start + step], 0.0)
        assert sum(len(piece) for piece in decoder._pending) <= limit + step
    assert [e.payload for e in events] == [{"b": 1}]
    assert notes_of(decoder) == [(TOO_LARGE, 0)]
