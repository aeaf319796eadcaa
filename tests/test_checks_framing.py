"""The framing checks, run on transcripts recorded from chosen bytes and arrival times.

Every transcript goes through the Recorder, so the bytes are decoded exactly as in a live
capture. SSE, NDJSON and text bodies are judged under every chunking (whole, one byte per
chunk, split in two at every offset): a verdict that depends on where the network cut the
body would be a decoder bug, not a property of the target.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import pytest
from evidence_builders import recorded, untestable
from one_endpoint import spec_of

import streamconform.checks  # noqa: F401  (registers every check)
from streamconform.capture.recorder import Limits, Recorder
from streamconform.checks.registry import REGISTRY, Check, Finding, Untestable, not_applicable
from streamconform.core.outcome import Outcome, Result
from streamconform.core.redact import Redactor
from streamconform.core.transcript import End, Transcript
from streamconform.engine.verdict import judge
from streamconform.model.spec import (
    Endpoint,
    EventsSpec,
    EventType,
    Framing,
    Level,
    Requirement,
)

BOM = b"\xef\xbb\xbf"

# -- Building transcripts ------------------------------------------------------------------


def sse_endpoint(*, data_json: bool = True, non_json_data: tuple[str, ...] = ()) -> Endpoint:
    events = EventsSpec(
        type_from="json-field",
        types={"delta": EventType("delta", {"type": "object"})},
        data_json=data_json,
        non_json_data=non_json_data,
    )
    return Endpoint(
        name="ep",
        method="GET",
        path="/x",
        framing=Framing.SSE,
        content_types=("text/event-stream",),
        events=events,
    )


SSE = sse_endpoint()
SSE_SENTINELS = sse_endpoint(non_json_data=("", "[DONE]"))
SSE_PLAIN_DATA = sse_endpoint(data_json=False)
NDJSON = Endpoint(
    name="ep",
    method="POST",
    path="/x",
    framing=Framing.NDJSON,
    content_types=("application/x-ndjson",),
)
TEXT = Endpoint(
    name="ep", method="POST", path="/x", framing=Framing.TEXT, content_types=("text/plain",)
)
HEADERS = {
    Framing.SSE: [("content-type", "text/event-stream"), ("cache-control", "no-cache")],
    Framing.NDJSON: [("content-type", "application/x-ndjson"), ("cache-control", "no-cache")],
    Framing.TEXT: [("content-type", "text/plain; charset=utf-8"), ("cache-control", "no-cache")],
}


def record(
    ep: Endpoint,
    chunks: Sequence[tuple[bytes, float]],
    *,
    status: int = 200,
    headers: Sequence[tuple[str, str]] | None = None,
    end: End = End.CLOSED,
    detail: str = "",
    limits: Limits | None = None,
    head_at: float = 0.01,
) -> Transcript:
    """A transcript of `chunks` (bytes, arrival time), ended by the server closing or `end`.

    An error status has its body kept as a plain response, as the live capture does.
    """
    rec = Recorder("spec", ep, limits=limits)
    rec.response(status, HEADERS[ep.framing] if headers is None else headers, time=head_at)
    last = head_at
    for data, time in chunks:
        last = time
        if not 200 <= status < 300:
            rec.error_chunk(data, time)
        elif not rec.chunk(data, time):
            return rec.transcript(time)  # the body limit ended the capture
    if end is End.CLOSED:
        rec.closed(last)
    else:
        rec.finish(end, detail)
    return rec.transcript(last)


def no_response(ep: Endpoint, end: End, detail: str) -> Transcript:
    rec = Recorder("spec", ep)
    rec.finish(end, detail)
    return rec.transcript(1.0)


Locations = dict[str, list[tuple[int | None, int | None]]]


FRAMING = {check_id: chk for check_id, chk in REGISTRY.items() if chk.suite == "framing"}


def findings_by_check(t: Transcript, ep: Endpoint) -> Locations:
    """(offset, event index) of every finding of every framing check that applies."""
    found: Locations = {}
    for chk in FRAMING.values():
        if not_applicable(chk, ep):
            continue
        try:
            findings = chk.run(t, ep)
        except Untestable:
            continue
        if findings:
            found[chk.id] = [(f.offset, f.event_index) for f in findings]
    if ep.framing is Framing.TEXT:  # a text event is whatever one read returned
        found = {k: [(offset, None) for offset, _ in v] for k, v in found.items()}
    return found


def chunkings(body: bytes) -> Iterator[tuple[str, list[bytes]]]:
    yield "whole", [body]
    yield "one byte per chunk", [body[i : i + 1] for i in range(len(body))]
    for i in range(1, len(body)):
        yield f"split at byte {i}", [body[:i], body[i:]]


def findings_every_way(ep: Endpoint, body: bytes, *, limits: Limits | None = None) -> Locations:
    """The findings on `body`, required to be the same however the body is chunked.

    Every chunk arrives at the same moment, so only the bytes can change the verdict.
    """
    first_label, first = "", None
    for label, pieces in chunkings(body):
        t = record(ep, [(piece, 0.1) for piece in pieces], limits=limits)
        got = findings_by_check(t, ep)
        if first is None:
            first_label, first = label, got
        assert set(got) == set(first), (
            f"chunking changes which checks fail on {body!r}\n"
            f"  {first_label}: {sorted(first)}\n  {label}: {sorted(got)}"
        )
        assert got == first, (
            f"chunking moves the findings on {body!r}\n  {first_label}: {first}\n  {label}: {got}"
        )
    assert first is not None
    return first


def case(rule: str, what: str, *values: object, fails: bool) -> pytest.ParameterSet:
    """A table row, named after the rule it is built to break (or to pass)."""
    return pytest.param(*values, id=f"{rule}:{'fails' if fails else 'passes'}:{what}")


def stream(
    rule: str,
    what: str,
    body: bytes,
    expected: Locations | None = None,
    ep: Endpoint = SSE,
    limits: Limits | None = None,
) -> pytest.ParameterSet:
    """A body and every finding it must give: `expected` None means a fully clean stream."""
    expected = expected or {}
    return case(rule, what, ep, body, expected, limits, fails=rule in expected)


def event(payload: bytes = b"{}") -> bytes:
    return b"data: " + payload + b"\n\n"


# -- SSE ------------------------------------------------------------------------------------

UTF8 = "encoding.utf8.valid"
BOUNDS = "stream.bounds.respected"

SSE_CASES = [
    # encoding.utf8.valid
    stream(
        UTF8,
        "invalid-byte-in-second-event",
        event(b'{"a":1}') + event(b'{"s":"\xff"}'),
        {UTF8: [(27, 1)]},
    ),
    stream(UTF8, "lone-continuation-byte", event(b'{"s":"\x80"}'), {UTF8: [(12, 0)]}),
    stream(UTF8, "latin-1-text", event(b'{"s":"caf\xe9"}'), {UTF8: [(15, 0)]}),
    stream(UTF8, "multibyte-characters", event('{"s":"naïve € 😀"}'.encode())),
    stream(UTF8, "multibyte-characters-crlf", 'data: {"s":"€😀"}\r\n\r\n'.encode()),
    # stream.bounds.respected (size of one event)
    stream(
        BOUNDS,
        "event-over-the-size-limit",
        event(b'{"s":"' + b"x" * 100 + b'"}'),
        {BOUNDS: [(0, 0)]},
        limits=Limits(max_event_bytes=64),
    ),
    stream(
        BOUNDS,
        "multi-line-event-over-the-size-limit-after-a-small-one",
        event() + b'data: {"s":\ndata: "' + b"x" * 40 + b'",\ndata: "t": 1}\n\n' + event(),
        {BOUNDS: [(10, 1)]},
        limits=Limits(max_event_bytes=64),
    ),
    stream(
        BOUNDS,
        "events-at-the-size-limit",
        event(b'{"s":"' + b"x" * 49 + b'"}') + b": " + b"y" * 61 + b"\n\n",
        limits=Limits(max_event_bytes=64),
    ),
    # sse.bom.leading-only
    stream(
        "sse.bom.leading-only",
        "second-bom-at-the-start",
        BOM + BOM + event(),
        {"sse.bom.leading-only": [(3, 0)]},
    ),
    stream(
        "sse.bom.leading-only",
        "bom-before-a-later-event",
        event() + BOM + event(),
        {"sse.bom.leading-only": [(10, 1)]},
    ),
    stream(
        "sse.bom.leading-only",
        "bom-after-a-leading-blank-line",
        b"\n" + BOM + event(),
        {"sse.bom.leading-only": [(1, 0)]},
    ),
    stream("sse.bom.leading-only", "one-leading-bom", BOM + event() + event()),
    stream("sse.bom.leading-only", "one-leading-bom-crlf", BOM + b"data: {}\r\n\r\n"),
    stream("sse.bom.leading-only", "bom-inside-a-value", event(b'{"s":"a' + BOM + b'b"}')),
    # sse.event.terminated
    stream(
        "sse.event.terminated",
        "last-event-without-blank-line",
        event() + b"data: {}\n",
        {"sse.event.terminated": [(10, 1)]},
    ),
    stream(
        "sse.event.terminated",
        "stream-ends-mid-line",
        event() + b'data: {"a"',
        {"sse.event.terminated": [(10, 1)]},
    ),
    stream(
        "sse.event.terminated",
        "id-without-blank-line",
        event() + b"id: 7\n",
        {"sse.event.terminated": [(10, 1)]},
    ),
    stream(
        "sse.event.terminated",
        "crlf-stream-missing-the-last-blank-line",
        b"data: {}\r\n\r\ndata: {}\r\n",
        {"sse.event.terminated": [(12, 1)]},
    ),
    stream(
        "sse.event.terminated",
        "cr-only-stream-missing-the-last-blank-line",
        b"data: {}\r\rdata: {}\r",
        {"sse.event.terminated": [(10, 1)]},
    ),
    stream("sse.event.terminated", "crlf-endings", b"data: {}\r\n\r\nid: 2\r\ndata: {}\r\n\r\n"),
    stream("sse.event.terminated", "cr-only-endings", b"data: {}\r\rid: 2\rdata: {}\r\r"),
    stream(
        "sse.event.terminated",
        "mixed-endings",
        b'data: {"a":\r\ndata: 1}\rid: 2\n\r\ndata: {}\n\r',
    ),
    stream("sse.event.terminated", "trailing-comment-without-newline", event() + b": bye"),
    stream("sse.event.terminated", "trailing-retry-without-blank-line", event() + b"retry: 5\n"),
    stream(
        "sse.event.terminated",
        "heartbeats-and-comments-between-events",
        b": open\n\n" + event() + b"\n\n: ping\n\n:\n\n" + event() + b": ping\n\n",
    ),
    # sse.field.name-exact
    stream(
        "sse.field.name-exact",
        "capitalised-data",
        b"Data: {}\n\n",
        {"sse.field.name-exact": [(0, 0)]},
    ),
    stream(
        "sse.field.name-exact",
        "space-before-the-name",
        b" data: {}\n\n",
        {"sse.field.name-exact": [(0, 0)]},
    ),
    stream(
        "sse.field.name-exact",
        "space-before-the-colon",
        b"data : {}\n\n",
        {"sse.field.name-exact": [(0, 0)]},
    ),
    stream(
        "sse.field.name-exact",
        "nul-in-the-name",
        b"data\0: {}\n\n",
        {"sse.field.name-exact": [(0, 0)]},
    ),
    stream(
        "sse.field.name-exact",
        "capitalised-event-in-second-event",
        event() + b"Event: delta\ndata: {}\n\n",
        {"sse.field.name-exact": [(10, 1)]},
    ),
    stream(
        "sse.field.name-exact",
        "upper-case-retry-crlf",
        b"RETRY: 1000\r\n\r\n" + event(),
        {"sse.field.name-exact": [(0, 0)]},
    ),
    stream(
        "sse.field.name-exact", "no-space-after-the-colon", b"data:{}\n\nevent:delta\ndata:{}\n\n"
    ),
    stream("sse.field.name-exact", "value-with-leading-spaces", b"data:   {}\n\n"),
    stream(
        "sse.field.name-exact",
        "field-name-without-colon",
        b"data\n\n" + event(),
        ep=SSE_SENTINELS,
    ),
    # sse.field.known
    stream(
        "sse.field.known",
        "unknown-field",
        b"type: delta\ndata: {}\n\n",
        {"sse.field.known": [(0, 0)]},
    ),
    stream(
        "sse.field.known",
        "raw-json-line-instead-of-data",
        event() + b'{"a": 1}\n\n',
        {"sse.field.known": [(10, 1)]},
    ),
    stream(
        "sse.field.known",
        "comments-heartbeats-and-all-four-fields",
        b": welcome\n\nretry: 2000\nid: 1\nevent: delta\ndata: {}\n\n: keep-alive\n\n",
    ),
    # sse.retry.digits-only
    stream(
        "sse.retry.digits-only",
        "unit-suffix",
        b"retry: 1000ms\n\n",
        {"sse.retry.digits-only": [(0, 0)]},
    ),
    stream(
        "sse.retry.digits-only", "negative", b"retry: -5\n\n", {"sse.retry.digits-only": [(0, 0)]}
    ),
    stream(
        "sse.retry.digits-only",
        "digit-separator",
        b"retry: 1_000\n\n",
        {"sse.retry.digits-only": [(0, 0)]},
    ),
    stream(
        "sse.retry.digits-only", "empty-value", b"retry:\n\n", {"sse.retry.digits-only": [(0, 0)]}
    ),
    stream(
        "sse.retry.digits-only",
        "fullwidth-digits",
        "retry: ３０００\n\n".encode(),
        {"sse.retry.digits-only": [(0, 0)]},
    ),
    stream(
        "sse.retry.digits-only",
        "two-spaces-after-the-colon",
        b"retry:  1000\n\n",
        {"sse.retry.digits-only": [(0, 0)]},
    ),
    stream(
        "sse.retry.digits-only",
        "fraction-in-second-event",
        event() + b"retry: 1.5\ndata: {}\n\n",
        {"sse.retry.digits-only": [(10, 1)]},
    ),
    stream("sse.retry.digits-only", "retry-only-block", b"retry: 3000\n\n" + event()),
    stream("sse.retry.digits-only", "retry-zero-without-space", b"retry:0\r\n\r\n" + event()),
    stream("sse.retry.digits-only", "retry-inside-an-event", b"retry: 10\ndata: {}\n\n"),
    # sse.id.no-nul
    stream(
        "sse.id.no-nul",
        "nul-in-the-id",
        b"id: a\0b\ndata: {}\n\n",
        {"sse.id.no-nul": [(0, 0)]},
    ),
    stream(
        "sse.id.no-nul",
        "nul-in-a-later-id",
        b"id: 1\ndata: {}\n\nid: 2\0\ndata: {}\n\n",
        {"sse.id.no-nul": [(16, 1)]},
    ),
    stream("sse.id.no-nul", "id-only-block", b"id: 1\n\n" + event()),
    stream("sse.id.no-nul", "empty-id-resets", b"id: 1\ndata: {}\n\nid:\ndata: {}\n\n"),
    stream("sse.id.no-nul", "unicode-id", "id: ü-€-😀\ndata: {}\n\n".encode()),
    # sse.data.json
    stream("sse.data.json", "truncated-object", event(b'{"a":1'), {"sse.data.json": [(0, 0)]}),
    stream("sse.data.json", "trailing-garbage", event(b'{"a":1} x'), {"sse.data.json": [(0, 0)]}),
    stream("sse.data.json", "nan", event(b'{"a":NaN}'), {"sse.data.json": [(0, 0)]}),
    stream(
        "sse.data.json",
        "undeclared-done-sentinel",
        event() + event(b"[DONE]"),
        {"sse.data.json": [(10, 1)]},
    ),
    stream(
        "sse.data.json",
        "undeclared-priming-event",
        b"id: 1\ndata:\n\n" + event(),
        {"sse.data.json": [(0, 0)]},
    ),
    stream(
        "sse.data.json",
        "multi-line-data-that-is-not-json-joined",
        b'data: {"a":\ndata: }\n\n',
        {"sse.data.json": [(0, 0)]},
    ),
    stream(
        "sse.data.json",
        "declared-priming-event",
        b"id: 1\ndata:\n\n" + event(),
        ep=SSE_SENTINELS,
    ),
    stream(
        "sse.data.json",
        "declared-done-sentinel",
        event() + event(b"[DONE]"),
        ep=SSE_SENTINELS,
    ),
    stream("sse.data.json", "multi-line-data", b'data: {"a":\ndata: 1,\r\ndata: "b": 2}\r\r'),
    stream(
        "sse.data.json",
        "extra-unknown-fields",
        event(b'{"type":"delta","text":"hi","x-vendor":{"n":[1,2,null]}}'),
    ),
    stream("sse.data.json", "scalar-values", event(b"42") + event(b'"text"') + event(b"null")),
    # sse.event.has-data
    stream(
        "sse.event.has-data",
        "typed-block-without-data",
        b"event: ping\n\n" + event(),
        {"sse.event.has-data": [(0, 0)]},
    ),
    stream(
        "sse.event.has-data",
        "typed-block-with-only-an-id",
        event() + b"event: done\nid: 9\n\n",
        {"sse.event.has-data": [(10, 1)]},
    ),
    stream("sse.event.has-data", "id-only-block", event() + b"id: 9\n\n"),
    stream("sse.event.has-data", "retry-only-block", b"retry: 100\n\n" + event()),
    stream("sse.event.has-data", "comment-only-block", b": hello\n: there\n\n" + event()),
    stream(
        "sse.event.has-data",
        "typed-block-with-empty-data",
        b"event: ping\ndata:\n\n",
        ep=SSE_SENTINELS,
    ),
    stream(
        "sse.event.has-data",
        "everything-unusual-at-once",
        BOM
        + b": welcome\r\nretry: 2000\r\n\r\nid: 1\r\nevent: delta\r\n"
        + b'data: {"type":"delta",\ndata: "text":"h\xc3\xa9"}\r\n\r\n'
        + b": ping\n\nid: 2\rdata:\r\r"
        + b"data: [DONE]\n\n",
        ep=SSE_SENTINELS,
    ),
]


@pytest.mark.parametrize(("ep", "body", "expected", "limits"), SSE_CASES)
def test_sse_stream(ep: Endpoint, body: bytes, expected: Locations, limits: Limits | None) -> None:
    assert findings_every_way(ep, body, limits=limits) == expected


# -- NDJSON ---------------------------------------------------------------------------------

JSON_OBJECT = "ndjson.line.json-object"
TERMINATED = "ndjson.line.terminated"
NO_BLANK = "ndjson.line.no-blank"
NO_CR = "ndjson.line.no-cr"


def ndjson(
    rule: str,
    what: str,
    body: bytes,
    expected: Locations | None = None,
    limits: Limits | None = None,
) -> pytest.ParameterSet:
    return stream(rule, what, body, expected, NDJSON, limits)


NDJSON_CASES = [
    # encoding.utf8.valid
    ndjson(UTF8, "invalid-byte", b'{"a":1}\n{"s":"\xff"}\n', {UTF8: [(14, 1)]}),
    ndjson(UTF8, "multibyte-characters", '{"s":"naïve € 😀"}\n'.encode()),
    # stream.bounds.respected
    ndjson(
        BOUNDS,
        "line-over-the-size-limit",
        b'{"a":1}\n{"s":"' + b"x" * 100 + b'"}\n{"b":2}\n',
        {BOUNDS: [(8, 1)]},
        limits=Limits(max_event_bytes=64),
    ),
    ndjson(
        BOUNDS,
        "line-just-at-the-size-limit",
        b'{"s":"' + b"x" * 56 + b'"}\n',
        limits=Limits(max_event_bytes=64),
    ),
    # ndjson.line.json-object
    ndjson(JSON_OBJECT, "array-line", b'{"a":1}\n[1,2]\n', {JSON_OBJECT: [(8, 1)]}),
    ndjson(JSON_OBJECT, "string-line", b'"hello"\n', {JSON_OBJECT: [(0, 0)]}),
    ndjson(
        JSON_OBJECT,
        "pretty-printed-object",
        b'{\n  "a": 1\n}\n',
        {JSON_OBJECT: [(0, 0), (2, 0), (11, 0)]},
    ),
    ndjson(JSON_OBJECT, "two-objects-on-one-line", b'{"a":1}{"b":2}\n', {JSON_OBJECT: [(0, 0)]}),
    ndjson(JSON_OBJECT, "nan-value", b'{"a":NaN}\n', {JSON_OBJECT: [(0, 0)]}),
    ndjson(JSON_OBJECT, "leading-bom", BOM + b'{"a":1}\n', {JSON_OBJECT: [(0, 0)]}),
    ndjson(
        JSON_OBJECT,
        "sse-framing",
        b'data: {"a":1}\n',
        {JSON_OBJECT: [(0, 0)]},
    ),
    ndjson(JSON_OBJECT, "whitespace-around-the-object", b'  {"a": 1}\t\n{ "b" : [ ] }\n'),
    ndjson(
        JSON_OBJECT,
        "escaped-line-breaks-in-strings",
        '{"s":"one\\ntwo\\r\\n","ls":"\u2028"}\n'.encode(),
    ),
    ndjson(
        JSON_OBJECT,
        "extra-unknown-fields",
        b'{"type":"delta","text":"hi","x-vendor":{"n":[1,2,null]}}\n{}\n',
    ),
    # ndjson.line.terminated
    ndjson(TERMINATED, "last-line-without-lf", b'{"a":1}\n{"b":2}', {TERMINATED: [(8, 1)]}),
    ndjson(TERMINATED, "only-line-without-lf", b'{"a":1}', {TERMINATED: [(0, 0)]}),
    ndjson(TERMINATED, "cr-only-endings", b'{"a":1}\r{"b":2}\r', {TERMINATED: [(0, 0)]}),
    ndjson(TERMINATED, "every-line-ends-with-lf", b'{"a":1}\n{"b":2}\n{"c":3}\n'),
    # ndjson.line.no-blank
    ndjson(NO_BLANK, "blank-line-between-objects", b'{"a":1}\n\n{"b":2}\n', {NO_BLANK: [(8, 1)]}),
    ndjson(NO_BLANK, "leading-blank-line", b'\n{"a":1}\n', {NO_BLANK: [(0, 0)]}),
    ndjson(
        NO_BLANK,
        "whitespace-only-line",
        b'{"a":1}\n  \t\n{"b":2}\n',
        {NO_BLANK: [(8, 1)]},
    ),
    ndjson(
        NO_BLANK,
        "blank-crlf-line",
        b'{"a":1}\n\r\n{"b":2}\n',
        {NO_CR: [(8, 1)], NO_BLANK: [(8, 1)]},
    ),
    ndjson(NO_BLANK, "whitespace-inside-objects-only", b'{ "a" : 1 }\n{\t"b":\t2 }\n'),
    # ndjson.line.no-cr
    ndjson(
        NO_CR,
        "crlf-endings",
        b'{"a":1}\r\n{"b":2}\r\n',
        {NO_CR: [(7, 0), (16, 1)]},
    ),
    ndjson(NO_CR, "escaped-cr-in-a-string", b'{"s":"a\\r"}\n{"s":"\\r\\n"}\n'),
]


@pytest.mark.parametrize(("ep", "body", "expected", "limits"), NDJSON_CASES)
def test_ndjson_stream(
    ep: Endpoint, body: bytes, expected: Locations, limits: Limits | None
) -> None:
    assert findings_every_way(ep, body, limits=limits) == expected


# -- Text -----------------------------------------------------------------------------------

NO_FRAMING = "text.framing.none"


def text(rule: str, what: str, body: bytes, expected: Locations | None = None):
    return stream(rule, what, body, expected, TEXT)


TEXT_CASES = [
    text(UTF8, "latin-1-text", b"caf\xe9 au lait", {UTF8: [(3, None)]}),
    text(UTF8, "multibyte-characters", "Naïve café, 5 €, 😀.\n".encode()),
    text(NO_FRAMING, "sse-framed", b"data: Hello\n\ndata: world\n\n", {NO_FRAMING: [(0, None)]}),
    text(
        NO_FRAMING,
        "ndjson-lines",
        b'{"type":"text","text":"Hel"}\n{"type":"text","text":"lo"}\n',
        {NO_FRAMING: [(0, None)]},
    ),
    text(
        NO_FRAMING,
        "ai-sdk-data-stream-parts",
        b'0:"Hello"\n0:" world"\nd:{"finishReason":"stop"}\n',
        {NO_FRAMING: [(0, None)]},
    ),
    text(
        NO_FRAMING,
        "sse-framing-after-a-preamble",
        b"Thinking...\ndata: a\ndata: b\ndata: c\n",
        {NO_FRAMING: [(12, None)]},
    ),
    text(
        NO_FRAMING,
        "data-mentioned-mid-line",
        b'Send the payload as data: {"a": 1} in the body.\nThe id: field is optional.\n',
    ),
    text(
        NO_FRAMING,
        "json-line-in-the-middle-of-prose",
        b'Here is the config you asked for:\n{"retries": 3}\nSave it and restart the app.\n',
    ),
    text(
        NO_FRAMING,
        "capitalised-field-words",
        b"Event: the launch is at noon.\r\nData: see the appendix.\r\n",
    ),
    text(NO_FRAMING, "prose-without-newlines", "Hello — wörld! 😀".encode()),
    text(NO_FRAMING, "one-json-object-as-the-answer", b'{"title": "Photosynthesis", "words": 120}'),
    text(
        NO_FRAMING,
        "two-json-examples-in-four-lines-of-prose",
        b'Two shapes work:\n{"a": 1}\n{"b": 2}\nPick either one.\n',
    ),
]


@pytest.mark.parametrize(("ep", "body", "expected", "limits"), TEXT_CASES)
def test_text_stream(ep: Endpoint, body: bytes, expected: Locations, limits: Limits | None) -> None:
    assert findings_every_way(ep, body, limits=limits) == expected


# -- Response head --------------------------------------------------------------------------

CONTENT_TYPE = "http.content-type.framing"
CACHE = "http.cache-control.no-cache"
LENGTH = "http.content-length.absent"
ENCODING = "http.content-encoding.identity"
BODIES = {
    Framing.SSE: event(),
    Framing.NDJSON: b'{"a":1}\n',
    Framing.TEXT: b"Hello.\n",
}
ENDPOINTS = {Framing.SSE: SSE, Framing.NDJSON: NDJSON, Framing.TEXT: TEXT}


def head(
    rule: str, what: str, headers: list[tuple[str, str]], framing: Framing = Framing.SSE, *, fails
):
    return case(rule, what, rule, ENDPOINTS[framing], headers, fails, fails=fails)


SSE_TYPE = ("content-type", "text/event-stream")
NO_CACHE = ("cache-control", "no-cache")

HEAD_CASES = [
    # http.content-type.framing
    head(CONTENT_TYPE, "sse-served-as-json", [("content-type", "application/json")], fails=True),
    head(CONTENT_TYPE, "no-content-type", [NO_CACHE], fails=True),
    head(CONTENT_TYPE, "sse-served-as-text-plain", [("content-type", "text/plain")], fails=True),
    head(
        CONTENT_TYPE,
        "ndjson-served-as-event-stream",
        [SSE_TYPE],
        Framing.NDJSON,
        fails=True,
    ),
    head(
        CONTENT_TYPE,
        "ndjson-served-as-application-json",
        [("content-type", "application/json")],
        Framing.NDJSON,
        fails=True,
    ),
    head(CONTENT_TYPE, "text-served-as-event-stream", [SSE_TYPE], Framing.TEXT, fails=True),
    head(
        CONTENT_TYPE,
        "sse-with-charset-parameter",
        [("content-type", "text/event-stream; charset=utf-8")],
        fails=False,
    ),
    head(
        CONTENT_TYPE,
        "sse-upper-case-and-spaced-parameter",
        [("Content-Type", "Text/Event-Stream ;charset=UTF-8")],
        fails=False,
    ),
    head(
        CONTENT_TYPE,
        "ndjson",
        [("content-type", "application/x-ndjson")],
        Framing.NDJSON,
        fails=False,
    ),
    head(
        CONTENT_TYPE,
        "text-with-charset-parameter",
        [("content-type", "text/plain; charset=utf-8")],
        Framing.TEXT,
        fails=False,
    ),
    # http.cache-control.no-cache
    head(CACHE, "no-cache-control", [SSE_TYPE], fails=True),
    head(CACHE, "max-age", [SSE_TYPE, ("cache-control", "max-age=60")], fails=True),
    head(CACHE, "private-only", [SSE_TYPE, ("cache-control", "private")], fails=True),
    head(CACHE, "no-transform-only", [SSE_TYPE, ("cache-control", "no-transform")], fails=True),
    head(
        CACHE,
        "no-cache-qualified-by-field-names",
        [SSE_TYPE, ("cache-control", 'no-cache="Set-Cookie"')],
        fails=True,
    ),
    head(CACHE, "no-cache", [SSE_TYPE, NO_CACHE], fails=False),
    head(
        CACHE,
        "no-store-and-no-cache",
        [SSE_TYPE, ("cache-control", "no-store, no-cache")],
        fails=False,
    ),
    head(
        CACHE, "no-cache-in-a-list", [SSE_TYPE, ("cache-control", "private,no-cache")], fails=False
    ),
    head(CACHE, "no-store-alone", [SSE_TYPE, ("cache-control", "no-store")], fails=False),
    head(CACHE, "upper-case-directive", [SSE_TYPE, ("Cache-Control", "No-Cache")], fails=False),
    head(
        CACHE,
        "no-cache-in-a-repeated-header",
        [SSE_TYPE, ("cache-control", "private"), ("cache-control", "no-cache")],
        fails=False,
    ),
    # http.content-length.absent
    head(LENGTH, "content-length", [SSE_TYPE, NO_CACHE, ("content-length", "10")], fails=True),
    head(LENGTH, "content-length-zero", [SSE_TYPE, NO_CACHE, ("Content-Length", "0")], fails=True),
    head(
        LENGTH,
        "chunked-without-content-length",
        [SSE_TYPE, NO_CACHE, ("transfer-encoding", "chunked")],
        fails=False,
    ),
    # http.content-encoding.identity
    head(ENCODING, "gzip", [SSE_TYPE, NO_CACHE, ("content-encoding", "gzip")], fails=True),
    head(ENCODING, "brotli", [SSE_TYPE, NO_CACHE, ("Content-Encoding", "br")], fails=True),
    head(ENCODING, "identity", [SSE_TYPE, NO_CACHE, ("content-encoding", "identity")], fails=False),
    head(
        ENCODING,
        "identity-capitalised",
        [SSE_TYPE, NO_CACHE, ("content-encoding", " Identity")],
        fails=False,
    ),
    head(ENCODING, "no-content-encoding", [SSE_TYPE, NO_CACHE], fails=False),
]


@pytest.mark.parametrize(("rule", "ep", "headers", "fails"), HEAD_CASES)
def test_response_head(
    rule: str, ep: Endpoint, headers: list[tuple[str, str]], fails: bool
) -> None:
    t = record(ep, [(BODIES[ep.framing], 0.1)], headers=headers)
    findings = REGISTRY[rule].run(t, ep)
    assert bool(findings) is fails, findings


# -- Delivery over time ---------------------------------------------------------------------

INCREMENTAL = "stream.delivery.incremental"


def timed(what: str, times: list[float], expected: tuple[int, int] | None, ep: Endpoint = SSE):
    return case(INCREMENTAL, what, ep, times, expected, fails=expected is not None)


def numbered(ep: Endpoint, n: int) -> bytes:
    if ep.framing is Framing.NDJSON:
        return b'{"n":%d}\n' % n
    return event(b'{"n":%d}' % n)


DELIVERY_CASES = [
    timed("buffered-until-the-end", [1.0 + i * 0.001 for i in range(10)], (0, 0)),
    timed("buffered-ndjson", [1.0 + i * 0.001 for i in range(10)], (0, 0), NDJSON),
    timed(
        "first-event-early-then-everything-buffered",
        [0.05] + [2.0 + i * 0.002 for i in range(9)],
        (len(numbered(SSE, 0)), 1),
    ),
    timed("two-events-held-together", [1.0, 1.0], (0, 0)),
    timed(
        "spread-every-50-to-100-ms",
        [0.1, 0.16, 0.25, 0.31, 0.4, 0.5, 0.57, 0.66, 0.75, 0.85],
        None,
    ),
    timed("very-fast-stream", [0.02 + i * 0.003 for i in range(10)], None),
    timed("slow-first-token-then-steady", [1.5 + i * 0.08 for i in range(10)], None),
    timed("two-events-far-apart", [0.05, 1.0], None),
    timed("spread-ndjson", [0.1 + i * 0.07 for i in range(10)], None, NDJSON),
]


@pytest.mark.parametrize(("ep", "times", "expected"), DELIVERY_CASES)
def test_delivery_over_time(
    ep: Endpoint, times: list[float], expected: tuple[int, int] | None
) -> None:
    t = record(ep, [(numbered(ep, i), time) for i, time in enumerate(times)])
    assert len(t.events) == len(times)
    found = [(f.offset, f.event_index) for f in REGISTRY[INCREMENTAL].run(t, ep)]
    assert found == ([] if expected is None else [expected])


def test_a_late_answer_that_brings_its_backlog_at_once_is_not_buffering() -> None:
    """A run re-attached to after it ended (or a server slow to answer) sends its head and
    every event together: the silence came before the response, not inside its body."""
    times = [1.0 + i * 0.001 for i in range(10)]
    chunks = [(numbered(NDJSON, i), time) for i, time in enumerate(times)]
    assert list(REGISTRY[INCREMENTAL].run(record(NDJSON, chunks, head_at=0.999), NDJSON)) == []
    (held,) = REGISTRY[INCREMENTAL].run(record(NDJSON, chunks, head_at=0.01), NDJSON)
    assert "after 0.990 s with no event: the response was buffered" in held.actual
    # a head that declares the body's length came once the whole body was there
    sized = [*HEADERS[Framing.NDJSON], ("content-length", str(sum(len(c) for c, _ in chunks)))]
    late_and_sized = record(NDJSON, chunks, head_at=0.999, headers=sized)
    (held,) = REGISTRY[INCREMENTAL].run(late_and_sized, NDJSON)
    assert "after 1.000 s with no event: the response was buffered" in held.actual


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([(event(), 0.1)], id="one-event"),
        pytest.param(
            [(b": ping\n\n", 0.1), (event(), 2.0), (b": ping\n\n", 3.0)],
            id="one-event-and-heartbeats",
        ),
        pytest.param([(b": ping\n\n", 0.1)], id="no-event"),
    ],
)
def test_delivery_cannot_be_judged_from_fewer_than_two_events(
    chunks: list[tuple[bytes, float]],
) -> None:
    t = record(SSE, chunks)
    with pytest.raises(Untestable):
        REGISTRY[INCREMENTAL].run(t, SSE)


# -- Bounds ---------------------------------------------------------------------------------


def ending(what: str, end: End, *, fails: bool):
    return case(BOUNDS, what, end, fails, fails=fails)


BOUNDS_CASES = [
    ending("idle-timeout", End.IDLE_TIMEOUT, fails=True),
    ending("max-duration", End.MAX_DURATION, fails=True),
    ending("size-limit", End.SIZE_LIMIT, fails=True),
    ending("read-error", End.READ_ERROR, fails=True),
    ending("closed-by-the-server", End.CLOSED, fails=False),
    ending("terminal-event-of-a-long-lived-stream", End.TERMINAL, fails=False),
]


@pytest.mark.parametrize(("end", "fails"), BOUNDS_CASES)
def test_stream_ending(end: End, fails: bool) -> None:
    t = record(SSE, [(event(), 0.1), (event(), 0.2)], end=end, detail="after 3.00 s")
    found = REGISTRY[BOUNDS].run(t, SSE)
    if fails:
        assert [(f.offset, f.event_index) for f in found] == [(20, 2)]
        assert "after 3.00 s" in found[0].actual
    else:
        assert found == []


def test_body_over_the_capture_limit_is_a_bound_breach() -> None:
    t = record(SSE, [(event(), 0.1), (event(), 0.2)], limits=Limits(max_body_bytes=15))
    assert t.end is End.SIZE_LIMIT
    found = REGISTRY[BOUNDS].run(t, SSE)
    assert [(f.offset, f.event_index) for f in found] == [(10, 1)]


# -- Status ---------------------------------------------------------------------------------

STATUS = "http.status.success"
SUCCESS_201 = Endpoint(
    name="ep",
    method="POST",
    path="/x",
    framing=Framing.SSE,
    content_types=("text/event-stream",),
    success=(201,),
    events=SSE.events,
)
ERROR_BODY = b'{"error": "invalid token"}'


def unauthorised() -> Transcript:
    return record(
        SSE,
        [(ERROR_BODY, 0.05)],
        status=401,
        headers=[("content-type", "application/json")],
        end=End.NOT_A_STREAM,
        detail="status 401",
    )


def setup_failed() -> Transcript:
    return no_response(SSE, End.SETUP_FAILED, "flow login: status 500")


def response_timeout() -> Transcript:
    return no_response(SSE, End.RESPONSE_TIMEOUT, "no response headers in 30.0 s")


STATUS_CASES = [
    case(STATUS, "unauthorised", SSE, unauthorised, "invalid token", fails=True),
    case(STATUS, "setup-failed", SSE, setup_failed, "flow login: status 500", fails=True),
    case(STATUS, "no-response", SSE, response_timeout, "response-timeout", fails=True),
    case(
        STATUS,
        "undocumented-success-status",
        SSE,
        lambda: record(SSE, [(event(), 0.1)], status=202),
        "status 202",
        fails=True,
    ),
    case(STATUS, "ok", SSE, lambda: record(SSE, [(event(), 0.1)]), None, fails=False),
    case(
        STATUS,
        "documented-201",
        SUCCESS_201,
        lambda: record(SUCCESS_201, [(event(), 0.1)], status=201),
        None,
        fails=False,
    ),
]


@pytest.mark.parametrize(("ep", "make", "shown"), STATUS_CASES)
def test_status(ep: Endpoint, make, shown: str | None) -> None:
    found = REGISTRY[STATUS].run(make(), ep)
    if shown is None:
        assert found == []
    else:
        assert len(found) == 1
        assert shown in found[0].actual


# -- Grading --------------------------------------------------------------------------------


def grade(
    check_id: str | Check,
    t: Transcript,
    ep: Endpoint = SSE,
    *requirements: Requirement,
    strict: bool = False,
) -> Result:
    chk = REGISTRY[check_id] if isinstance(check_id, str) else check_id
    spec = spec_of(ep, *requirements)
    return judge(chk, spec, ep, t, target="t", strict=strict, redactor=Redactor())


def clean() -> Transcript:
    return record(SSE, [(event(), 0.1), (event(), 0.2)])


def with_content_length() -> Transcript:
    headers = [*HEADERS[Framing.SSE], ("content-length", "20")]
    return record(SSE, [(event(), 0.1), (event(), 0.2)], headers=headers)


@pytest.mark.parametrize("check_id", sorted(FRAMING))
def test_clean_stream_passes_or_skips_every_check(check_id: str) -> None:
    result = grade(check_id, clean())
    expected = Outcome.SKIP if not_applicable(REGISTRY[check_id], SSE) else Outcome.PASS
    assert result.outcome is expected, result.message


def test_should_check_with_findings_warns() -> None:
    result = grade(LENGTH, with_content_length())
    assert (result.outcome, result.level) == (Outcome.WARN, "SHOULD")


def test_should_check_with_findings_fails_when_strict() -> None:
    result = grade(LENGTH, with_content_length(), strict=True)
    assert (result.outcome, result.level) == (Outcome.FAIL, "SHOULD")


def test_must_check_with_findings_fails() -> None:
    t = record(SSE, [(b"retry: soon\n\n" + event(), 0.1)])
    result = grade("sse.retry.digits-only", t)
    assert (result.outcome, result.level) == (Outcome.FAIL, "MUST")


def test_should_check_traced_by_a_must_requirement_is_graded_must() -> None:
    traced = Requirement(id="r", quote="q", level=Level.MUST, checks=(LENGTH,))
    result = grade(LENGTH, with_content_length(), SSE, traced)
    assert (result.outcome, result.level) == (Outcome.FAIL, "MUST")
    assert '"q" [r, MUST]' in result.requirement
    assert result.message.startswith(f"{LENGTH} (MUST)")


def test_must_requirement_for_another_endpoint_does_not_raise_the_level() -> None:
    traced = Requirement(
        id="r", quote="q", level=Level.MUST, checks=(LENGTH,), endpoints=("other",)
    )
    result = grade(LENGTH, with_content_length(), SSE, traced)
    assert (result.outcome, result.level) == (Outcome.WARN, "SHOULD")


def test_data_json_is_skipped_when_the_spec_does_not_declare_json() -> None:
    t = record(SSE_PLAIN_DATA, [(event(b"plain words"), 0.1)])
    result = grade("sse.data.json", t, SSE_PLAIN_DATA)
    assert result.outcome is Outcome.SKIP


def test_fewer_than_two_events_is_untestable_not_passed() -> None:
    result = grade(INCREMENTAL, record(SSE, [(event(), 0.1)]))
    assert result.outcome is Outcome.UNTESTABLE


def test_failure_message_points_at_the_offending_bytes() -> None:
    t = record(SSE, [(b'data: {"a":1}\r\n\r\n', 0.1), (b"retry: 1x\r\n\r\n" + event(), 0.2)])
    result = grade("sse.retry.digits-only", t)
    assert result.outcome is Outcome.FAIL
    lines = result.message.splitlines()
    assert "Expected: retry: <ASCII digits>" in lines
    assert "Actual: retry value '1x'" in lines
    assert "Where: event #1, byte 17, +0.200 s" in lines
    marked = [line for line in lines if line.startswith(">")]
    assert len(marked) == 1
    assert "@17" in marked[0]
    assert marked[0].endswith("retry: 1x\\r\\n")


def test_status_failure_shows_the_error_body() -> None:
    result = grade(STATUS, unauthorised())
    assert result.outcome is Outcome.FAIL
    assert "status 401" in result.message
    assert "invalid token" in result.message


@pytest.mark.parametrize(
    "make", [unauthorised, setup_failed, response_timeout], ids=lambda f: f.__name__
)
def test_status_check_fails_a_stream_that_never_opened(make) -> None:
    assert grade(STATUS, make()).outcome is Outcome.FAIL


@pytest.mark.parametrize(
    "make", [unauthorised, setup_failed, response_timeout], ids=lambda f: f.__name__
)
@pytest.mark.parametrize(
    "check_id", sorted(c for c in REGISTRY if c != STATUS and not not_applicable(REGISTRY[c], SSE))
)
def test_other_checks_on_a_stream_that_never_opened_are_untestable(check_id: str, make) -> None:
    result = grade(check_id, make())
    assert result.outcome is Outcome.UNTESTABLE
    assert result.message.startswith("no stream to judge")


def test_check_that_raises_is_an_error_with_its_redacted_traceback() -> None:
    secret = "sk-live-0123456789abcdef"

    def choke(t: Transcript, ep: Endpoint) -> list[Finding]:
        # a crash that quotes what it choked on: a body echoing the key across the clip
        raise ValueError("x" * 980 + secret + "y" * 50_000 + secret)

    broken = dataclasses.replace(REGISTRY["sse.data.json"], func=choke)
    redactor = Redactor()
    redactor.add(secret)
    result = judge(broken, spec_of(SSE), SSE, clean(), target="t", strict=False, redactor=redactor)
    assert result.outcome is Outcome.ERROR
    lines = result.message.splitlines()
    assert lines[0].startswith("internal error: check sse.data.json raised ValueError")
    assert "Traceback (most recent call last):" in lines
    assert any(line.endswith(", in choke") for line in lines)
    assert lines[-1].startswith("ValueError: xxx") and lines[-1].endswith(" chars)")
    assert "sk-live" not in result.message
    assert len(result.message) < 3000  # the 100 KB exception is clipped, not carried


def test_an_error_is_graver_than_any_other_outcome() -> None:
    assert max(Outcome, key=lambda o: o.gravity) is Outcome.ERROR
    assert Outcome.ERROR.gravity > Outcome.FAIL.gravity > Outcome.UNTESTABLE.gravity


def test_untestable_raised_by_a_check_is_not_an_error() -> None:
    def cannot(t: Transcript, ep: Endpoint) -> list[Finding]:
        raise Untestable("one event only")

    broken = dataclasses.replace(REGISTRY["sse.data.json"], func=cannot)
    result = grade(broken, clean())
    assert (result.outcome, result.message) == (Outcome.UNTESTABLE, "one event only")


# -- Coverage of the tables -----------------------------------------------------------------

TABLES = [SSE_CASES, NDJSON_CASES, TEXT_CASES, HEAD_CASES, DELIVERY_CASES, BOUNDS_CASES]


def test_every_framing_check_has_a_breaking_and_a_passing_case() -> None:
    rows = [p.id.split(":")[:2] for table in [*TABLES, STATUS_CASES] for p in table]
    for verdict in ("fails", "passes"):
        covered = {rule for rule, v in rows if v == verdict}
        assert covered == set(FRAMING), f"{verdict}: {sorted(set(FRAMING) ^ covered)}"


TEXT_STREAM = Endpoint("text", "POST", "/t", framing=Framing.TEXT, content_types=("text/plain",))
WORDS = [f"word{n} " for n in range(30)]


def test_a_text_stream_written_at_once_after_a_delay_is_buffered() -> None:
    """A text stream's reads are its events: the whole answer in one write, after a
    silence, is judged from the arrival times of its words."""
    t = recorded(TEXT_STREAM, ["".join(WORDS).encode()], gap=0.5)
    (finding,) = REGISTRY["stream.delivery.incremental"].run(t, TEXT_STREAM)
    assert "30 of 30 words arrived within 50 ms" in finding.actual
    assert "the response was buffered" in finding.actual


def test_a_text_stream_written_as_it_is_generated_passes() -> None:
    t = recorded(TEXT_STREAM, [w.encode() for w in WORDS], gap=0.03)
    assert REGISTRY["stream.delivery.incremental"].run(t, TEXT_STREAM) == []


def test_a_text_stream_split_mid_character_and_fast_at_the_end_still_passes() -> None:
    body = "".join(WORDS[:10]).encode() + "é ".encode() + "".join(WORDS[10:]).encode()
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    t = recorded(TEXT_STREAM, pieces, gap=0.02)
    assert REGISTRY["stream.delivery.incremental"].run(t, TEXT_STREAM) == []


def test_a_short_text_in_one_write_cannot_be_judged() -> None:
    t = recorded(TEXT_STREAM, [b"Photosynthesis turns light into sugar."], gap=0.5)
    assert "5 word(s) arrived" in untestable("stream.delivery.incremental", t, TEXT_STREAM)
