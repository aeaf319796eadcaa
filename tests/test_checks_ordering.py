"""The ordering checks: event types and schemas, grammar, ids, timestamps and filters.

Transcripts are recorded through the Recorder from chosen bytes, so events are decoded
exactly as in a live capture. Every body is judged whole, one byte per chunk and split in
two at every offset: a verdict that moved with the network's cuts would be a decoder bug,
not a property of the target. The last part runs the whole pipeline against tiny servers
built to break one ordering rule each, and against a multiplexed run stream with filters.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from evidence_builders import recorded
from gathered import gathered, provoked_as
from one_endpoint import spec_of
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import streamconform.checks  # noqa: F401  (registers every check)
from streamconform.capture.recorder import Recorder
from streamconform.checks.registry import REGISTRY, Finding, Untestable
from streamconform.core.evidence import primary
from streamconform.core.outcome import Outcome, Result
from streamconform.core.redact import Redactor
from streamconform.core.transcript import End, Transcript
from streamconform.engine.run import ConformanceRun, RunConfig
from streamconform.engine.verdict import judge
from streamconform.model.grammar import parse_grammar
from streamconform.model.spec import (
    Endpoint,
    EventsSpec,
    EventType,
    Filter,
    Framing,
    IdRule,
    Level,
)
from streamconform.servers import BackgroundServer

TYPE = "schema.type.declared"
VALID = "schema.event.valid"
GRAMMAR = "order.grammar.viable"
PRESENT = "event.id.present"
UNIQUE = "event.id.unique"
INCREASING = "event.id.increasing"
ISO8601 = "event.timestamp.iso8601"
MONOTONIC = "event.timestamp.monotonic"
FILTER = "filter.only-matching"

# the expected text of a finding past the end of a run (wording aside)
ENDED = "ended"

ORDERING_CHECKS = sorted(c.id for c in REGISTRY.values() if c.suite == "ordering")

# -- Endpoints -----------------------------------------------------------------------------

OBJECT: dict[str, Any] = {"type": "object"}
RUN = {
    "type": "object",
    "required": ["run_id"],
    "properties": {"run_id": {"type": "string", "minLength": 1}},
}
TOKEN = {
    "type": "object",
    "required": ["run_id", "delta"],
    "properties": {"run_id": {"type": "string"}, "delta": {"type": "string"}},
}
TOOL_CALL = {
    "type": "object",
    "required": ["run_id", "tool", "arguments"],
    "properties": {
        "run_id": {"type": "string"},
        "tool": {"type": "string", "minLength": 1},
        "arguments": {
            "type": "object",
            "properties": {"prompt": {"type": "string"}},
        },
    },
}
ERROR = {
    "type": "object",
    "required": ["type", "message", "timestamp"],
    "properties": {
        "type": {"const": "error"},
        "message": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
    },
}


def events_spec(
    type_from: str,
    types: Mapping[str, Mapping[str, Any]],
    grammar: str | None = None,
    **rules: Any,
) -> EventsSpec:
    return EventsSpec(
        type_from=type_from,
        types={label: EventType(label, schema) for label, schema in types.items()},
        grammar=parse_grammar(grammar) if grammar else None,
        **rules,
    )


def sse(
    types: Mapping[str, Mapping[str, Any]],
    grammar: str | None = None,
    *,
    type_from: str = "sse-event",
    **rules: Any,
) -> Endpoint:
    """An SSE endpoint; by default an event's label is its `event:` field."""
    return Endpoint(
        name="ep",
        method="GET",
        path="/events",
        framing=Framing.SSE,
        content_types=("text/event-stream",),
        events=events_spec(type_from, types, grammar, **rules),
    )


def ndjson(
    types: Mapping[str, Mapping[str, Any]], grammar: str | None = None, **rules: Any
) -> Endpoint:
    """An NDJSON endpoint; an event's label is its JSON `type` field."""
    return Endpoint(
        name="ep",
        method="POST",
        path="/run",
        framing=Framing.NDJSON,
        content_types=("application/x-ndjson",),
        events=events_spec("json-field", types, grammar, **rules),
    )


# -- Bodies --------------------------------------------------------------------------------


def ev(label: str | None, data: Any = None, *, id: str | None = None, eol: str = "\n") -> bytes:
    """One SSE event: optional `event:` and `id:` lines, one data line, a blank line.

    `data` that is not a string is written as JSON; `id=""` writes a bare `id:` line.
    """
    lines = []
    if label is not None:
        lines.append(f"event: {label}")
    if id is not None:
        lines.append(f"id: {id}" if id else "id:")
    text = data if isinstance(data, str) else json.dumps({} if data is None else data)
    lines.append(f"data: {text}")
    return (eol.join(lines) + eol + eol).encode()


def lines(*objects: Any) -> bytes:
    """NDJSON: one compact JSON value per line, each terminated by \\n."""
    return b"".join(json.dumps(o, separators=(",", ":")).encode() + b"\n" for o in objects)


PING = b": ping\n\n"


def at(body: bytes, marker: bytes, nth: int = 0) -> int:
    """The byte offset of the nth occurrence of marker: where an event starts."""
    offset = -1
    for _ in range(nth + 1):
        offset = body.index(marker, offset + 1)
    return offset


# -- Transcripts ---------------------------------------------------------------------------

HEADERS = {
    Framing.SSE: [("content-type", "text/event-stream"), ("cache-control", "no-cache")],
    Framing.NDJSON: [("content-type", "application/x-ndjson"), ("cache-control", "no-cache")],
}


def record(
    ep: Endpoint,
    pieces: Sequence[bytes],
    *,
    captures: Mapping[str, object] | None = None,
    variant: str = "",
) -> Transcript:
    """A transcript of a 200 response whose body arrives as `pieces`, then closes."""
    rec = Recorder("spec", ep)
    rec.response(200, HEADERS[ep.framing], time=0.01)
    for i, piece in enumerate(pieces):
        rec.chunk(piece, 0.02 + 0.001 * i)
    rec.closed(0.5)
    rec.captures = dict(captures or {})
    rec.variant = variant
    return rec.transcript(0.5)


