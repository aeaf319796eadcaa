"""SSEDecoder against the WHATWG "Parsing an event stream" rules and the shared edge cases.

Every case goes through `decode_sse`, which feeds the input whole, one byte per chunk and
split in two at every offset, and requires the same events and notes each time.
"""

from __future__ import annotations

import pytest
from decoder_cases import decode, decode_every_way, decode_sse, ev, notes_of

from streamconform.decode import SSEDecoder
from streamconform.decode.events import NOT_JSON

BOM = b"\xef\xbb\xbf"
EURO = "€".encode()  # 3 bytes
GRIN = "😀".encode()  # 4 bytes

UNKNOWN = "sse.field.unknown"
UTF8 = "encoding.utf8.invalid"
UNTERMINATED = "sse.event.unterminated"
TOO_LARGE = "stream.event.too-large"


def case(id: str, data: bytes, events: list, notes: list | None = None):
    return pytest.param(data, events, notes or [], id=id)


# -- Decoding -----------------------------------------------------------------------------

DECODING = [
    case("bom-leading-is-stripped", BOM + b"data: x\n\n", [ev("x")]),
    case(
        "bom-second-is-ignored",
        BOM + BOM + b"data: x\n\ndata: y\n\n",
        [ev("y")],
        [("sse.bom.not-leading", 3)],
    ),
    case(
        "bom-mid-stream-starts-a-field-name",
        b"data: x\n\n" + BOM + b"data: y\n\n",
        [ev("x")],
        [("sse.bom.not-leading", 9)],
    ),
    case(
        "bom-after-a-leading-blank-line-is-not-stripped",
        b"\n" + BOM + b"data: y\n\n",
        [],
        [("sse.bom.not-leading", 1)],
    ),
    case("bom-inside-a-value-is-text", b"data: a" + BOM + b"b\n\n", [ev("a\ufeffb")]),
    case("utf8-two-byte-character", "data: é\n\n".encode(), [ev("é")]),
    case("utf8-three-byte-character", b"data: " + EURO + b"\n\n", [ev("€")]),
    case("utf8-four-byte-character", b"data: " + GRIN + EURO + GRIN + b"\n\n", [ev("😀€😀")]),
    case("utf8-in-event-type", "event: ça\ndata: x\n\n".encode(), [ev("x", type="ça")]),
    case("utf8-invalid-byte-is-noted", b"data: a\xffb\n\n", [ev("a\ufffdb")], [(UTF8, 7)]),
    case(
        "utf8-invalid-byte-in-later-event",
        b"data: ok\n\ndata: \xc3(\n\n",
        [ev("ok"), ev("\ufffd(")],
        [(UTF8, 16)],
    ),
    case(
        "utf8-truncated-character-before-line-end",
        b"data: " + EURO[:2] + b"\n\n",
        [ev("\ufffd")],
        [(UTF8, 6)],
    ),
    case("utf8-latin1-bytes-are-invalid", b"data: caf\xe9\n\n", [ev("caf\ufffd")], [(UTF8, 9)]),
    case("utf8-invalid-byte-in-comment", b": \xff\ndata: x\n\n", [ev("x")], [(UTF8, 2)]),
]

# -- Lines --------------------------------------------------------------------------------

LINES = [
    case("line-ends-crlf", b"data: a\r\n\r\ndata: b\r\n\r\n", [ev("a"), ev("b")]),
    case("line-ends-lf", b"data: a\n\ndata: b\n\n", [ev("a"), ev("b")]),
    case("line-ends-cr", b"data: a\r\rdata: b\r\r", [ev("a"), ev("b")]),
    case(
        "line-ends-mixed",
        b"data: a\r\ndata: b\ndata: c\r\r\ndata: d\n\r",
        [ev("a\nb\nc"), ev("d")],
    ),
    case("whatwg-mixed-example", b"data:test\r\ndata\ndata:test\r\n\r", [ev("test\n\ntest")]),
    case("lf-then-cr-is-two-line-ends", b"data: a\n\rdata: b\n\n", [ev("a"), ev("b")]),
    case("cr-line-then-lf-line", b"data: a\r\rdata: b\n\n", [ev("a"), ev("b")]),
    case("cr-cr-lf-is-two-line-ends", b"data: a\r\r\ndata: b\n\n", [ev("a"), ev("b")]),
    case("blank-lines-alone-dispatch-nothing", b"\n\r\n\r\n\n", []),
]

