"""The terminal and error suite: one terminal event, closing (or staying open) after it,
failures reported as documented, and documented HTTP errors answered before any stream.

The first part records transcripts through the Recorder from chosen bytes and ends, so
each check is judged exactly as a run judges it, without a network. The second part runs
the whole pipeline against small servers built to break one rule each, and against
correct ones, with the capture's real bounds (floored at 2 s) doing the waiting.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from gathered import gathered, provoked_as
from one_endpoint import spec_of
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

import streamconform.checks  # noqa: F401  (registers every check)
from streamconform.capture.recorder import Recorder
from streamconform.checks.registry import REGISTRY
from streamconform.core.evidence import primary
from streamconform.core.outcome import Outcome, Result
from streamconform.core.redact import Redactor
from streamconform.core.transcript import End, Transcript
from streamconform.engine.run import ConformanceRun, RunConfig
from streamconform.engine.verdict import judge
from streamconform.model import load_spec, resolve_variables
from streamconform.model.grammar import parse_grammar
from streamconform.model.spec import Endpoint, EventsSpec, EventType, Failure, Framing
from streamconform.servers import BackgroundServer, reference_app_for

ROOT = Path(__file__).resolve().parents[1]
PRESENT = "terminal.event.present"
ONCE = "terminal.event.once"
CLOSES = "terminal.stream.closes"
STAYS_OPEN = "terminal.stream.stays-open"
FAILURE = "terminal.failure.reported"
ERRORS = "http.error.documented"

# the rules this file covers (the suite may hold others, tested elsewhere)
RULES = (PRESENT, ONCE, CLOSES, STAYS_OPEN, FAILURE, ERRORS)

PASS, FAIL, SKIP, UNTESTABLE = Outcome.PASS, Outcome.FAIL, Outcome.SKIP, Outcome.UNTESTABLE

# -- Endpoints -----------------------------------------------------------------------------

OBJECT: dict[str, Any] = {"type": "object"}
MESSAGE = {
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string", "minLength": 1}},
}
RUN = {"type": "object", "required": ["run_id"], "properties": {"run_id": {"type": "string"}}}


def endpoint(
    framing: Framing,
    types: Mapping[str, Any],
    *,
    type_from: str = "sse-event",
    **rules: Any,
) -> Endpoint:
    content_type = "text/event-stream" if framing is Framing.SSE else "application/x-ndjson"
    return Endpoint(
        name="events",
        method="GET",
        path="/events",
        framing=framing,
        content_types=(content_type,),
        events=EventsSpec(
            type_from=type_from,
            types={label: EventType(label, schema) for label, schema in types.items()},
            **rules,
        ),
    )


# a finite stream ending with done, or with error when the run fails
FINITE = endpoint(
    Framing.SSE,
    {"tick": OBJECT, "done": OBJECT, "error": MESSAGE},
    terminal=("done", "error"),
    failures=(Failure("error", {"prompt": "[[fail]]"}),),
)
# the same with an order: a run starts, ticks, and ends
ORDERED = endpoint(
    Framing.SSE,
    {"start": OBJECT, "tick": OBJECT, "done": OBJECT, "error": MESSAGE},
    terminal=("done", "error"),
    failures=(Failure("error", {"prompt": "[[fail]]"}),),
    grammar=parse_grammar("start tick* (done | error)"),
)
# a long-lived stream multiplexing runs by run_id; a run ends with done or failed
MUX = endpoint(
    Framing.SSE,
    {"start": RUN, "token": RUN, "done": RUN, "failed": RUN},
    key_field="run_id",
    terminal=("done", "failed"),
    long_lived=True,
    failures=(Failure("failed", {"prompt": "[[fail]]"}),),
)
# NDJSON whose terminal is a base type: every result.<subtype> ends the stream
RESULTS = endpoint(
    Framing.NDJSON,
    {"system.init": OBJECT, "result.success": OBJECT, "result.error_max_turns": OBJECT},
    type_from="json-field",
    subtype_field="subtype",
    terminal=("result",),
)
NO_TERMINAL = endpoint(Framing.SSE, {"tick": OBJECT})


# -- Bodies --------------------------------------------------------------------------------


def ev(label: str, data: Mapping[str, Any] | None = None) -> bytes:
    """One SSE event labelled by its `event:` field, with JSON data."""
    return f"event: {label}\ndata: {json.dumps(dict(data or {}))}\n\n".encode()


def run_ev(label: str, run_id: str) -> bytes:
    return ev(label, {"run_id": run_id})


def line(obj: Mapping[str, Any]) -> bytes:
    """One NDJSON line."""
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


PING = b": ping\n\n"
TICK = ev("tick", {"n": 0})
DONE = ev("done")
BOOM = ev("error", {"message": "boom"})


# -- Transcripts ---------------------------------------------------------------------------

CHUNK_GAP = 0.1  # piece i arrives at (i + 1) * CHUNK_GAP
END_GAP = 0.25  # the capture ends this long after the last piece


@dataclass(frozen=True)
class Story:
    """A recorded response: its pieces, how the capture ended, and what the run captured."""

    ep: Endpoint
    pieces: tuple[bytes, ...]
    end: End = End.CLOSED
    captures: Mapping[str, object] = field(default_factory=dict)
    variant: str = ""


def record(story: Story) -> Transcript:
    rec = Recorder("spec", story.ep)
    media = story.ep.content_types[0]
    rec.response(200, [("content-type", media), ("cache-control", "no-cache")], time=0.01)
    for i, piece in enumerate(story.pieces):
        rec.chunk(piece, (i + 1) * CHUNK_GAP)
    duration = len(story.pieces) * CHUNK_GAP + END_GAP
    if story.end is End.CLOSED:
        rec.closed(duration)
    else:
        rec.finish(story.end, f"after {duration:.2f} s")
    rec.captures = dict(story.captures)
    rec.variant = story.variant
    return rec.transcript(duration)


def verdict(check_id: str, story: Story) -> Result:
    """The graded result of one check on one recorded transcript, as a run reports it."""
    chk = REGISTRY[check_id]
    return judge(
        chk,
        spec_of(story.ep),
        story.ep,
        provoked_as(chk, story.ep, record(story)),
        target="test",
        strict=False,
        redactor=Redactor(),
    )


def row(rule: str, what: str, story: Story, outcome: Outcome, *words: str) -> Any:
    """A table row, named after the rule and what the story does to it."""
    return pytest.param(rule, story, outcome, words, id=f"{rule}:{outcome.value}:{what}")


R1 = {"run_id": "r1"}

UNIT_CASES = [
    # -- terminal.event.present
    row(
        PRESENT,
        "closes-without-terminal",
        Story(FINITE, (TICK, TICK)),
        FAIL,
        "Expected: one of done, error before the end",
        "Actual: the stream ended (closed) after event #1 with no terminal event",
    ),
    row(
        PRESENT,
        "falls-silent-without-terminal",
        Story(FINITE, (TICK,), End.IDLE_TIMEOUT),
        FAIL,
        "Actual: the stream ended (idle-timeout) after event #0 with no terminal event",
    ),
    row(
        PRESENT,
        "runs-past-its-maximum-without-terminal",
        Story(FINITE, (TICK, PING, PING), End.MAX_DURATION),
        FAIL,
        "ended (max-duration) after event #0",
    ),
    row(
        PRESENT,
        "heartbeats-after-the-last-event",
        Story(FINITE, (TICK, PING, PING, PING)),
        FAIL,
        "ended (closed) after event #0",
    ),
    row(
        PRESENT,
        "a-comment-naming-the-terminal",
        Story(FINITE, (TICK, b": done\n\n")),
        FAIL,
        "after event #0",
    ),
    row(
        PRESENT,
        "an-event-line-without-data-is-never-dispatched",
        Story(FINITE, (TICK, b"event: done\n\n")),
        FAIL,
        "after event #0",
    ),
    row(PRESENT, "empty-stream", Story(FINITE, ()), FAIL, "closed) before any event"),
    row(
        PRESENT,
        "only-another-runs-terminal",
        Story(
            MUX,
            (run_ev("start", "r1"), run_ev("done", "r2"), run_ev("token", "r1")),
            End.IDLE_TIMEOUT,
            R1,
        ),
        FAIL,
        "after event #2 with no terminal event",
    ),
    row(PRESENT, "terminal-is-the-last-event", Story(FINITE, (TICK, TICK, DONE)), PASS),
    row(PRESENT, "failure-terminal", Story(FINITE, (TICK, BOOM)), PASS),
    row(
        PRESENT,
        "terminal-then-left-open-is-another-rule",
        Story(FINITE, (TICK, DONE, PING), End.NOT_CLOSED),
        PASS,
    ),
    row(
        PRESENT,
        "awaited-run-ends-among-others",
        Story(
            MUX,
            (
                run_ev("start", "r2"),
                run_ev("start", "r1"),
                run_ev("done", "r2"),
                run_ev("token", "r1"),
                run_ev("done", "r1"),
            ),
            End.TERMINAL,
            R1,
        ),
        PASS,
    ),
    row(
        PRESENT,
        "no-awaited-run-so-any-run-ends-it",
        Story(MUX, (run_ev("start", "r2"), run_ev("done", "r2")), End.TERMINAL),
        PASS,
    ),
    row(
        PRESENT,
        "subtype-of-a-terminal-base-type",
        Story(
            RESULTS,
            (
                line({"type": "system", "subtype": "init"}),
                line({"type": "result", "subtype": "error_max_turns"}),
            ),
        ),
        PASS,
    ),
    row(PRESENT, "no-terminal-declared", Story(NO_TERMINAL, (TICK,)), SKIP, "no terminal"),
    # -- terminal.event.once
    row(
        ONCE,
        "two-terminal-events",
        Story(FINITE, (TICK, DONE, DONE)),
        FAIL,
        "Expected: one terminal event",
        "Actual: another terminal event, done, after #1",
        "Where: event #2",
    ),
    row(
        ONCE,
        "done-then-error",
        Story(FINITE, (DONE, BOOM)),
        FAIL,
        "Actual: another terminal event, error, after #0",
    ),
    row(
        ONCE,
        "awaited-run-ends-twice",
        Story(
            MUX,
            (run_ev("start", "r1"), run_ev("done", "r1"), run_ev("failed", "r1")),
            End.TERMINAL,
            R1,
        ),
        FAIL,
        "another terminal event, failed, after #1",
    ),
    row(
        ONCE,
        "two-terminal-events-left-open",
        Story(FINITE, (DONE, PING, DONE), End.NOT_CLOSED),
        FAIL,
        "another terminal event, done, after #0",
    ),
    row(ONCE, "one-terminal-event", Story(FINITE, (TICK, DONE)), PASS),
    row(
        ONCE,
        "one-terminal-then-silent",
        Story(FINITE, (TICK, DONE), End.IDLE_TIMEOUT),
        PASS,
    ),
    row(ONCE, "no-terminal-is-another-rule", Story(FINITE, (TICK,)), PASS),
    row(
        ONCE,
        "one-terminal-per-run",
        Story(
            MUX,
            (
                run_ev("start", "r1"),
                run_ev("start", "r2"),
                run_ev("done", "r2"),
                run_ev("done", "r1"),
            ),
            End.TERMINAL,
            R1,
        ),
        PASS,
    ),
    row(
        ONCE,
        "two-subtypes-of-one-base",
        Story(
            RESULTS,
            (
                line({"type": "result", "subtype": "success"}),
                line({"type": "result", "subtype": "error_max_turns"}),
            ),
        ),
        FAIL,
        "another terminal event, result.error_max_turns, after #0",
    ),
    # -- terminal.stream.closes
    row(
        CLOSES,
        "left-open-after-terminal",
        Story(FINITE, (TICK, DONE, PING), End.NOT_CLOSED),
        FAIL,
        "Expected: the connection closed after the terminal event",
        "Actual: still open after 0.55 s",
    ),
    row(CLOSES, "closed-after-terminal", Story(FINITE, (TICK, DONE)), PASS),
    row(
        CLOSES,
        "fell-silent",
        Story(FINITE, (TICK,), End.IDLE_TIMEOUT),
        UNTESTABLE,
        "ended by idle-timeout",
    ),
    row(
        CLOSES,
        "ran-past-its-maximum",
        Story(FINITE, (TICK, PING), End.MAX_DURATION),
        UNTESTABLE,
        "ended by max-duration",
    ),
    row(
        CLOSES,
        "long-lived-stream",
        Story(MUX, (run_ev("done", "r1"),), End.TERMINAL, R1),
        SKIP,
        "long-lived",
    ),
    # -- terminal.stream.stays-open
    row(
        STAYS_OPEN,
        "closed-with-the-run",
        Story(MUX, (run_ev("start", "r1"), run_ev("done", "r1")), End.CLOSED, R1),
        FAIL,
        "Expected: the stream open after the run ended",
        "Actual: closed 0.250 s after the run's end",
    ),
    row(
        STAYS_OPEN,
        "closed-with-another-runs-end-after-ours",
        Story(
            MUX,
            (run_ev("start", "r1"), run_ev("done", "r1"), PING, run_ev("done", "r2")),
            End.CLOSED,
            R1,
        ),
        FAIL,
        "closed 0.450 s after the run's end",
    ),
    row(
        STAYS_OPEN,
        "open-with-heartbeats-after-the-run",
        Story(MUX, (run_ev("start", "r1"), run_ev("done", "r1"), PING), End.TERMINAL, R1),
        PASS,
    ),
    row(
        STAYS_OPEN,
        "run-never-ended",
        Story(MUX, (run_ev("start", "r1"),), End.IDLE_TIMEOUT, R1),
        UNTESTABLE,
        "never ended",
    ),
    row(
        STAYS_OPEN,
        "only-another-run-ended",
        Story(MUX, (run_ev("start", "r1"), run_ev("done", "r2")), End.CLOSED, R1),
        UNTESTABLE,
        "never ended",
    ),
    row(STAYS_OPEN, "finite-stream", Story(FINITE, (DONE,)), SKIP, "only a long-lived stream"),
    # -- terminal.failure.reported
    row(
        FAILURE,
        "error-event-then-closed",
        Story(FINITE, (TICK, BOOM), variant="failure:error"),
        PASS,
    ),
    row(
        FAILURE,
        "success-terminal-instead",
        Story(FINITE, (TICK, DONE), variant="failure:error"),
        FAIL,
        "Expected: the failure's terminal event, error",
        "Actual: done",
    ),
    row(
        FAILURE,
        "no-terminal-at-all",
        Story(FINITE, (TICK,), variant="failure:error"),
        FAIL,
        "Actual: no terminal event (closed)",
    ),
    row(
        FAILURE,
        "error-event-then-left-open",
        Story(FINITE, (TICK, BOOM, PING), End.NOT_CLOSED, variant="failure:error"),
        FAIL,
        "Expected: the stream closed after the failure",
        "Actual: it ended by not-closed",
    ),
    row(
        FAILURE,
        "error-event-breaks-its-schema",
        Story(FINITE, (TICK, ev("error", {"code": 3})), variant="failure:error"),
        FAIL,
        "Expected: the error event valid against its schema",
        "'message' is a required property",
    ),
    row(
        FAILURE,
        "long-lived-run-fails-and-the-stream-stays",
        Story(
            MUX,
            (run_ev("start", "r1"), run_ev("failed", "r1"), PING),
            End.TERMINAL,
            R1,
            "failure:failed",
        ),
        PASS,
    ),
    row(
        FAILURE,
        "long-lived-stream-closed-with-the-failed-run",
        Story(
            MUX,
            (run_ev("start", "r1"), run_ev("failed", "r1")),
            End.CLOSED,
            R1,
            "failure:failed",
        ),
        FAIL,
        "after the failure",
        "it ended by closed",
    ),
    row(FAILURE, "no-failure-documented", Story(NO_TERMINAL, (TICK,)), SKIP, "no mid-stream"),
    # a failed run obeys the rules of any run
    row(
        FAILURE,
        "events-after-the-error-that-closes-the-stream",
        Story(FINITE, (TICK, BOOM, TICK), variant="failure:error"),
        FAIL,
        "Expected: nothing after the terminal event",
        "Actual: an event, tick, after #1",
    ),
    row(
        FAILURE,
        "a-second-terminal-after-the-error",
        Story(FINITE, (TICK, BOOM, DONE), variant="failure:error"),
        FAIL,
        "Expected: one terminal event",
    ),
    row(
        FAILURE,
        "out-of-the-grammars-order-before-the-error",
        Story(ORDERED, (TICK, BOOM), variant="failure:error"),
        FAIL,
        "Expected: one of start",
        "Actual: tick after the start",
    ),
    row(
        FAILURE,
        "in-the-grammars-order",
        Story(ORDERED, (ev("start"), TICK, BOOM), variant="failure:error"),
        PASS,
    ),
]


@pytest.mark.parametrize(("rule", "story", "outcome", "words"), UNIT_CASES)
def test_recorded_verdicts(rule: str, story: Story, outcome: Outcome, words: Sequence[str]) -> None:
    """Each rule judged on a recorded transcript: the outcome, and what the message says."""
    result = verdict(rule, story)
    assert result.outcome is outcome, result.message
    for word in words:
        assert word in result.message, f"{word!r} not in:\n{result.message}"


def test_a_second_terminal_is_reported_where_it_starts() -> None:
    """The finding of a repeated terminal points at the second one, not the first."""
    story = Story(FINITE, (TICK, DONE, PING, DONE))
    (finding,) = REGISTRY[ONCE].run(record(story), FINITE)
    assert finding.event_index == 2
    assert finding.offset == len(TICK + DONE + PING)


def test_once_counts_per_run_even_without_an_awaited_run() -> None:
    """On a multiplexed stream the rule is one terminal per run: two runs that end once
    each are legal even when the capture awaited no particular run."""
    story = Story(
        MUX,
        (run_ev("start", "r1"), run_ev("start", "r2"), run_ev("done", "r1"), run_ev("done", "r2")),
        End.TERMINAL,
    )
    result = verdict(ONCE, story)
    assert result.outcome is PASS, result.message


def test_a_long_lived_stream_broken_after_the_run_did_not_stay_open() -> None:
    """A connection that breaks right after the run's end is not a stream that stayed open
    and usable: the rule must not pass it."""
    story = Story(MUX, (run_ev("start", "r1"), run_ev("done", "r1")), End.READ_ERROR, R1)
    result = verdict(STAYS_OPEN, story)
    assert result.outcome is not PASS, result


def test_the_rules_covered_here_are_in_the_terminal_suite() -> None:
    assert {rule: REGISTRY[rule].suite for rule in RULES} == dict.fromkeys(RULES, "terminal")


# -- Through real servers ------------------------------------------------------------------

GAP = 0.03  # between paced pieces
LINGER_STEPS = 60  # a server that keeps a stream open gives up after 60 x 0.1 s at most

FINITE_SPEC = """\
streamconform: 1
name: finite
title: A finite event stream for terminal tests
source: {document: test}
variables:
  prompt: {default: hello}