def chunkings(body: bytes) -> Iterator[tuple[str, list[bytes]]]:
    yield "whole", [body]
    yield "one byte per chunk", [body[i : i + 1] for i in range(len(body))]
    for i in range(1, len(body)):
        yield f"split at byte {i}", [body[:i], body[i:]]


def run_every_way(check_id: str, ep: Endpoint, body: bytes, **kw: Any) -> list[Finding]:
    """The check's findings on `body`, required to be the same however the body is cut."""
    chk = REGISTRY[check_id]
    first: list[Finding] | None = None
    for label, pieces in chunkings(body):
        found = chk.run(provoked_as(chk, ep, record(ep, pieces, **kw)), ep)
        if first is None:
            first = found
        assert found == first, f"{label} changes the findings of {check_id} on {body!r}"
    assert first is not None
    return first


def verdict(check_id: str, ep: Endpoint, body: bytes, *, strict: bool = False, **kw: Any):
    """The graded result of one check on one transcript, as a run reports it."""
    chk = REGISTRY[check_id]
    return judge(
        chk,
        spec_of(ep),
        ep,
        provoked_as(chk, ep, record(ep, [body], **kw)),
        target="test",
        strict=strict,
        redactor=Redactor(),
    )


@dataclass(frozen=True)
class Want:
    """A finding the body must give: event index, byte offset (None: not checked), and
    words its expected and actual texts must contain."""

    index: int
    offset: int | None
    expected: tuple[str, ...] = ()
    actual: tuple[str, ...] = ()


def assert_findings(found: list[Finding], wanted: Sequence[Want]) -> None:
    assert [f.event_index for f in found] == [w.index for w in wanted], found
    for f, w in zip(found, wanted, strict=True):
        if w.offset is not None:
            assert f.offset == w.offset, f
        for word in w.expected:
            assert word in f.expected, f"{word!r} not in expected {f.expected!r}"
        for word in w.actual:
            assert word in f.actual, f"{word!r} not in actual {f.actual!r}"


def row(rule: str, what: str, *values: object, fails: bool) -> Any:
    """A table row, named after the rule it is built to break (or to pass)."""
    return pytest.param(*values, id=f"{rule}:{'fails' if fails else 'passes'}:{what}")


# -- schema.type.declared ------------------------------------------------------------------

TYPED = sse({"start": RUN, "token": TOKEN, "done": RUN})
SUBTYPED = sse(
    {"system.init": OBJECT, "assistant": OBJECT, "result.success": OBJECT},
    type_from="json-field",
    subtype_field="subtype",
)
WITH_SENTINEL = sse(
    {"start": OBJECT, "done": OBJECT},
    "start done",
    type_from="json-field",
    non_json_data=("[DONE]",),
    terminal=("done",),
)
UNKNOWN = ev("start", {"run_id": "r1"}) + ev("bogus", {"run_id": "r1"}) + ev("done", {})
NO_TYPE = lines({"type": "plan"}, {"summary": "no type field"})
PLAN = ndjson({"plan": OBJECT})
SENTINEL = ev(None, {"type": "start"}) + ev(None, {"type": "done"}) + ev(None, "[DONE]")
OTHER_TEXT = ev(None, {"type": "start"}) + ev(None, "[END]")

TYPE_CASES = [
    row(
        TYPE,
        "unknown-event-type",
        TYPED,
        UNKNOWN,
        [Want(1, at(UNKNOWN, b"event: bogus"), ("one of done, start, token",), ("bogus",))],
        fails=True,
    ),
    row(
        TYPE,
        "undeclared-subtype",
        SUBTYPED,
        ev(None, {"type": "system", "subtype": "init"})
        + ev(None, {"type": "result", "subtype": "weird"}),
        [Want(1, None, ("result.success", "system.init"), ("result.weird",))],
        fails=True,
    ),
    row(
        TYPE,
        "json-event-without-a-type-field",
        PLAN,
        NO_TYPE,
        [Want(1, at(NO_TYPE, b'{"summary"'), ("plan",), ("(an event with no type)",))],
        fails=True,
    ),
    row(
        TYPE,
        "non-json-data-that-is-not-a-declared-sentinel",
        WITH_SENTINEL,
        OTHER_TEXT,
        [Want(1, at(OTHER_TEXT, b"data: [END]"), (), ("(an event with no type)",))],
        fails=True,
    ),
    row(
        TYPE,
        "declared-types-and-subtypes",
        SUBTYPED,
        ev(None, {"type": "system", "subtype": "init"})
        + ev(None, {"type": "assistant", "subtype": ""})
        + ev(None, {"type": "result", "subtype": "success"}),
        [],
        fails=False,
    ),
    row(TYPE, "declared-sentinel-data-DONE", WITH_SENTINEL, SENTINEL, [], fails=False),
]


@pytest.mark.parametrize(("ep", "body", "wanted"), TYPE_CASES)
def test_type_declared(ep: Endpoint, body: bytes, wanted: list[Want]) -> None:
    """Every event's label (type, or type.subtype) is one the spec declares."""
    assert_findings(run_every_way(TYPE, ep, body), wanted)


def test_an_unknown_type_fails_a_closed_stream() -> None:
    """Without open_types the check is a MUST: an unknown type fails."""
    result = verdict(TYPE, TYPED, UNKNOWN)
    assert (result.level, result.outcome) == ("MUST", Outcome.FAIL)
    assert "Actual: bogus" in result.message


def test_an_open_stream_only_warns_on_an_unknown_type() -> None:
    """open_types makes the check SHOULD on that endpoint: WARN, and FAIL only when strict."""
    open_ep = sse({"start": RUN, "token": TOKEN, "done": RUN}, open_types=True)
    assert REGISTRY[TYPE].level_at(open_ep) is Level.SHOULD
    assert REGISTRY[TYPE].level_at(TYPED) is Level.MUST
    relaxed = verdict(TYPE, open_ep, UNKNOWN)
    assert (relaxed.level, relaxed.outcome) == ("SHOULD", Outcome.WARN)
    assert verdict(TYPE, open_ep, UNKNOWN, strict=True).outcome is Outcome.FAIL
    assert verdict(TYPE, open_ep, ev("start", {"run_id": "r1"})).outcome is Outcome.PASS