# -- Fields -------------------------------------------------------------------------------

FIELDS = [
    case("comment-is-ignored", b": hello\ndata: x\n\n", [ev("x")]),
    case("comment-empty", b":\ndata: x\n\n", [ev("x")]),
    case("comment-with-nul", b":\x00nul\x00\ndata: x\n\n", [ev("x")]),
    case("comment-that-looks-like-data", b":data:x\n\n", []),
    case("comment-long", b":" + b"x" * 200 + b"\ndata: x\n\n", [ev("x")]),
    case("value-one-space-removed", b"data:  2\n\n", [ev(" 2")]),
    case("value-without-space", b"data:2\n\n", [ev("2")]),
    case("value-tab-is-kept", b"data:\t2\n\n", [ev("\t2")]),
    case("value-keeps-later-colons", b"data: a: b\n\n", [ev("a: b")]),
    case("value-keeps-trailing-space", b"data: a \n\n", [ev("a ")]),
    case("field-without-colon-has-empty-value", b"data\n\n", [ev("")]),
    case("field-name-is-case-sensitive", b"Data: x\n\n", [], [(UNKNOWN, 0)]),
    case("field-name-with-nul", b"data\x00: x\n\n", [], [(UNKNOWN, 0)]),
    case("field-name-with-nul-no-colon", b"data\x00\n\n", [], [(UNKNOWN, 0)]),
    case("field-name-with-dash", b"da-ta: x\n\n", [], [(UNKNOWN, 0)]),
    case("field-name-with-leading-space", b" data: x\n\n", [], [(UNKNOWN, 0)]),
    case("field-unknown-is-ignored", b"foo: bar\ndata: x\n\n", [ev("x")], [(UNKNOWN, 0)]),
    case("data-lines-joined-with-lf", b"data: a\ndata: b\ndata: c\n\n", [ev("a\nb\nc")]),
    case("data-two-empty-lines-give-lf", b"data\ndata\n\n", [ev("\n")]),
    case("data-empty-then-text", b"data:\ndata: x\n\n", [ev("\nx")]),
    case("data-nul-is-kept", b"data: a\x00b\n\n", [ev("a\x00b")]),
    case(
        "event-type-applies-to-one-event",
        b"event: ping\ndata: x\n\ndata: y\n\n",
        [ev("x", type="ping"), ev("y")],
    ),
    case("event-type-empty-means-message", b"event:\ndata: x\n\n", [ev("x")]),
    case("event-type-last-one-wins", b"event: a\nevent: b\ndata: x\n\n", [ev("x", type="b")]),
    case("id-is-set", b"id: 1\ndata: x\n\n", [ev("x", id="1", has_id=True)]),
    case(
        "id-persists-over-later-events",
        b"id: 1\ndata: a\n\ndata: b\n\n",
        [ev("a", id="1", has_id=True), ev("b", id="1")],
    ),
    case(
        "id-with-nul-is-ignored",
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
        [ev("a", id="1", has_id=True), ev("b", id="1")],
        [("sse.id.nul", 15)],
    ),
    case(
        "id-bare-resets",
        b"id: 1\ndata: a\n\nid\ndata: b\n\n",
        [ev("a", id="1", has_id=True), ev("b", id="", has_id=True)],
    ),
    case(
        "id-empty-value-resets",
        b"id: 1\ndata: a\n\nid:\ndata: b\n\n",
        [ev("a", id="1", has_id=True), ev("b", id="", has_id=True)],
    ),
    case(
        "id-non-ascii-is-allowed",
        "id: événement-€-😀\ndata: x\n\n".encode(),
        [ev("x", id="événement-€-😀", has_id=True)],
    ),
]

# -- Dispatch and what servers send ------------------------------------------------------