endpoints:
  events:
    method: GET
    path: /events
    framing: @FRAMING@
    content_types: [@CONTENT_TYPE@]
    query: {prompt: "${prompt}"}
    events:
      type_from: @TYPE_FROM@
      data: json
      types:
        tick: {schema: {type: object}}
        done: {schema: {type: object}}
        error:
          schema:
            type: object
            required: [message]
            properties: {message: {type: string, minLength: 1}}
      terminal: [done, error]
      failures:
        - terminal: error
          provoke: {variables: {prompt: "[[fail]]"}@REFERENCE_ONLY@}
    timing: {response_timeout: 2, idle_timeout: 1, max_duration: 2, close_after_terminal: 1}
requirements:
  - id: ends
    quote: A run ends with done, or with error when it fails, and the stream closes
    level: MUST
    endpoints: [events]
    checks: [terminal.event.present, terminal.event.once, terminal.stream.closes]
"""


@dataclass(frozen=True)
class Wire:
    """How one framing writes a labelled event on the wire."""

    framing: str
    content_type: str
    type_from: str

    def event(self, label: str, data: Mapping[str, Any] | None = None) -> bytes:
        if self.framing == "sse":
            return ev(label, data)
        return line({"type": label, **(data or {})})

    def spec(self, *, reference_only: bool = False) -> str:
        return (
            FINITE_SPEC.replace("@FRAMING@", self.framing)
            .replace("@CONTENT_TYPE@", self.content_type)
            .replace("@TYPE_FROM@", self.type_from)
            .replace("@REFERENCE_ONLY@", ", reference_only: true" if reference_only else "")
        )


SSE = Wire("sse", "text/event-stream", "sse-event")
NDJSON = Wire("ndjson", "application/x-ndjson", "json-field")

# what a server sends, then what it does: close, send heartbeats, or fall silent
Reply = tuple[Sequence[bytes], str]


def finite_app(wire: Wire, ok: Reply, failed: Reply | None = None) -> Starlette:
    """A stream of paced pieces; a prompt holding [[fail]] gets the `failed` reply."""

    async def handler(request: Request) -> Response:
        fail = failed is not None and "[[fail]]" in request.query_params.get("prompt", "")
        pieces, then = failed if fail and failed is not None else ok

        async def body() -> AsyncIterator[bytes]:
            for piece in pieces:
                await asyncio.sleep(GAP)
                yield piece
            for _ in range(LINGER_STEPS if then != "close" else 0):
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.1)
                if then == "heartbeats":
                    yield PING

        return StreamingResponse(
            body(), media_type=wire.content_type, headers={"cache-control": "no-cache"}
        )

    return Starlette(routes=[Route("/events", handler)])


@dataclass(frozen=True)
class Live:
    """What a run against a live server gave: results by check, transcripts by variant."""

    results: dict[str, Result]
    transcripts: dict[str, Transcript]

    def outcomes(self) -> dict[str, Outcome]:
        return {check: r.outcome for check, r in self.results.items()}


def run_live(
    spec_text: str,
    tmp_path: Path,
    app: Starlette,
    *,
    checks: Iterable[str] | None = None,
    variants: Iterable[str] = (),
) -> Live:
    """Judge the rules of this file (or some of them) on the spec's `events` endpoint
    against the app; `variants` names the captures to hand back ("" is the plain one)."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text)
    wanted = set(RULES if checks is None else checks)
    with BackgroundServer(app) as server:
        run = ConformanceRun(RunConfig(specs=[spec], target=server.url), environ={})
        try:
            cases = [
                c
                for c in run.cases("terminal")
                if c.endpoint.name == "events" and c.check.id in wanted
            ]
            results = {r.check: r for r in run.judge_all(cases)}
            (loaded,) = run.specs
            events = loaded.endpoints["events"]
            transcripts = {v: primary(gathered(run, loaded, events, v)) for v in variants}
            return Live(results, transcripts)
        finally:
            run.close()