# -- schema.event.valid --------------------------------------------------------------------

SCHEMAS = sse({"token": TOKEN, "tool_call": TOOL_CALL, "done": RUN})
ERRORS = ndjson({"error": ERROR})
NO_DELTA = ev("token", {"run_id": "r1", "delta": "a"}) + ev("token", {"run_id": "r1"})
WRONG_TYPE = ev("token", {"run_id": "r1", "delta": 3})
NESTED = ev("tool_call", {"run_id": "r1", "tool": "search", "arguments": {"prompt": 5}})
BAD_TIME = lines({"type": "error", "message": "boom", "timestamp": "yesterday"})
GOOD_TIME = lines({"type": "error", "message": "boom", "timestamp": "2025-09-04T16:24:35.185Z"})

VALID_CASES = [
    row(
        VALID,
        "missing-required-field",
        SCHEMAS,
        NO_DELTA,
        [Want(1, at(NO_DELTA, b"event: token", 1), ("token",), ("$:", "'delta'", "required"))],
        fails=True,
    ),
    row(
        VALID,
        "wrong-type",
        SCHEMAS,
        WRONG_TYPE,
        [Want(0, 0, ("a token event valid",), ("$.delta", "not of type 'string'", "(value 3)"))],
        fails=True,
    ),
    row(
        VALID,
        "wrong-type-nested",
        SCHEMAS,
        NESTED,
        [Want(0, 0, ("tool_call",), ("$.arguments.prompt", "(value 5)"))],
        fails=True,
    ),
    row(
        VALID,
        "empty-tool-name",
        SCHEMAS,
        ev("tool_call", {"run_id": "r1", "tool": "", "arguments": {}}),
        [Want(0, 0, (), ("$.tool", "(value '')"))],
        fails=True,
    ),
    # `format: date-time` is asserted by the spec's schemas (an error event's timestamp):
    # the validator must check it, not treat it as an annotation
    row(
        VALID,
        "date-time-format",
        ERRORS,
        BAD_TIME,
        [Want(0, 0, ("error",), ("$.timestamp", "date-time", "'yesterday'"))],
        fails=True,
    ),
    row(
        VALID,
        "extra-fields-where-the-schema-allows-them",
        SCHEMAS,
        ev("token", {"run_id": "r1", "delta": "a", "thread_id": "t1", "extra": [1, {"x": None}]}),
        [],
        fails=False,
    ),
    row(VALID, "date-time-with-zone", ERRORS, GOOD_TIME, [], fails=False),
    row(
        VALID,
        "unknown-types-and-non-json-are-left-to-other-checks",
        SCHEMAS,
        ev("bogus", {"delta": 3}) + ev("token", "not json"),
        [],
        fails=False,
    ),
]


@pytest.mark.parametrize(("ep", "body", "wanted"), VALID_CASES)
def test_event_valid(ep: Endpoint, body: bytes, wanted: list[Want]) -> None:
    """Each event of a declared type validates against its schema; the finding names the
    JSON path and the value that broke it."""
    assert_findings(run_every_way(VALID, ep, body), wanted)


# -- order.grammar.viable ------------------------------------------------------------------

FLOW = sse(
    {
        "connection": OBJECT,
        "start": OBJECT,
        "token": OBJECT,
        "tool_call": OBJECT,
        "done": OBJECT,
        "failed": OBJECT,
    },
    "connection? start (token | tool_call)* (done | failed)",
    terminal=("done", "failed"),
)
BUILD = ndjson(
    {t: OBJECT for t in ("plan", "file", "review", "ready", "error")},
    "plan (file | review)* (ready | error) | error",
    terminal=("ready", "error"),
)
CHOICE = sse({t: OBJECT for t in "abcde"}, "a (b c | d e)")


def seq(*labels: str, eol: str = "\n") -> bytes:
    return b"".join(ev(label, eol=eol) for label in labels)


WHOLE_RUN = seq("connection", "start", "token", "tool_call", "token", "done")
HEARTBEATS = PING + PING.join(seq(label) for label in ("start", "token", "done")) + PING
AFTER_END = seq("start", "token", "done", "token")
OUT_OF_ORDER = seq("start", "token", "connection", "done")
NO_START = seq("token", "done")
DEAD_END = seq("a", "d", "c")


def bid(*types: str) -> bytes:
    return lines(*({"type": t} for t in types))


GRAMMAR_CASES = [
    row(
        GRAMMAR,
        "event-out-of-order",
        FLOW,
        OUT_OF_ORDER,
        [
            Want(
                2,
                at(OUT_OF_ORDER, b"event: connection"),
                ("one of done, failed, token, tool_call",),
                ("connection after start → token",),
            )
        ],
        fails=True,
    ),
    row(
        GRAMMAR,
        "first-event-cannot-start-a-stream",
        FLOW,
        NO_START,
        [Want(0, 0, ("one of connection, start",), ("token after the start",))],
        fails=True,
    ),
    row(
        GRAMMAR,
        "found-at-the-first-event-no-completion-can-follow",
        CHOICE,
        DEAD_END,
        [Want(2, at(DEAD_END, b"event: c"), ("one of e",), ("c after a → d",))],
        fails=True,
    ),
    row(
        GRAMMAR,
        "event-after-the-terminal",
        FLOW,
        AFTER_END,
        [
            Want(
                3,
                at(AFTER_END, b"event: token", 1),
                (ENDED,),
                ("token after start → token → done",),
            )
        ],
        fails=True,
    ),
    row(
        GRAMMAR,
        "second-plan-mid-build",
        BUILD,
        bid("plan", "file", "plan", "ready"),
        [Want(2, None, ("one of error, file, ready, review",), ("plan after plan → file",))],
        fails=True,
    ),
    row(
        GRAMMAR,
        "anything-after-a-lone-error",
        BUILD,
        bid("error", "plan"),
        [Want(1, None, (ENDED,), ("plan after error",))],
        fails=True,
    ),
    row(GRAMMAR, "whole-run", FLOW, WHOLE_RUN, [], fails=False),
    row(GRAMMAR, "optional-event-absent", FLOW, seq("start", "failed"), [], fails=False),
    row(GRAMMAR, "comment-heartbeats-between-events", FLOW, HEARTBEATS, [], fails=False),
    row(
        GRAMMAR,
        "crlf-line-endings",
        FLOW,
        seq("start", "token", "done", eol="\r\n"),
        [],
        fails=False,
    ),
    row(
        GRAMMAR,
        "cr-line-endings",
        FLOW,
        seq("connection", "start", "done", eol="\r"),
        [],
        fails=False,
    ),
    row(
        GRAMMAR,
        "closed-before-the-terminal-is-not-an-order-problem",
        FLOW,
        seq("connection", "start", "token"),
        [],
        fails=False,
    ),
    row(GRAMMAR, "no-events", FLOW, PING, [], fails=False),
    row(GRAMMAR, "either-branch", CHOICE, seq("a", "d", "e"), [], fails=False),
    row(GRAMMAR, "lone-error-build", BUILD, bid("error"), [], fails=False),
    row(GRAMMAR, "declared-sentinel-after-the-terminal", WITH_SENTINEL, SENTINEL, [], fails=False),
]