DISPATCH = [
    case(
        "event-without-data-is-not-dispatched",
        b"event: ping\n\ndata: x\n\n",
        [ev("x")],
        [("sse.event.no-data", 0)],
    ),
    case("id-only-block-dispatches-nothing", b"id: 7\n\ndata: x\n\n", [ev("x", id="7")]),
    case("retry-only-block-dispatches-nothing", b"retry: 10\n\n", []),
    case("comment-only-blocks-dispatch-nothing", b": ping\n\n: ping\n\n", []),
    case(
        "unterminated-without-newline",
        b"data: a\n\ndata: x",
        [ev("a")],
        [(UNTERMINATED, 9)],
    ),
    case(
        "unterminated-without-blank-line",
        b"data: a\n\ndata: x\n",
        [ev("a")],
        [(UNTERMINATED, 9)],
    ),
    case(
        "unterminated-cr-only",
        b"data: a\r\rdata: x\r",
        [ev("a")],
        [(UNTERMINATED, 9)],
    ),
    case("trailing-comment-without-newline", b"data: a\n\n: ping", [ev("a")]),
    case("trailing-comment-without-blank-line", b"data: a\n\n: ping\n", [ev("a")]),
    case(
        "heartbeat-comments-between-events",
        b"data: a\n\n: ping - 2024-05-01T12:00:00Z\n\n: ping\n\ndata: b\n\n",
        [ev("a"), ev("b")],
    ),
    case(
        "priming-event-has-empty-data",
        b'id: 1\nretry: 2000\ndata:\n\ndata: {"a": 1}\n\n',
        [ev("", id="1", has_id=True), ev('{"a": 1}', id="1")],
    ),
    case(
        "retry-after-data-in-one-event",
        b"data: x\nretry: 500\n\n",
        [ev("x")],
    ),
    case(
        "field-order-is-free",
        b"data: x\nretry: 5\nevent: t\nid: 3\n\n",
        [ev("x", type="t", id="3", has_id=True)],
    ),
    case(
        "payload-newlines-as-data-lines",
        b'data: {"text":\ndata: "two\\nlines"}\n\n',
        [ev('{"text":\n"two\\nlines"}')],
    ),
]


@pytest.mark.parametrize(("data", "events", "notes"), DECODING + LINES + FIELDS + DISPATCH)
def test_sse_case(data: bytes, events: list, notes: list) -> None:
    outcome = decode_sse(data)
    assert outcome.events == events
    assert outcome.notes == notes


def test_unknown_field_note_names_the_field() -> None:
    decoder = SSEDecoder()
    decode(decoder, [b"da-ta: x\n\n"])
    assert [note.detail for note in decoder.log.notes] == ["da-ta"]


# -- id and retry state -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "last_event_id"),
    [
        pytest.param(b"id: 1\ndata: a\n\ndata: b\n\n", "1", id="id-persists"),
        pytest.param(b"id: 1\n\nid: 2\x00\n\n", "1", id="id-with-nul-keeps-previous"),
        pytest.param(b"id: 1\n\nid\n\n", "", id="id-bare-resets"),
        pytest.param(b"id: 7\n\n", "7", id="id-only-block-sets-id"),
        pytest.param(
            b"id: 1\ndata: a\n\nid: 2\ndata: b\n",
            "1",
            id="id-in-unterminated-event-not-applied",
        ),
        pytest.param(b"id: 1\ndata: a\n\nid: 2", "1", id="id-line-without-newline-not-applied"),
        pytest.param("id: ☃\n\n".encode(), "☃", id="id-non-ascii"),
    ],
)
def test_last_event_id(data: bytes, last_event_id: str) -> None:
    assert decode_sse(data).last_event_id == last_event_id


def test_unterminated_event_with_id_is_noted() -> None:
    outcome = decode_sse(b"id: 1\ndata: a\n\nid: 2\ndata: b\n")
    assert outcome.events == [ev("a", id="1", has_id=True)]
    assert outcome.notes == [(UNTERMINATED, 15)]


