"""TextDecoder: UTF-8 text with no framing; characters split across chunks are held over."""

from __future__ import annotations

import pytest
from decoder_cases import decode_every_way, notes_of

from streamconform.decode import TextDecoder

UTF8 = "encoding.utf8.invalid"


def text_view(decoder: TextDecoder, events: list) -> tuple[str, list, bool]:
    """(the text, the notes, whether the events tile the bytes with no gap or overlap)."""
    ends = [0] + [e.end for e in events]
    tiled = all(e.offset == end for e, end in zip(events, ends, strict=False))
    in_order = [e.index for e in events] == list(range(len(events)))
    return "".join(e.data for e in events), notes_of(decoder), tiled and in_order


def decode_text(data: bytes) -> tuple[str, list, bool]:
    return decode_every_way(TextDecoder, data, text_view)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("plain ascii", id="ascii"),
        pytest.param("déjà vu", id="two-byte-characters"),
        pytest.param("price: 5 €, 10 €", id="three-byte-characters"),
        pytest.param("😀🎉 done", id="four-byte-characters"),
        pytest.param("aé€😀" * 3, id="mixed-widths-back-to-back"),
        pytest.param("\ufeffbom at start", id="bom-is-text"),
        pytest.param("line one\r\nline two\n", id="line-ends-are-text"),
        pytest.param('data: {"a": 1}\n\n', id="sse-framing-is-text"),
        pytest.param('{"a": 1}\n', id="json-line-is-text"),
    ],
)
def test_valid_text_is_the_same_whatever_the_chunks(text: str) -> None:
    assert decode_text(text.encode()) == (text, [], True)


@pytest.mark.parametrize(
    ("data", "text", "offsets"),
    [
        pytest.param(b"ab\xffcd", "ab\ufffdcd", [2], id="invalid-byte"),
        pytest.param(b"ab\x80cd", "ab\ufffdcd", [2], id="stray-continuation-byte"),
        pytest.param(
            "€ ok ".encode() + b"\xc0\xaf", "€ ok \ufffd\ufffd", [7, 8], id="overlong-form"
        ),
        pytest.param(b"\xed\xa0\x80!", "\ufffd\ufffd\ufffd!", [0, 1, 2], id="surrogate-code-point"),
        pytest.param(b"ok\xe2\x82", "ok\ufffd", [2], id="truncated-three-byte-at-close"),
        pytest.param(b"ok\xf0\x9f\x98", "ok\ufffd", [2], id="truncated-four-byte-at-close"),
        pytest.param(b"\xc3", "\ufffd", [0], id="truncated-only-byte-at-close"),
        pytest.param(b"ab\xe2\x82cd", "ab\ufffdcd", [2], id="truncated-three-byte-mid-stream"),
    ],
)
def test_invalid_utf8_is_noted(data: bytes, text: str, offsets: list[int]) -> None:
    """Every invalid run is noted (one per U+FFFD a browser would show)."""
    assert decode_text(data) == (text, [(UTF8, o) for o in offsets], True)


def test_two_invalid_bytes_noted_the_same_whatever_the_chunks() -> None:
    got, notes, _ = decode_text(b"a\xffb\xffc")
    assert got == "a\ufffdb\ufffdc"
    assert notes[0] == (UTF8, 1)


def test_each_chunk_is_an_event_when_it_arrives() -> None:
    decoder = TextDecoder()
    first = decoder.feed(b"Hello, ", 1.0)
    second = decoder.feed(b"world", 2.0)
    assert [(e.data, e.offset, e.end, e.time) for e in first + second] == [
        ("Hello, ", 0, 7, 1.0),
        ("world", 7, 12, 2.0),
    ]


def test_split_character_is_held_until_complete() -> None:
    decoder = TextDecoder()
    euro = "€".encode()
    assert [e.data for e in decoder.feed(b"a" + euro[:1], 1.0)] == ["a"]
    assert decoder.feed(euro[1:2], 2.0) == []
    [event] = decoder.feed(euro[2:] + b"b", 3.0)
    assert (event.data, event.offset, event.end, event.time) == ("€b", 1, 5, 3.0)
    assert decoder.log.notes == []


def test_clean_close_is_not_noted() -> None:
    decoder = TextDecoder()
    assert [e.data for e in decoder.feed(b"complete text", 1.0)] == ["complete text"]
    assert decoder.close(2.0) == []
    assert decoder.log.notes == []


def test_truncated_character_at_close_is_an_event_and_a_note() -> None:
    decoder = TextDecoder()
    assert [e.data for e in decoder.feed(b"ok\xf0\x9f", 1.0)] == ["ok"]
    [event] = decoder.close(2.0)
    assert (event.data, event.offset, event.end) == ("\ufffd", 2, 4)
    assert notes_of(decoder) == [(UTF8, 2)]