@pytest.mark.parametrize(("ep", "body", "wanted"), GRAMMAR_CASES)
def test_grammar_viable(ep: Endpoint, body: bytes, wanted: list[Want]) -> None:
    """The labels so far can always still be completed to a sentence of the grammar; the
    finding is the first event after which no completion is possible."""
    assert_findings(run_every_way(GRAMMAR, ep, body), wanted)


def test_grammar_events_split_across_chunks() -> None:
    """Each event cut mid-line (and mid-CRLF) over several reads is still one event, so the
    run is whole; the same bytes in the wrong order still fail at the same event."""
    body = seq("connection", "start", "token", "done", eol="\r\n")
    cuts = [3, 20, 21, 40, 41, 42, 60, len(body) - 1]
    pieces = [body[a:b] for a, b in itertools.pairwise([0, *cuts, len(body)])]
    t = record(FLOW, pieces)
    assert [e.type for e in t.events] == ["connection", "start", "token", "done"]
    assert REGISTRY[GRAMMAR].run(t, FLOW) == []
    swapped = seq("start", "connection", eol="\r\n")
    (finding,) = REGISTRY[GRAMMAR].run(
        record(FLOW, [swapped[:5], swapped[5:31], swapped[31:]]), FLOW
    )
    assert (finding.event_index, finding.offset) == (1, swapped.index(b"event: connection"))


RUNS = sse(
    {"start": RUN, "token": RUN, "done": RUN},
    "start token* done",
    key_field="run_id",
    terminal=("done",),
)


def runs(*steps: tuple[str, str]) -> bytes:
    """A multiplexed stream: (run id, label) per event."""
    return b"".join(ev(label, {"run_id": run}) for run, label in steps)


INTERLEAVED = runs(
    ("r1", "start"),
    ("r2", "start"),
    ("r1", "token"),
    ("r2", "token"),
    ("r2", "done"),
    ("r1", "token"),
    ("r1", "done"),
)
AWAITED_MID_WAY = runs(("r1", "token"), ("r1", "done"))
OTHER_MID_WAY = runs(("r2", "token"), ("r1", "start"), ("r2", "done"), ("r1", "done"))
OTHER_AFTER_END = runs(("r2", "token"), ("r2", "done"), ("r1", "start"), ("r2", "token"))
AWAITED = {"run_id": "r1"}

KEYED_CASES = [
    row(GRAMMAR, "two-runs-interleaved", INTERLEAVED, AWAITED, [], fails=False),
    row(
        GRAMMAR,
        "awaited-run-starts-mid-way",
        AWAITED_MID_WAY,
        AWAITED,
        [Want(0, 0, ("one of start",), ("token after the start of run_id 'r1'",))],
        fails=True,
    ),
    row(GRAMMAR, "other-run-seen-mid-way-is-a-fragment", OTHER_MID_WAY, AWAITED, [], fails=False),
    row(
        GRAMMAR,
        "other-run-continues-after-its-terminal",
        OTHER_AFTER_END,
        AWAITED,
        [
            Want(
                3,
                at(OTHER_AFTER_END, b"event: token", 1),
                (ENDED,),
                ("token after token → done of run_id 'r2'",),
            )
        ],
        fails=True,
    ),
    row(GRAMMAR, "no-awaited-run-every-run-a-fragment", AWAITED_MID_WAY, {}, [], fails=False),
    row(
        GRAMMAR,
        "awaited-run-ends-and-starts-again",
        runs(("r1", "start"), ("r1", "done"), ("r1", "start")),
        AWAITED,
        [Want(2, None, (ENDED,), ("of run_id 'r1'",))],
        fails=True,
    ),
]


@pytest.mark.parametrize(("body", "captures", "wanted"), KEYED_CASES)
def test_grammar_per_run(body: bytes, captures: dict[str, str], wanted: list[Want]) -> None:
    """On a multiplexed stream each run follows the grammar on its own: the awaited run from
    its start, any other run (whose start the capture may have missed) as a fragment."""
    assert_findings(run_every_way(GRAMMAR, RUNS, body, captures=captures), wanted)


# -- event.id.present / event.id.unique / event.id.increasing -------------------------------

IDS = sse({"tick": OBJECT}, ids=IdRule(required=True, unique=True, ordered=True))
FIELD_IDS = ndjson(
    {"tick": OBJECT}, ids=IdRule(required=True, unique=True, ordered=True, field="id")
)
INHERITED = ev("tick", id="evt_1") + ev("tick") + ev("tick", id="evt_2")
RESET = ev("tick", id="evt_1") + ev("tick", id="") + ev("tick") + ev("tick", id="evt_2")
NATURAL = ev("tick", id="evt_0099") + ev("tick", id="evt_0100") + ev("tick", id="evt_0101")
BACKWARDS = ev("tick", id="evt_0100") + ev("tick", id="evt_0099")
REPEATED = ev("tick", id="evt_7") + ev("tick", id="evt_8") + ev("tick", id="evt_8")
NUMBERS = lines({"type": "tick", "id": 9}, {"type": "tick", "id": 10}, {"type": "tick", "id": 11})
FIELD_GAPS = lines({"type": "tick", "id": "a1"}, {"type": "tick"}, {"type": "tick", "id": "a1"})
CLEAN = {PRESENT: [], UNIQUE: [], INCREASING: []}