@pytest.mark.parametrize(
    ("value", "retry"),
    [
        pytest.param(b"1000", 1000, id="retry-digits"),
        pytest.param(b"03000", 3000, id="retry-leading-zero-is-decimal"),
        pytest.param(b"0", 0, id="retry-zero"),
    ],
)
def test_retry_valid(value: bytes, retry: int) -> None:
    outcome = decode_sse(b"retry: " + value + b"\n\n")
    assert outcome.retry == retry
    assert outcome.notes == []


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"retry: 1000x", id="retry-trailing-letter"),
        pytest.param(b"retry: -5", id="retry-negative"),
        pytest.param(b"retry: +5", id="retry-plus-sign"),
        pytest.param(b"retry: 1_000", id="retry-underscore"),
        pytest.param(b"retry: 1e3", id="retry-exponent"),
        pytest.param(b"retry: 2.5", id="retry-decimal-point"),
        pytest.param(b"retry:  5", id="retry-second-space"),
        pytest.param(b"retry: 5 ", id="retry-trailing-space"),
        pytest.param(b"retry:", id="retry-empty"),
        pytest.param(b"retry", id="retry-bare"),
        pytest.param("retry: １０".encode(), id="retry-fullwidth-digits"),
        pytest.param("retry: ٣".encode(), id="retry-arabic-indic-digit"),
    ],
)
def test_retry_invalid_keeps_previous(line: bytes) -> None:
    outcome = decode_sse(b"retry: 1000\n\n" + line + b"\ndata: x\n\n")
    assert outcome.retry == 1000
    assert outcome.notes == [("sse.retry.invalid", 13)]
    assert outcome.events == [ev("x")]


def test_retry_is_recorded_with_offsets() -> None:
    decoder = SSEDecoder()
    decode(decoder, [b"data: x\nretry: 500\n\nretry: 03000\n\n"])
    assert decoder.retries == [(8, 500), (20, 3000)]


def test_retry_inside_event_applies_and_event_dispatches() -> None:
    outcome = decode_sse(b"data: x\nretry: 500\n\n")
    assert outcome.events == [ev("x")]
    assert outcome.retry == 500


def test_priming_event_sets_id_and_retry() -> None:
    outcome = decode_sse(b"id: 1\nretry: 2000\ndata:\n\n")
    assert outcome.events == [ev("", id="1", has_id=True)]
    assert (outcome.last_event_id, outcome.retry) == ("1", 2000)


# -- Chunk boundaries and timing ---------------------------------------------------------


def test_cr_at_chunk_end_then_lf_ends_one_line() -> None:
    decoder = SSEDecoder()
    events = decode(decoder, [b"data: a\r", b"\n\ndata: b\n\n"])
    assert [(e.data, e.offset, e.end) for e in events] == [("a", 0, 10), ("b", 10, 19)]
    assert decoder.log.notes == []


def test_crlf_split_before_blank_line() -> None:
    decoder = SSEDecoder()
    events = decode(decoder, [b"data: a\r\n\r", b"\ndata: b\r\n\r\n"])
    assert [e.data for e in events] == ["a", "b"]


def test_lf_after_partial_line_that_follows_a_cr() -> None:
    # The CR ending "data: a" is not the last byte of the chunk, so the next chunk's
    # LF ends "data: b"; the final LF is then a blank line.
    decoder = SSEDecoder()
    events = decode(decoder, [b"data: a\r\rdata: b", b"\n\n"])
    assert [e.data for e in events] == ["a", "b"]
    assert decoder.log.notes == []


def test_empty_chunk_between_cr_and_lf() -> None:
    decoder = SSEDecoder()
    events = decode(decoder, [b"data: a\r", b"", b"\ndata: b\n\n"])
    assert [e.data for e in events] == ["a\nb"]


def test_cr_only_dispatches_at_once() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"data: x\r\r", 1.0)
    assert [(e.data, e.time) for e in events] == [("x", 1.0)]


def test_cr_only_final_cr_in_its_own_chunk_dispatches_at_once() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r", 1.0) == []
    assert [e.data for e in decoder.feed(b"\r", 2.0)] == ["x"]


def test_crlf_final_cr_dispatches_before_its_lf() -> None:
    decoder = SSEDecoder()
    assert [e.data for e in decoder.feed(b"data: x\r\n\r", 1.0)] == ["x"]
    assert decoder.feed(b"\n", 2.0) == []
    assert decoder.feed(b"data: y\r\n\r\n", 3.0)[0].data == "y"


def test_events_arrive_without_close() -> None:
    decoder = SSEDecoder()
    assert [e.data for e in decoder.feed(b"data: a\n\n", 1.0)] == ["a"]
    assert [e.data for e in decoder.feed(b": ping\n\ndata: b\n\n", 2.0)] == ["b"]


def test_event_time_is_when_its_blank_line_arrived() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n", 1.0) == []
    assert [(e.data, e.time) for e in decoder.feed(b"\n", 2.5)] == [("a", 2.5)]