def said(result: Result, *words: str) -> None:
    for word in words:
        assert word in result.message, f"{word!r} not in:\n{result.message}"


@pytest.mark.parametrize("wire", [SSE, NDJSON], ids=["sse", "ndjson"])
def test_a_correct_finite_server_passes_the_suite(tmp_path: Path, wire: Wire) -> None:
    """Ends with its terminal, closes at once, and ends a failed run with its error event."""
    ok = ([wire.event("tick"), wire.event("tick"), wire.event("done")], "close")
    failed = ([wire.event("tick"), wire.event("error", {"message": "boom"})], "close")
    live = run_live(wire.spec(), tmp_path, finite_app(wire, ok, failed))
    assert live.outcomes() == {
        PRESENT: PASS,
        ONCE: PASS,
        CLOSES: PASS,
        FAILURE: PASS,
        STAYS_OPEN: SKIP,
        ERRORS: SKIP,
    }, {k: r.message for k, r in live.results.items()}
    assert live.results[FAILURE].message == "failure:error: pass"


LIVE_FINITE_CASES = [
    pytest.param(
        SSE,
        [TICK, TICK],
        {PRESENT: FAIL, ONCE: PASS},
        PRESENT,
        ("Actual: the stream ended (closed) after event #1 with no terminal event",),
        id=f"{PRESENT}:fail:sse-closes-without-terminal",
    ),
    pytest.param(
        NDJSON,
        [NDJSON.event("tick"), NDJSON.event("tick")],
        {PRESENT: FAIL, ONCE: PASS},
        PRESENT,
        ("Actual: the stream ended (closed) after event #1 with no terminal event",),
        id=f"{PRESENT}:fail:ndjson-closes-without-terminal",
    ),
    pytest.param(
        SSE,
        [TICK, PING, PING, PING],
        {PRESENT: FAIL, ONCE: PASS},
        PRESENT,
        ("ended (closed) after event #0",),
        id=f"{PRESENT}:fail:heartbeats-after-the-last-event",
    ),
    pytest.param(
        SSE,
        [TICK, DONE, DONE],
        {PRESENT: PASS, ONCE: FAIL, CLOSES: PASS},
        ONCE,
        ("Actual: another terminal event, done, after #1", "Where: event #2"),
        id=f"{ONCE}:fail:two-terminal-events",
    ),
]