def second(body: bytes, nth: int) -> int:
    return at(body, b"event: tick", nth)


ID_CASES = [
    row(
        UNIQUE,
        "event-without-id-line-inherits-the-previous-id",
        IDS,
        INHERITED,
        {
            PRESENT: [],
            UNIQUE: [
                Want(
                    1,
                    second(INHERITED, 1),
                    ("an id no earlier event had",),
                    ("'evt_1'", "event #0", "inherited"),
                )
            ],
            INCREASING: [Want(1, second(INHERITED, 1), ("after 'evt_1'",), ("'evt_1'",))],
        },
        fails=True,
    ),
    row(
        PRESENT,
        "bare-id-line-resets-the-id",
        IDS,
        RESET,
        {
            PRESENT: [
                Want(1, second(RESET, 1), ("an id: line",), ("no id",)),
                Want(2, second(RESET, 2), ("an id: line",), ("no id",)),
            ],
            UNIQUE: [],
            INCREASING: [],
        },
        fails=True,
    ),
    row(
        INCREASING,
        "natural-order-evt_0100-before-evt_0099",
        IDS,
        BACKWARDS,
        {
            PRESENT: [],
            UNIQUE: [],
            INCREASING: [Want(1, second(BACKWARDS, 1), ("after 'evt_0100'",), ("'evt_0099'",))],
        },
        fails=True,
    ),
    row(
        UNIQUE,
        "repeated-id-line",
        IDS,
        REPEATED,
        {
            PRESENT: [],
            UNIQUE: [Want(2, second(REPEATED, 2), (), ("'evt_8'", "event #1"))],
            INCREASING: [Want(2, second(REPEATED, 2), ("after 'evt_8'",), ("'evt_8'",))],
        },
        fails=True,
    ),
    row(
        PRESENT,
        "json-id-field-missing-and-repeated",
        FIELD_IDS,
        FIELD_GAPS,
        {
            PRESENT: [Want(1, at(FIELD_GAPS, b'{"type":"tick"}'), ("field 'id'",), ("no id",))],
            UNIQUE: [Want(2, None, ("an id no earlier event had",), ("'a1'", "event #0"))],
            INCREASING: [Want(2, None, ("after 'a1'",), ("'a1'",))],
        },
        fails=True,
    ),
    row(INCREASING, "natural-order-evt_0099-evt_0100", IDS, NATURAL, CLEAN, fails=False),
    row(INCREASING, "numeric-json-ids-9-10-11", FIELD_IDS, NUMBERS, CLEAN, fails=False),
]


@pytest.mark.parametrize(("ep", "body", "wanted"), ID_CASES)
def test_ids(ep: Endpoint, body: bytes, wanted: dict[str, list[Want]]) -> None:
    """SSE ids follow the WHATWG last-event-id: an event with no id line carries the id in
    force, and a bare `id:` line empties it; JSON ids come from the spec's field."""
    for check_id, findings in wanted.items():
        assert_findings(run_every_way(check_id, ep, body), findings)


def test_inherited_ids_are_present_but_not_unique_in_a_run() -> None:
    """Through judge(): an inherited id counts as present, and fails uniqueness."""
    assert verdict(PRESENT, IDS, INHERITED).outcome is Outcome.PASS
    unique = verdict(UNIQUE, IDS, INHERITED)
    assert unique.outcome is Outcome.FAIL
    assert "inherited" in unique.message


def test_the_inherited_note_is_only_for_sse_ids() -> None:
    """A repeated JSON id field, or a repeated SSE id line, is not called inherited."""
    for ep, body in ((FIELD_IDS, FIELD_GAPS), (IDS, REPEATED)):
        (finding,) = REGISTRY[UNIQUE].run(record(ep, [body]), ep)
        assert "inherited" not in finding.actual


@pytest.mark.parametrize("check_id", [PRESENT, UNIQUE, INCREASING])
def test_id_checks_skip_where_the_spec_requires_no_ids(check_id: str) -> None:
    """Without an id rule every id check is a skip, even on a stream with duplicate ids."""
    no_ids = sse({"tick": OBJECT})
    result = verdict(check_id, no_ids, REPEATED + ev("tick", id=""))
    assert result.outcome is Outcome.SKIP
    assert "does not" in result.message


def test_unique_ids_without_required_ids() -> None:
    """`unique` alone: a missing id is fine, a repeated one is not (PromptFloe's rule)."""
    unique_only = ndjson({"tick": OBJECT}, ids=IdRule(unique=True, field="id"))
    assert verdict(PRESENT, unique_only, FIELD_GAPS).outcome is Outcome.SKIP
    assert verdict(INCREASING, unique_only, FIELD_GAPS).outcome is Outcome.SKIP
    assert verdict(UNIQUE, unique_only, FIELD_GAPS).outcome is Outcome.FAIL
    assert verdict(UNIQUE, unique_only, lines({"type": "tick"})).outcome is Outcome.PASS


# -- event.timestamp.iso8601 / event.timestamp.monotonic -----------------------------------

STAMPED = ndjson({"tick": OBJECT}, timestamps=("timestamp",))


def stamps(*values: object) -> bytes:
    return lines(*({"type": "tick", "timestamp": v} for v in values))


ISO_CASES = [
    row(ISO8601, "Z", "2025-09-04T16:24:35.185Z", True, fails=False),
    row(ISO8601, "plus-00-00", "2025-09-04T16:24:35+00:00", True, fails=False),
    row(ISO8601, "other-offset", "2025-09-04T18:24:35.185+02:00", True, fails=False),
    row(ISO8601, "space-and-no-zone", "2025-09-04 16:24:35", False, fails=True),
    row(ISO8601, "T-but-no-zone", "2025-09-04T16:24:35", False, fails=True),
    row(ISO8601, "a-word", "yesterday", False, fails=True),
    row(ISO8601, "unix-seconds-as-a-number", 1693844675, False, fails=True),
    row(ISO8601, "unix-seconds-as-a-string", "1693844675", False, fails=True),
    row(ISO8601, "date-only", "2025-09-04", False, fails=True),
    row(ISO8601, "null", None, False, fails=True),
]