def test_close_returns_nothing() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a\n", 0.0)
    assert decoder.close(1.0) == []


def offsets_view(decoder: SSEDecoder, events: list) -> list[tuple[int, int]]:
    return [(e.index, e.offset) for e in events]


@pytest.mark.parametrize(
    ("data", "offsets"),
    [
        pytest.param(b"data: a\n\ndata: b\r\n\r\n", [(0, 0), (1, 9)], id="lf-then-crlf"),
        pytest.param(b"data: a\r\n\r\ndata: b\r\n\r\n", [(0, 0), (1, 11)], id="crlf"),
        pytest.param(b"data: a\r\rdata: b\r\r", [(0, 0), (1, 9)], id="cr-only"),
        pytest.param(BOM + b"data: a\n\n", [(0, 3)], id="bom-not-part-of-event"),
        pytest.param(b"\n\r\ndata: a\nid: 1\n\n", [(0, 3)], id="after-blank-lines"),
        pytest.param(
            b"data: a\n\nevent: x\n\ndata: b\n\n",
            [(0, 0), (1, 19)],
            id="after-block-without-data",
        ),
        pytest.param(
            b"data: " + b"x" * 40 + b"\n\ndata: b\n\n", [(0, 48)], id="after-dropped-event"
        ),
        pytest.param("data: €\n\ndata: b\n\n".encode(), [(0, 0), (1, 11)], id="bytes-not-chars"),
    ],
)
def test_event_offsets(data: bytes, offsets: list) -> None:
    assert decode_every_way(lambda: SSEDecoder(max_event_bytes=32), data, offsets_view) == offsets


def ends_view(decoder: SSEDecoder, events: list) -> list[int]:
    return [e.end for e in events]


@pytest.mark.parametrize(
    ("data", "ends"),
    [
        pytest.param(b"data: a\n\ndata: b\n\n", [9, 18], id="lf"),
        pytest.param(b"data: a\r\rdata: b\r\r", [9, 18], id="cr-only"),
        pytest.param(b"data: a\r\n\ndata: b\n\n", [10, 19], id="crlf-data-line-lf-blank-line"),
    ],
)
def test_event_ends(data: bytes, ends: list) -> None:
    assert decode_every_way(SSEDecoder, data, ends_view) == ends


# -- JSON payloads ------------------------------------------------------------------------


def json_view(decoder: SSEDecoder, events: list) -> list[tuple[str, object, bool]]:
    return [(e.data, e.payload, bool(e.json_error)) for e in events]


def decode_json(data: bytes) -> list[tuple[str, object, bool]]:
    return decode_every_way(lambda: SSEDecoder(parse_json=True), data, json_view)


@pytest.mark.parametrize(
    ("data", "payload"),
    [
        pytest.param(b'data: {"a": [1, 2]}\n\n', {"a": [1, 2]}, id="json-object"),
        pytest.param(b'data: {"a":\ndata: 1}\n\n', {"a": 1}, id="json-over-data-lines"),
        pytest.param(b"data: 42\n\n", 42, id="json-number"),
        pytest.param('data: {"t": "€😀"}\n\n'.encode(), {"t": "€😀"}, id="json-non-ascii"),
    ],
)
def test_json_payload(data: bytes, payload: object) -> None:
    [(_, got, has_error)] = decode_json(data)
    assert got == payload
    assert not has_error


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"data: [DONE]\n\n", id="json-done-sentinel"),
        pytest.param(b"data: NaN\n\n", id="json-nan-rejected"),
        pytest.param(b'data: {"a": NaN}\n\n', id="json-nan-in-object-rejected"),
        pytest.param(b"data: Infinity\n\n", id="json-infinity-rejected"),
        pytest.param(b"data: -Infinity\n\n", id="json-minus-infinity-rejected"),
        pytest.param(b"id: 1\ndata:\n\n", id="json-priming-empty-data"),
        pytest.param(b'data: {"a": 1}\ndata: {"b": 2}\n\n', id="json-two-values"),
    ],
)
def test_json_rejected(data: bytes) -> None:
    [(_, payload, has_error)] = decode_json(data)
    assert payload is NOT_JSON
    assert has_error