@pytest.mark.parametrize(("wire", "pieces", "outcomes", "rule", "words"), LIVE_FINITE_CASES)
def test_broken_finite_servers(
    tmp_path: Path,
    wire: Wire,
    pieces: list[bytes],
    outcomes: dict[str, Outcome],
    rule: str,
    words: Sequence[str],
) -> None:
    """A server that closes: the broken rule fails with its finding, the others hold."""
    live = run_live(wire.spec(), tmp_path, finite_app(wire, (pieces, "close")), checks=outcomes)
    assert live.outcomes() == outcomes, {k: r.message for k, r in live.results.items()}
    said(live.results[rule], *words)


def test_a_silent_stream_fails_present_without_hanging(tmp_path: Path) -> None:
    """A stream that stops sending (and stays open) is cut at the idle bound, not awaited."""
    started = time.monotonic()
    live = run_live(
        SSE.spec(),
        tmp_path,
        finite_app(SSE, ([TICK], "silence")),
        checks={PRESENT, CLOSES},
        variants=[""],
    )
    assert time.monotonic() - started < 15
    assert live.transcripts[""].end is End.IDLE_TIMEOUT
    assert live.outcomes() == {PRESENT: FAIL, CLOSES: UNTESTABLE}
    said(live.results[PRESENT], "ended (idle-timeout) after event #0 with no terminal event")