@pytest.mark.parametrize(("value", "valid"), ISO_CASES)
def test_timestamp_iso8601(value: object, valid: bool) -> None:
    """Timestamp fields are ISO 8601 date-times with a zone; the finding shows the value."""
    body = stamps("2025-09-04T16:24:35Z", value)
    wanted = (
        []
        if valid
        else [
            Want(
                1, at(body, b'{"type"', 1), ("timestamp: an ISO 8601",), (f"timestamp: {value!r}",)
            )
        ]
    )
    assert_findings(run_every_way(ISO8601, STAMPED, body), wanted)


def test_a_stream_without_any_timestamp_field_is_untestable() -> None:
    """No timestamp to judge is not a pass: the checks say so."""
    body = lines({"type": "tick"}, {"type": "tick", "other": "yesterday"})
    t = recorded(STAMPED, [body])
    for chk in (ISO8601, MONOTONIC):
        with pytest.raises(Untestable, match="no event of this stream carried a timestamp"):
            REGISTRY[chk].run(t, STAMPED)


MONOTONIC_CASES = [
    row(
        MONOTONIC, "increasing", ["2025-09-04T16:24:35Z", "2025-09-04T16:24:36.5Z"], [], fails=False
    ),
    row(MONOTONIC, "equal", ["2025-09-04T16:24:35.185Z"] * 3, [], fails=False),
    row(
        MONOTONIC,
        "same-instant-other-offset",
        ["2025-09-04T16:24:35Z", "2025-09-04T18:24:35+02:00"],
        [],
        fails=False,
    ),
    row(
        MONOTONIC,
        "unparseable-values-are-left-to-iso8601",
        ["2025-09-04T16:24:35Z", "yesterday", "2025-09-04T16:24:36Z"],
        [],
        fails=False,
    ),
    row(
        MONOTONIC,
        "backwards",
        ["2025-09-04T16:24:35Z", "2025-09-04T16:24:36Z", "2025-09-04T16:24:34Z"],
        [Want(2, None, ("at or after 2025-09-04T16:24:36+00:00",), ("'2025-09-04T16:24:34Z'",))],
        fails=True,
    ),
    row(
        MONOTONIC,
        "later-wall-clock-earlier-instant",
        ["2025-09-04T16:24:35Z", "2025-09-04T17:00:00+02:00"],
        [Want(1, None, ("at or after",), ("'2025-09-04T17:00:00+02:00'",))],
        fails=True,
    ),
]


@pytest.mark.parametrize(("values", "wanted"), MONOTONIC_CASES)
def test_timestamp_monotonic(values: list[str], wanted: list[Want]) -> None:
    """Timestamps never go backwards (compared as instants, whatever their offsets)."""
    assert_findings(run_every_way(MONOTONIC, STAMPED, stamps(*values)), wanted)


def test_a_timestamp_going_backwards_only_warns() -> None:
    """Monotonic timestamps are a SHOULD: judge() gives WARN, and FAIL only when strict."""
    body = stamps("2025-09-04T16:24:36Z", "2025-09-04T16:24:35Z")
    result = verdict(MONOTONIC, STAMPED, body)
    assert (result.level, result.outcome) == ("SHOULD", Outcome.WARN)
    assert verdict(MONOTONIC, STAMPED, body, strict=True).outcome is Outcome.FAIL
    assert verdict(ISO8601, STAMPED, body).outcome is Outcome.PASS


def test_timestamp_checks_skip_without_timestamp_fields() -> None:
    plain = ndjson({"tick": OBJECT})
    for check_id in (ISO8601, MONOTONIC):
        assert verdict(check_id, plain, stamps("yesterday")).outcome is Outcome.SKIP


# -- filter.only-matching ------------------------------------------------------------------

FILTERED = sse(
    {"start": RUN, "token": RUN, "done": RUN},
    "start token* done",
    key_field="run_id",
    terminal=("done",),
    filters=(
        Filter(param="thread_id", value="thr_a", field="run_id", equals="run_id"),
        Filter(param="run_id", value="r1", field="run_id", equals="run_id"),
    ),
)
ONLY_R1 = runs(("r1", "start"), ("r1", "token"), ("r1", "done"))
ONE_R2 = runs(("r1", "start"), ("r2", "token"), ("r1", "done"))


def test_filter_variants_are_named_after_their_params() -> None:
    scenarios = REGISTRY[FILTER].scenarios
    assert scenarios is not None
    assert [s.name for s in scenarios(FILTERED)] == ["filter:thread_id", "filter:run_id"]


@pytest.mark.parametrize("variant", ["filter:thread_id", "filter:run_id"])
def test_a_filtered_stream_of_the_wanted_run_passes(variant: str) -> None:
    assert run_every_way(FILTER, FILTERED, ONLY_R1, captures=AWAITED, variant=variant) == []


def test_an_event_of_another_run_fails_the_filter() -> None:
    found = run_every_way(FILTER, FILTERED, ONE_R2, captures=AWAITED, variant="filter:thread_id")
    wanted = [
        Want(
            1,
            at(ONE_R2, b"event: token"),
            ("run_id 'r1' only (thread_id filter)",),
            ("run_id 'r2'",),
        )
    ]
    assert_findings(found, wanted)


def test_an_event_without_the_filtered_field_fails_the_filter() -> None:
    body = ev("token", {"delta": "x"})
    found = run_every_way(FILTER, FILTERED, body, captures=AWAITED, variant="filter:run_id")
    assert_findings(found, [Want(0, 0, ("(run_id filter)",), ("run_id None",))])