def test_json_not_parsed_by_default() -> None:
    [event] = decode(SSEDecoder(), [b'data: {"a": 1}\n\n'])
    assert (event.payload, event.json_error) == (None, "")


def test_json_done_sentinel_after_events() -> None:
    decoded = decode_json(b'data: {"a": 1}\n\ndata: [DONE]\n\n')
    assert [(data, has_error) for data, _, has_error in decoded] == [
        ('{"a": 1}', False),
        ("[DONE]", True),
    ]


# -- max_event_bytes ----------------------------------------------------------------------

LONG = b"x" * 40


@pytest.mark.parametrize(
    ("data", "events", "notes"),
    [
        case(
            "too-large-line-dropped-next-decoded",
            b"data: " + LONG + b"\n\ndata: ok\n\n",
            [ev("ok")],
            [(TOO_LARGE, 0)],
        ),
        case(
            "too-large-after-earlier-event",
            b"data: a\n\ndata: " + LONG + b"\n\ndata: b\n\n",
            [ev("a"), ev("b")],
            [(TOO_LARGE, 9)],
        ),
        case(
            "too-large-over-several-lines-noted-once",
            b"data: 0123456789\ndata: 0123456789\ndata: 0123456789\n\ndata: ok\n\n",
            [ev("ok")],
            [(TOO_LARGE, 0)],
        ),
        case(
            "too-large-unterminated-line",
            b"data: ok\n\ndata: " + LONG,
            [ev("ok")],
            [(TOO_LARGE, 10)],
        ),
        case(
            "within-limit-is-dispatched",
            b"data: 0123456789abcdefghijklmn\n\n",
            [ev("0123456789abcdefghijklmn")],
        ),
    ],
)
def test_max_event_bytes(data: bytes, events: list, notes: list) -> None:
    outcome = decode_sse(data, max_event_bytes=32)
    assert outcome.events == events
    assert outcome.notes == notes


@pytest.mark.parametrize("ending", [b"\n", b"\r", b"\r\n"], ids=["lf", "cr", "crlf"])
def test_max_event_bytes_counts_one_byte_per_line_break(ending: bytes) -> None:
    """A line costs its content plus one byte, whatever the line break and the chunking."""
    over = b"data: abcd" + ending + ending  # 10 + 1 bytes: over a 10-byte limit
    within = b"data: abc" + ending + ending  # 9 + 1 bytes: at the limit
    outcome = decode_sse(over + within, max_event_bytes=10)
    assert outcome.events == [ev("abc")]
    assert outcome.notes == [(TOO_LARGE, 0)]


def pending_size(decoder: SSEDecoder) -> int:
    return sum(len(piece) for piece in decoder._pending)


def test_max_event_bytes_bounds_memory_for_one_long_line() -> None:
    limit, step = 64 * 1024, 4 * 1024
    stream = b"data: " + b"x" * (200 * 1024) + b"\n\ndata: ok\n\n"
    decoder = SSEDecoder(max_event_bytes=limit)
    events = []
    for start in range(0, len(stream), step):
        events += decoder.feed(stream[start : start + step], 0.0)
        assert pending_size(decoder) <= limit + step
    assert [e.data for e in events] == ["ok"]
    assert notes_of(decoder) == [(TOO_LARGE, 0)]


def test_max_event_bytes_bounds_memory_for_many_lines() -> None:
    limit, step = 64 * 1024, 4 * 1024
    line = b"data: " + b"x" * 93 + b"\n"
    stream = line * 2048 + b"\ndata: ok\n\n"
    decoder = SSEDecoder(max_event_bytes=limit)
    events = []
    for start in range(0, len(stream), step):
        events += decoder.feed(stream[start : start + step], 0.0)
        assert pending_size(decoder) <= limit + step
        assert sum(len(d) for d in decoder._data) <= limit
    assert [e.data for e in events] == ["ok"]
    assert notes_of(decoder) == [(TOO_LARGE, 0)]


def test_max_event_bytes_in_one_byte_chunks() -> None:
    stream = b"data: " + b"x" * 1000 + b"\n\ndata: ok\n\n"
    decoder = SSEDecoder(max_event_bytes=64)
    events = decode(decoder, [stream[i : i + 1] for i in range(len(stream))])
    assert [e.data for e in events] == ["ok"]
    assert notes_of(decoder) == [(TOO_LARGE, 0)]