@pytest.mark.parametrize(
    ("then", "outcome", "end"),
    [
        pytest.param("heartbeats", FAIL, End.NOT_CLOSED, id=f"{CLOSES}:fail:heartbeats-after"),
        pytest.param("close", PASS, End.CLOSED, id=f"{CLOSES}:pass:closes-right-after"),
    ],
)
def test_a_finished_stream_is_closed(tmp_path: Path, then: str, outcome: Outcome, end: End) -> None:
    """After done the server must close; one kept open with heartbeats is given up on once
    close_after_terminal (1 s, floored at 2 s) has passed, and reported still open."""
    live = run_live(
        SSE.spec(),
        tmp_path,
        finite_app(SSE, ([TICK, DONE], then)),
        checks={PRESENT, ONCE, CLOSES},
        variants=[""],
    )
    t = live.transcripts[""]
    assert t.end is end, (t.end, t.end_detail)
    assert live.outcomes() == {PRESENT: PASS, ONCE: PASS, CLOSES: outcome}
    if outcome is FAIL:
        said(live.results[CLOSES], "Actual: still open after")
        # the bound was waited out in full, and not much longer
        assert t.duration - t.events[-1].time >= 2.0, (t.events[-1].time, t.duration)
        assert t.duration < 6.0, t.duration
    else:
        assert t.duration < 2.0


FAILURE_CASES = [
    pytest.param(
        ([TICK, ev("error", {"message": "boom"})], "close"),
        PASS,
        ("failure:error: pass",),
        id=f"{FAILURE}:pass:error-event-then-closed",
    ),
    pytest.param(
        ([TICK, DONE], "close"),
        FAIL,
        ("Expected: the failure's terminal event, error", "Actual: done"),
        id=f"{FAILURE}:fail:success-terminal-instead",
    ),
    pytest.param(
        ([TICK, ev("error", {"message": "boom"})], "heartbeats"),
        FAIL,
        ("Expected: the stream closed after the failure", "Actual: it ended by not-closed"),
        id=f"{FAILURE}:fail:error-event-then-left-open",
    ),
    pytest.param(
        ([TICK, ev("error", {"message": "boom"}), TICK], "close"),
        FAIL,
        ("Expected: nothing after the terminal event", "Actual: an event, tick, after #1"),
        id=f"{FAILURE}:fail:an-event-after-the-error",
    ),
    pytest.param(
        ([TICK, ev("error", {"code": 3})], "close"),
        FAIL,
        (
            "Expected: the error event valid against its schema",
            "'message' is a required property",
        ),
        id=f"{FAILURE}:fail:error-event-breaks-its-schema",
    ),
]