@pytest.mark.parametrize(
    ("body", "captures", "reason"),
    [
        pytest.param(PING, AWAITED, "no event arrived", id=f"{FILTER}:untestable:no-events"),
        pytest.param(ONLY_R1, {}, "did not capture 'run_id'", id=f"{FILTER}:untestable:no-capture"),
    ],
)
def test_a_filter_with_nothing_to_judge_is_untestable(
    body: bytes, captures: dict[str, str], reason: str
) -> None:
    """No event, or no captured value to compare with: untestable, never a pass."""
    t = record(FILTERED, [body], captures=captures, variant="filter:thread_id")
    with pytest.raises(Untestable, match=reason):
        REGISTRY[FILTER].run(provoked_as(REGISTRY[FILTER], FILTERED, t), FILTERED)
    result = verdict(FILTER, FILTERED, body, captures=captures, variant="filter:thread_id")
    assert result.outcome is Outcome.UNTESTABLE


# -- Every ordering check applies where the spec asks for it -------------------------------


def test_every_ordering_check_is_covered_here() -> None:
    """A new ordering check needs its own cases in this file."""
    covered = {TYPE, VALID, GRAMMAR, PRESENT, UNIQUE, INCREASING, ISO8601, MONOTONIC, FILTER}
    assert set(ORDERING_CHECKS) == covered


def test_ordering_checks_skip_an_endpoint_without_events() -> None:
    bare = Endpoint(
        "ep", "POST", "/x", framing=Framing.NDJSON, content_types=("application/x-ndjson",)
    )
    for check_id in ORDERING_CHECKS:
        assert verdict(check_id, bare, lines({"type": "x"})).outcome is Outcome.SKIP, check_id


# -- Through real servers ------------------------------------------------------------------

SPEC = """\
streamconform: 1
name: ordered
title: A one-endpoint API for ordering tests
source: {document: test}
endpoints:
  events:
    method: GET
    path: /events
    framing: sse
    content_types: [text/event-stream]
    events:
      type_from: sse-event
      data: json
      types:
        start: {schema: {type: object, required: [n], properties: {n: {type: integer}}}}
        tick: {schema: {type: object, required: [n], properties: {n: {type: integer}}}}
        done: {schema: {type: object}}
      grammar: start tick* done
      terminal: [done]
      ids: {required: true, unique: true, ordered: true}
    timing: {response_timeout: 2, idle_timeout: 1, max_duration: 3, close_after_terminal: 1}
requirements:
  - id: r
    quote: q
    level: MUST
    checks: [order.grammar.viable]
"""
STREAM_HEADERS = {"cache-control": "no-cache"}


def tick(label: str, n: int, id: int) -> bytes:
    return ev(label, {"n": n}, id=f"evt_{id:04d}")


GOOD = [tick("start", 0, 1), tick("tick", 1, 2), tick("tick", 2, 3), tick("done", 3, 4)]


def replay(pieces: list[bytes], gap: float = 0.03) -> Starlette:
    """A server that sends the pieces, paced, then closes the stream."""

    async def handler(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for piece in pieces:
                await asyncio.sleep(gap)
                yield piece

        return StreamingResponse(body(), media_type="text/event-stream", headers=STREAM_HEADERS)

    return Starlette(routes=[Route("/events", handler)])


def judge_ordering(
    spec_text: str, tmp_path: Path, app: Starlette, captured: dict[str, Transcript] | None = None
) -> dict[str, Result]:
    """Every ordering case of the spec's stream endpoint against the app: check id -> result.

    `captured`, when given, receives the transcripts the run took (by variant, "" plain).
    """
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text)
    with BackgroundServer(app) as server:
        run = ConformanceRun(RunConfig(specs=[spec], target=server.url), environ={})
        try:
            cases = run.cases("ordering")
            results = {r.check: r for r in run.judge_all(cases)}
            if captured is not None:
                (loaded,) = run.specs
                (endpoint,) = loaded.stream_endpoints
                scenarios = REGISTRY[FILTER].scenarios
                names = [s.name for s in scenarios(endpoint)] if scenarios else []
                for name in ["", *names]:
                    captured[name] = primary(gathered(run, loaded, endpoint, name))
            return results
        finally:
            run.close()


def failing(results: dict[str, Result]) -> set[str]:
    return {check for check, r in results.items() if r.outcome is Outcome.FAIL}


SERVER_CASES = [
    row("every-check", "correct-stream", GOOD, set(), "", fails=False),
    row(
        GRAMMAR,
        "events-after-the-terminal",
        [*GOOD, tick("tick", 4, 5)],
        {GRAMMAR},
        ENDED,
        fails=True,
    ),
    row(
        UNIQUE,
        "repeated-id",
        [*GOOD[:2], tick("tick", 2, 2), GOOD[3]],
        {UNIQUE, INCREASING},
        "Actual: id 'evt_0002' of event #1",
        fails=True,
    ),
    row(
        VALID,
        "event-breaks-its-schema",
        [GOOD[0], ev("tick", {"n": "two"}, id="evt_0002"), *GOOD[2:]],
        {VALID},
        "Actual: $.n: 'two' is not of type 'integer'",
        fails=True,
    ),
]


@pytest.mark.parametrize(("pieces", "failed", "message"), SERVER_CASES)
def test_servers(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    pieces: list[bytes],
    failed: set[str],
    message: str,
) -> None:
    """Live servers break one ordering rule each: exactly that rule (and what follows from
    it) fails, and every other check the spec asks for passes."""
    results = judge_ordering(SPEC, tmp_path, replay(pieces))
    outcomes = {check: r.outcome for check, r in results.items()}
    assert failing(results) == failed, outcomes
    judged = {TYPE, VALID, GRAMMAR, PRESENT, UNIQUE, INCREASING}
    assert {outcomes[c] for c in judged - failed} == {Outcome.PASS}, outcomes
    assert {outcomes[c] for c in set(outcomes) - judged} == {Outcome.SKIP}, outcomes
    rule = request.node.callspec.id.split(":")[0]
    if failed:
        found = results[rule].message.splitlines()
        said = [line for line in found if line.startswith(("Expected:", "Actual:"))]
        assert any(message in line for line in said), results[rule].message


# A multiplexed run stream: runs start on POST, every subscriber sees every run's events
# unless the stream was opened with a filter (in the honouring variant of the server).
MUX_SPEC = """\
streamconform: 1
name: mux
title: A multiplexed run stream with filters
source: {document: test}
variables:
  filter_thread_id: {default: thr_wanted}
  decoy_thread_id: {default: thr_decoy}
endpoints:
  events:
    method: GET
    path: /events
    framing: sse
    content_types: [text/event-stream]
    query_schema:
      type: object
      properties:
        thread_id: {type: string}
        run_id: {type: string}
    trigger: start_run
    events:
      type_from: sse-event
      data: json
      key_field: run_id
      types:
        run_started:
          schema: &run
            type: object
            required: [run_id, thread_id]
            properties:
              run_id: {type: string, minLength: 1}
              thread_id: {type: string, minLength: 1}
        token: {schema: *run}
        run_finished: {schema: *run}
      grammar: run_started token* run_finished
      terminal: [run_finished]
      ids: {required: true, unique: true, ordered: true}
      long_lived: true
      filters:
        - param: thread_id
          value: ${filter_thread_id}
          trigger: start_two_runs
          expect: {field: run_id, equals: run_id}
        - param: run_id
          value: ${run_id}
          setup: [start_two_runs]
          expect: {field: run_id, equals: run_id}
    timing: {response_timeout: 2, idle_timeout: 1, max_duration: 4}
  start_run:
    method: POST
    path: /runs
    body: {thread_id: "${filter_thread_id}"}
    success: [201]
    response_schema:
      type: object
      required: [run_id]
      properties:
        run_id: {type: string}
    timing: {response_timeout: 2}
flows:
  start_run:
    steps:
      - endpoint: start_run
        capture: {run_id: /run_id}
  start_two_runs:
    description: A decoy run on another thread, then the run under test
    steps:
      - endpoint: start_run
        body: {thread_id: "${decoy_thread_id}"}
        capture: {decoy_run_id: /run_id}
      - endpoint: start_run
        body: {thread_id: "${filter_thread_id}"}
        capture: {run_id: /run_id}
requirements:
  - id: filters
    quote: Only deliver events for one thread (or one run)
    level: MUST
    endpoints: [events]
    checks: [filter.only-matching]
"""
RUN_STEPS = ("run_started", "token", "token", "token", "run_finished")
RUN_GAP = 0.04  # a run lasts 0.2 s: long enough to overlap the other run of its flow
HOLD_OPEN = 3.0  # a subscriber's stream ends by itself after this (the capture stops sooner)


def run_server(*, honour_filters: bool) -> Starlette:
    """Runs produce paced events; each open stream gets them (filtered, if honoured)."""
    subscribers: list[tuple[asyncio.Queue[bytes], dict[str, str]]] = []
    event_ids = itertools.count(1)
    run_ids = itertools.count(1)
    tasks: set[asyncio.Task[None]] = set()

    async def produce(run_id: str, thread_id: str) -> None:
        for label in RUN_STEPS:
            await asyncio.sleep(RUN_GAP)
            data = {"run_id": run_id, "thread_id": thread_id}
            block = ev(label, data, id=f"evt_{next(event_ids):04d}")
            for queue, wanted in list(subscribers):
                if not honour_filters or all(data[k] == v for k, v in wanted.items()):
                    queue.put_nowait(block)

    async def start_run(request: Request) -> Response:
        thread_id = (await request.json())["thread_id"]
        run_id = f"run_{next(run_ids)}_{thread_id}"
        task = asyncio.get_running_loop().create_task(produce(run_id, thread_id))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return JSONResponse({"run_id": run_id, "thread_id": thread_id}, status_code=201)

    async def events(request: Request) -> Response:
        wanted = {k: v for k, v in request.query_params.items() if k in ("thread_id", "run_id")}
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        entry = (queue, wanted)
        subscribers.append(entry)  # before the headers go out: no event can slip past

        async def body() -> AsyncIterator[bytes]:
            deadline = time.monotonic() + HOLD_OPEN
            try:
                while time.monotonic() < deadline:
                    try:
                        yield await asyncio.wait_for(queue.get(), 0.25)
                    except TimeoutError:
                        yield PING
            finally:
                subscribers.remove(entry)

        return StreamingResponse(body(), media_type="text/event-stream", headers=STREAM_HEADERS)

    return Starlette(
        routes=[
            Route("/events", events, methods=["GET"]),
            Route("/runs", start_run, methods=["POST"]),
        ]
    )


def test_a_server_that_honours_filters_passes(tmp_path: Path) -> None:
    """Filtered by thread or by run, the stream carries only the run under test, while the
    decoy run is producing events."""
    captured: dict[str, Transcript] = {}
    results = judge_ordering(MUX_SPEC, tmp_path, run_server(honour_filters=True), captured)
    assert results[FILTER].outcome is Outcome.PASS, results[FILTER].message
    assert failing(results) == set(), {k: r.message for k, r in results.items()}
    assert results[GRAMMAR].outcome is Outcome.PASS
    assert sorted(captured) == ["", "filter:run_id", "filter:thread_id"]
    for variant in ("filter:thread_id", "filter:run_id"):
        t = captured[variant]
        assert t.variant == variant
        assert t.end is End.TERMINAL, (variant, t.end, t.end_detail)
        # a decoy run was started, and only the run under test came through
        assert {"run_id", "decoy_run_id"} <= set(t.captures), t.captures
        assert {e.payload["run_id"] for e in t.events} == {t.captures["run_id"]}


def test_a_server_that_ignores_filters_fails(tmp_path: Path) -> None:
    """Ignoring ?thread_id= and ?run_id= delivers the decoy run too: the filter case fails,
    naming the decoy run; the unfiltered stream is still fine."""
    results = judge_ordering(MUX_SPEC, tmp_path, run_server(honour_filters=False))
    assert failing(results) == {FILTER}, {k: r.message for k, r in results.items()}
    message = results[FILTER].message
    assert message.startswith("filter:")
    assert "Expected: run_id 'run_" in message
    assert "_thr_decoy'" in message.split("Actual:")[1].splitlines()[0]