@pytest.mark.parametrize(("failed", "outcome", "words"), FAILURE_CASES)
def test_a_failed_run_is_reported(
    tmp_path: Path, failed: Reply, outcome: Outcome, words: Sequence[str]
) -> None:
    """The failure variant sends prompt=[[fail]]; the server must end that run with a valid
    error event and close, while its plain runs end with done."""
    app = finite_app(SSE, ([TICK, DONE], "close"), failed)
    live = run_live(SSE.spec(), tmp_path, app, checks={FAILURE}, variants=["failure:error"])
    result = live.results[FAILURE]
    assert result.outcome is outcome, result.message
    said(result, *words)
    t = live.transcripts["failure:error"]
    assert t.variant == "failure:error"
    assert "prompt=%5B%5Bfail%5D%5D" in t.request.url, t.request.url
    if outcome is FAIL:
        assert result.message.startswith("failure:error: terminal.failure.reported (MUST)")
        assert result.message.endswith("(all: failure:error: fail)")


def test_a_reference_only_failure_is_untestable_on_a_target(tmp_path: Path) -> None:
    """How to make a target's run fail is unknown when the spec says only the reference
    server knows: the case is untestable, and says why."""
    app = finite_app(SSE, ([TICK, DONE], "close"))
    live = run_live(SSE.spec(reference_only=True), tmp_path, app, checks={FAILURE})
    result = live.results[FAILURE]
    assert result.outcome is UNTESTABLE, result.message
    said(result, "failure:error", "reference server", "(all: failure:error: untestable)")


# A long-lived stream multiplexing runs: a run starts on POST /runs; every open stream gets
# its events. Another client's run has just ended when a stream opens.
RUNS_SPEC = """\
streamconform: 1
name: runs
title: A long-lived run stream for terminal tests
source: {document: test}
endpoints:
  events:
    method: GET
    path: /events
    framing: sse
    content_types: [text/event-stream]
    trigger: start_run
    events:
      type_from: sse-event
      data: json
      key_field: run_id
      types:
        run_started:
          schema: &run
            type: object
            required: [run_id]
            properties: {run_id: {type: string, minLength: 1}}
        token: {schema: *run}
        run_finished: {schema: *run}
      terminal: [run_finished]
      long_lived: true
    timing: {response_timeout: 2, idle_timeout: 1, max_duration: 3, close_after_terminal: 1}
  start_run:
    method: POST
    path: /runs
    success: [201]
    timing: {response_timeout: 2}
flows:
  start_run:
    steps:
      - endpoint: start_run
        capture: {run_id: /run_id}
requirements:
  - id: outlives
    quote: The stream stays open after a run ends
    level: MUST
    endpoints: [events]
    checks: [terminal.stream.stays-open]
"""
RUN_STEPS = ("run_started", "token", "token", "run_finished")


def runs_app(*, close_with_run: bool, abort: bool = False) -> Starlette:
    """Runs start on POST /runs; when one ends, every stream is closed (`close_with_run`),
    broken off mid-body (`abort` too), or kept open with heartbeats."""
    subscribers: list[asyncio.Queue[bytes | None]] = []
    run_ids = itertools.count(1)
    tasks: set[asyncio.Task[None]] = set()

    async def produce(run_id: str) -> None:
        for label in RUN_STEPS:
            await asyncio.sleep(GAP)
            for queue in list(subscribers):
                queue.put_nowait(run_ev(label, run_id))
        if close_with_run:
            for queue in list(subscribers):
                queue.put_nowait(None)

    async def start_run(request: Request) -> Response:
        run_id = f"run_{next(run_ids)}"
        task = asyncio.get_running_loop().create_task(produce(run_id))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return JSONResponse({"run_id": run_id}, status_code=201)

    async def events(request: Request) -> Response:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        subscribers.append(queue)  # before the headers go out: no event can slip past

        async def body() -> AsyncIterator[bytes]:
            try:
                yield run_ev("run_started", "run_other") + run_ev("run_finished", "run_other")
                for _ in range(LINGER_STEPS):
                    if await request.is_disconnected():
                        return
                    try:
                        item = await asyncio.wait_for(queue.get(), 0.1)
                    except TimeoutError:
                        yield PING
                        continue
                    if item is None and abort:
                        raise ConnectionAbortedError("the run ended, so the stream is dropped")
                    if item is None:
                        return
                    yield item
            finally:
                subscribers.remove(queue)

        return StreamingResponse(
            body(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )

    return Starlette(
        routes=[
            Route("/events", events, methods=["GET"]),
            Route("/runs", start_run, methods=["POST"]),
        ]
    )


@pytest.mark.parametrize(
    ("close_with_run", "outcome", "end"),
    [
        pytest.param(True, FAIL, End.CLOSED, id=f"{STAYS_OPEN}:fail:closed-when-the-run-ends"),
        pytest.param(False, PASS, End.TERMINAL, id=f"{STAYS_OPEN}:pass:heartbeats-after-the-run"),
    ],
)
def test_a_long_lived_stream_outlives_its_run(
    tmp_path: Path, close_with_run: bool, outcome: Outcome, end: End
) -> None:
    """The capture waits for the run it started (not another run's end), then watches the
    stream: closing it with the run fails, keeping it open passes."""
    live = run_live(RUNS_SPEC, tmp_path, runs_app(close_with_run=close_with_run), variants=[""])
    t = live.transcripts[""]
    assert t.end is end, (t.end, t.end_detail)
    assert t.captures == {"run_id": "run_1"}
    assert live.outcomes() == {
        PRESENT: PASS,
        ONCE: PASS,
        STAYS_OPEN: outcome,
        CLOSES: SKIP,
        FAILURE: SKIP,
        ERRORS: SKIP,
    }, {k: r.message for k, r in live.results.items()}
    if outcome is FAIL:
        said(
            live.results[STAYS_OPEN],
            "Expected: the stream open after the run ended",
            "s after the run's end",
        )


def test_a_long_lived_stream_broken_off_with_its_run_does_not_pass(tmp_path: Path) -> None:
    """A server that drops the connection mid-body when the run ends did not keep the
    stream open and usable: stays-open must not pass it."""
    live = run_live(RUNS_SPEC, tmp_path, runs_app(close_with_run=True, abort=True), variants=[""])
    t = live.transcripts[""]
    assert t.end is End.READ_ERROR, (t.end, t.end_detail)
    assert live.results[PRESENT].outcome is PASS
    assert live.results[STAYS_OPEN].outcome is not PASS, live.results[STAYS_OPEN]


ERRORS_SPEC = """\
streamconform: 1
name: errors
title: Documented errors for terminal tests
source: {document: test}
variables:
  api_key: {default: key-good}
  item_id: {default: it_1}
  missing_item_id: {default: it_missing}
auth:
  key: {type: header, name: X-API-Key, value: "${api_key}"}
endpoints:
  events:
    method: GET
    path: /items/{item_id}/events
    framing: sse
    content_types: [text/event-stream]
    auth: key
    errors:
      - status: 401
        error: unauthorized
        when: Missing API key
        provoke: {omit_auth: true}
      - status: 404
        error: not_found
        when: Unknown item
        provoke: {variables: {item_id: "${missing_item_id}"}}
@PAYMENT@
    error_schema:
      type: object
      required: [error, message]
      properties: {error: {type: string}, message: {type: string}}
    events:
      type_from: sse-event
      data: json
      types:
        tick: {schema: {type: object}}
        done: {schema: {type: object}}
      terminal: [done]
    timing: {response_timeout: 2, idle_timeout: 1, max_duration: 2, close_after_terminal: 1}
requirements:
  - id: errors
    quote: Errors are answered with their status and a JSON body
    level: MUST
    endpoints: [events]
    checks: [http.error.documented]
"""
PAYMENT = """\
      - status: 402
        error: no_credits
        when: Out of credits
"""


def errors_spec(*, payment: bool = True) -> str:
    return ERRORS_SPEC.replace("@PAYMENT@\n", PAYMENT if payment else "")


def errors_app(mode: str = "correct") -> Starlette:
    """A keyed item stream; `mode` names the one way it answers an error wrongly."""

    async def handler(request: Request) -> Response:
        if request.headers.get("x-api-key") != "key-good":
            body = {"error": "unauthorized", "message": "missing API key"}
            if mode == "stream-without-key":
                return stream()
            if mode == "401-as-event-stream":
                return Response(json.dumps(body), 401, media_type="text/event-stream")
            if mode == "401-plain-text":
                return PlainTextResponse("Unauthorized", 401)
            if mode == "401-wrong-code":
                body["error"] = "forbidden"
            return JSONResponse(body, 401)
        if request.path_params["item_id"] != "it_1":
            if mode == "500-for-unknown":
                return JSONResponse({"error": "internal", "message": "KeyError"}, 500)
            return JSONResponse({"error": "not_found", "message": "no such item"}, 404)
        return stream()

    def stream() -> Response:
        async def body() -> AsyncIterator[bytes]:
            for piece in (TICK, DONE):
                await asyncio.sleep(GAP)
                yield piece

        return StreamingResponse(
            body(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )

    return Starlette(routes=[Route("/items/{item_id}/events", handler)])


def test_a_correct_server_answers_every_provokable_error(tmp_path: Path) -> None:
    """401 and 404 are provoked and pass; 402 has no provocation, so the case as a whole
    is untestable, and its message lists every documented error's outcome."""
    live = run_live(
        errors_spec(),
        tmp_path,
        errors_app(),
        checks={ERRORS},
        variants=["error:401", "error:404"],
    )
    result = live.results[ERRORS]
    assert result.outcome is UNTESTABLE, result.message
    said(
        result,
        "error:402: the spec gives no way to provoke error:402",
        "error:401: pass; error:404: pass; error:402: untestable",
    )
    missing_key, unknown = live.transcripts["error:401"], live.transcripts["error:404"]
    assert (missing_key.status, missing_key.end) == (401, End.NOT_A_STREAM)
    assert "x-api-key" not in {name.lower() for name, _ in missing_key.request.headers}
    assert (unknown.status, unknown.end) == (404, End.NOT_A_STREAM)
    assert unknown.request.url.endswith("/items/it_missing/events")


def test_without_an_unprovokable_error_a_correct_server_passes(tmp_path: Path) -> None:
    live = run_live(errors_spec(payment=False), tmp_path, errors_app(), checks={ERRORS})
    result = live.results[ERRORS]
    assert result.outcome is PASS, result.message
    assert result.message == "error:401: pass; error:404: pass"


BROKEN_ERROR_CASES = [
    pytest.param(
        "stream-without-key",
        "error:401",
        ("Actual: status 200, a stream: 'event: tick",),
        id=f"{ERRORS}:fail:200-stream-for-a-missing-key",
    ),
    pytest.param(
        "500-for-unknown",
        "error:404",
        ("Expected: status 404 (Unknown item)", "Actual: status 500, an error"),
        id=f"{ERRORS}:fail:500-for-an-unknown-resource",
    ),
    pytest.param(
        "401-as-event-stream",
        "error:401",
        ("Actual: an error status with a stream content type text/event-stream",),
        id=f"{ERRORS}:fail:401-with-an-event-stream-content-type",
    ),
    pytest.param(
        "401-plain-text",
        "error:401",
        ("Actual: a body that is not JSON: 'Unauthorized'",),
        id=f"{ERRORS}:fail:401-with-a-non-json-body",
    ),
    pytest.param(
        "401-wrong-code",
        "error:401",
        ("Expected: error code 'unauthorized'", "Actual: error 'forbidden'"),
        id=f"{ERRORS}:fail:401-with-the-wrong-error-code",
    ),
]


@pytest.mark.parametrize(("mode", "variant", "words"), BROKEN_ERROR_CASES)
def test_broken_error_answers_fail(
    tmp_path: Path, mode: str, variant: str, words: Sequence[str]
) -> None:
    """One documented error answered wrongly fails the case, over the untestable 402, and
    the message names that error first."""
    live = run_live(errors_spec(), tmp_path, errors_app(mode), checks={ERRORS})
    result = live.results[ERRORS]
    assert result.outcome is FAIL, result.message
    assert result.message.startswith(f"{variant}: {ERRORS} (MUST)"), result.message
    said(result, *words)
    other = "error:404: pass" if variant == "error:401" else "error:401: pass"
    said(result, other, f"{variant}: fail", "error:402: untestable")


# -- Maximum duration -----------------------------------------------------------------------

MAX_DURATION = "terminal.stream.max-duration"
OVERRUN_SPEC = """\
streamconform: 1
name: overrun
title: A text stream with a maximum duration
source: {document: test}
variables:
  topic: {default: short}
  endless_topic: {default: endless}
endpoints:
  words:
    method: GET
    path: /words
    framing: text
    content_types: [text/plain]
    query: {topic: "${topic}"}
    overrun:
      variables: {topic: "${endless_topic}"}
    timing: {max_duration: 1, idle_timeout: 1}
requirements:
  - id: r
    quote: q
    level: MUST
    checks: [terminal.stream.max-duration]
"""


def words_app(*, enforces_limit: bool) -> Starlette:
    """Streams words; an endless topic goes on for ever unless the 1 s limit is enforced."""

    async def words(request: Request) -> Response:
        endless = request.query_params["topic"] == "endless"

        async def body() -> AsyncIterator[bytes]:
            started = time.monotonic()
            for n in itertools.count() if endless else range(3):
                if enforces_limit and time.monotonic() - started > 1.0:
                    return
                await asyncio.sleep(0.05)
                yield f"word{n} ".encode()

        return StreamingResponse(body(), media_type="text/plain")

    return Starlette(routes=[Route("/words", words)])


@pytest.mark.parametrize(
    ("enforces_limit", "expected"),
    [
        pytest.param(True, Outcome.PASS, id="max-duration:passes:server-cuts-at-the-limit"),
        pytest.param(False, Outcome.FAIL, id="max-duration:fails:server-never-stops"),
    ],
)
def test_an_overrun_stream_is_ended_by_its_maximum_duration(
    tmp_path: Path, enforces_limit: bool, expected: Outcome
) -> None:
    spec = tmp_path / "overrun.yaml"
    spec.write_text(OVERRUN_SPEC)
    started = time.monotonic()
    with BackgroundServer(words_app(enforces_limit=enforces_limit)) as server:
        run = ConformanceRun(RunConfig(specs=[spec], target=server.url), environ={})
        try:
            (case,) = [c for c in run.cases("terminal") if c.check.id == MAX_DURATION]
            result = run.judge(case)
        finally:
            run.close()
    assert result.outcome is expected, result.message
    assert time.monotonic() - started < 10  # max_duration 1 s plus the 2 s tolerance
    if expected is Outcome.FAIL:
        assert "still streaming" in result.message


def test_an_event_after_the_terminal_one_fails_even_without_a_grammar() -> None:
    """The terminal suite holds "nothing after it" on its own, grammar or not."""
    endpoint = Endpoint(
        name="e",
        method="GET",
        path="/e",
        framing=Framing.SSE,
        content_types=("text/event-stream",),
        events=EventsSpec(
            type_from="sse-event",
            terminal=("done",),
            types={k: EventType(k, {"type": "object"}) for k in ("tick", "done")},
        ),
    )
    rec = Recorder("s", endpoint)
    rec.response(200, [("content-type", "text/event-stream")], 0.01)
    for n, kind in enumerate(("tick", "done", "tick")):
        rec.chunk(f"event: {kind}\ndata: {{}}\n\n".encode(), 0.1 * (n + 1))
    rec.closed(0.5)
    findings = REGISTRY["terminal.event.once"].run(rec.transcript(0.5), endpoint)
    assert [(f.expected, f.actual, f.event_index) for f in findings] == [
        ("nothing after the terminal event", "an event, tick, after #1", 2)
    ]


def test_a_server_that_ignores_the_key_scope_fails_the_documented_403() -> None:
    """Prism's 403 for a key without deployments:read: the reference server refuses the
    unscoped key; one that grants every key all scopes opens the stream and fails."""
    spec = load_spec(ROOT / "specs" / "prism-agents.yaml")
    keys = {"api_key": "prism-scoped-key", "unscoped_api_key": "prism-unscoped-key"}
    served = resolve_variables(spec, overrides=keys, profile={}, environ={})
    reference = reference_app_for(spec, served, spec.reference.time_scale)

    async def every_scope(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            swapped = b"Bearer " + keys["api_key"].encode()
            unscoped = b"Bearer " + keys["unscoped_api_key"].encode()
            scope = {
                **scope,
                "headers": [
                    (k, swapped if k == b"authorization" and v == unscoped else v)
                    for k, v in scope["headers"]
                ],
            }
        await reference(scope, receive, send)

    outcomes = {}
    for label, app in (("honours", reference), ("ignores", every_scope)):
        with BackgroundServer(app) as server:
            run = ConformanceRun(
                RunConfig(
                    specs=[ROOT / "specs" / "prism-agents.yaml"],
                    target=server.url,
                    variables=keys,
                    time_scale=spec.reference.time_scale,
                    select=["prism-agents::events::http.error.documented"],
                )
            )
            try:
                (case,) = run.cases()
                outcomes[label] = run.judge(case)
            finally:
                run.close()
    assert outcomes["honours"].outcome is Outcome.PASS, outcomes["honours"].message
    assert outcomes["ignores"].outcome is Outcome.FAIL
    assert outcomes["ignores"].message.startswith("error:403:")
    assert "status 200, a stream" in outcomes["ignores"].message
