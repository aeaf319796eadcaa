"""The reconnection suite, through real servers: a client whose connection drops resumes
and must get the rest of its run, nothing missing and nothing twice; a cursor the server
never issued, and a resume after the run's window, must get their documented answers.

Two small servers stand in for the bundled APIs, each able to break one rule on purpose:

- a Prism-like deployment stream (long-lived SSE, runs multiplexed by run_id, resumed on
  the same URL with Last-Event-ID);
- a PromptFloe-like build stream (NDJSON runs with an X-Run-Id header, re-attached with
  GET /runs/{run_id}/events?cursor=<last id>, kept for a window after a disconnect).

The correct variants behave like the reference servers and pass every rule covered here;
each fault must make its rule fail, with a message that says what went wrong. The servers
pace their runs themselves (that pacing is the behaviour under test) and every loop and
wait in them is bounded, so a broken engine cannot hang the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from gathered import gathered
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

import streamconform.checks  # noqa: F401  (registers every check)
from streamconform.checks.registry import REGISTRY
from streamconform.core.evidence import Resumed
from streamconform.core.outcome import Outcome, Result
from streamconform.core.redact import Redactor
from streamconform.core.transcript import End
from streamconform.engine.run import ConformanceRun, RunConfig
from streamconform.engine.verdict import judge
from streamconform.model.spec import Endpoint, Spec
from streamconform.scenarios.resume import CUTS
from streamconform.servers import BackgroundServer

RESUME_SCENARIOS = [s.name for s in CUTS]
STITCHED = "resume.stitched.complete"
UNKNOWN = "resume.cursor.unknown-refused"
WINDOW = "resume.window.expires"

# the rules this file covers (the suite may hold others, tested elsewhere)
RULES = (STITCHED, UNKNOWN, WINDOW)

PASS, FAIL, SKIP = Outcome.PASS, Outcome.FAIL, Outcome.SKIP

GAP = 0.04  # between two events of a run
LEAD = 0.1  # a run's first event comes no sooner: the time a client has to connect to it
RUN_EVENTS = 8  # a run's events, first to terminal
STREAM_LIFE = 20.0  # no test stream stays open longer than this
NO_CACHE = {"cache-control": "no-cache"}
OPENED = b": stream open\n\n"


def problem(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status)


def wake(grew: asyncio.Event) -> asyncio.Event:
    """Wake every reader waiting on `grew`; the new event is the one to wait on next."""
    grew.set()
    return asyncio.Event()


# -- A Prism-like deployment stream (SSE, Last-Event-ID) -----------------------------------

AGENTS_SCALE = 0.01  # 2 s response and idle bounds (the floor), 11 s at most per stream
AGENTS_SPEC = """\
streamconform: 1
name: agents
title: A deployment event stream resumed with Last-Event-ID
source: {document: test}
variables:
  deployment_id: {default: dep_test}
  run_input: {default: Draft five ad directions}
endpoints:
  events:
    method: GET
    path: /v1/deployments/{deployment_id}/events
    framing: sse
    content_types: [text/event-stream]
    headers: {Accept: text/event-stream}
    trigger: start_run
    events:
      type_from: sse-event
      subtype_field: status
      data: json
      key_field: run_id
      types:
        token:
          schema:
            type: object
            required: [run_id, delta]
            properties:
              run_id: {type: string, minLength: 1}
              delta: {type: string}
        run_status.running:
          schema: &run_status
            type: object
            required: [run_id, status]
            properties:
              run_id: {type: string, minLength: 1}
              status: {enum: [running, completed, error]}
        run_status.completed: {schema: *run_status}
        run_status.error: {schema: *run_status}
      grammar: "run_status.running token* (run_status.completed | run_status.error)"
      terminal: [run_status.completed, run_status.error]
      ids: {required: true, unique: true}
      resume: {via: last-event-id, invalid: {status: 400, error: invalid_last_event_id}}
      long_lived: true
    timing: {response_timeout: 30, idle_timeout: 45, max_duration: 900}
  start_run:
    method: POST
    path: /v1/deployments/{deployment_id}/runs
    body: {input: "${run_input}"}
    success: [201]
    response_schema:
      type: object
      required: [run_id]
      properties: {run_id: {type: string}}
flows:
  start_run:
    steps:
      - endpoint: start_run
        capture: {run_id: /run_id}
requirements:
  - id: resume
    quote: >-
      Reconnect with the ID of the last event you received and the server replays
      everything you missed
    level: MUST
    endpoints: [events]
    checks: [resume.stitched.complete, resume.cursor.unknown-refused]
"""


def agent_run(run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(SSE event type, data) for one run: running, tokens, completed."""
    words = range(RUN_EVENTS - 2)
    tokens = [("token", {"run_id": run_id, "delta": f"word {n} "}) for n in words]
    return [
        ("run_status", {"run_id": run_id, "status": "running"}),
        *tokens,
        ("run_status", {"run_id": run_id, "status": "completed"}),
    ]


@dataclass(frozen=True)
class Emitted:
    id: str
    event: str
    data: dict[str, Any]

    def encode(self, retry_ms: int | None = None) -> bytes:
        head = f"retry: {retry_ms}\n" if retry_ms is not None else ""
        body = json.dumps(self.data, separators=(",", ":"))
        return f"{head}event: {self.event}\nid: {self.id}\ndata: {body}\n\n".encode()


class Agents:
    """A deployment whose event stream carries every run's events, resumable by
    Last-Event-ID like Prism's reference server: a reconnect replays what followed that
    id, an id never issued is answered 400.

    One agent works the runs in turn (a run started while another is going waits for it),
    so a client never reads two runs' events interleaved: the last event a connection cut
    inside a run received is that run's own, and every fault shows the same way on every
    run. The stream sends no heartbeats: a quiet stream is ended by the
    capture's idle bound (2 s), which keeps the waits for lost events short. Each
    connection opens with a comment, so a client that only wanted the answer to its
    request has something to stop at.

    `fault` names one way to get resumption wrong; `retry_ms` puts a retry: field in the
    first event block of every connection.
    """

    FAULTS = (
        "skip-one-on-replay",  # the replay leaves out the first event after the id
        "repeat-cursor-event",  # the replay starts at the id's event instead of after it
        "ignore-last-event-id",  # a reconnect replays the whole history from the start
        "live-only",  # a reconnect only gets new events: those it missed are lost
        "replay-only",  # a reconnect gets what it missed, then nothing the run sends later
        "unknown-id-200",  # an id never issued starts a stream instead of a 400
        "silent-on-resume",  # a reconnect is accepted and never answered
    )

    def __init__(self, fault: str = "", *, retry_ms: int | None = None) -> None:
        assert fault in ("", *self.FAULTS), fault
        self.fault, self.retry_ms = fault, retry_ms
        self.log: list[Emitted] = []
        self.writes: list[tuple[str, float]] = []  # (event id, monotonic time) per write
        self.resumes: list[tuple[str, float]] = []  # (Last-Event-ID, when the request came)
        self._grew = asyncio.Event()
        self._agent = asyncio.Lock()
        self._run_ids = itertools.count(1)
        self._event_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/deployments/{deployment_id}/events", self.events, methods=["GET"]),
                Route("/v1/deployments/{deployment_id}/runs", self.start_run, methods=["POST"]),
            ]
        )

    def emitted_for(self, run_id: str) -> list[Emitted]:
        return [e for e in self.log if e.data["run_id"] == run_id]

    async def produce(self, run_id: str) -> None:
        started = time.monotonic()
        async with self._agent:
            for n, (event, data) in enumerate(agent_run(run_id)):
                # a run queued behind another has had its LEAD while it waited
                lead = max(GAP, started + LEAD - time.monotonic()) if n == 0 else GAP
                await asyncio.sleep(lead)
                self.log.append(Emitted(f"evt_{next(self._event_ids):04d}", event, data))
                self._grew = wake(self._grew)

    async def start_run(self, request: Request) -> Response:
        await request.body()
        run_id = f"run_{next(self._run_ids):03d}"
        task = asyncio.get_running_loop().create_task(self.produce(run_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return JSONResponse({"run_id": run_id, "status": "running"}, status_code=201)

    async def events(self, request: Request) -> Response:
        last = request.headers.get("last-event-id")
        if last is None:
            return self.stream(len(self.log))
        self.resumes.append((last, time.monotonic()))
        if self.fault == "silent-on-resume":
            return await self.never_answer(request)
        ids = [e.id for e in self.log]
        if last not in ids:
            if self.fault == "unknown-id-200":
                return self.stream(len(self.log))
            return problem(400, "invalid_last_event_id", "Last-Event-ID is not an event id")
        after = ids.index(last) + 1
        start = {
            "repeat-cursor-event": after - 1,
            "ignore-last-event-id": 0,
            "live-only": len(self.log),
        }.get(self.fault, after)
        stop = len(self.log) if self.fault == "replay-only" else None
        return self.stream(start, skip_first=self.fault == "skip-one-on-replay", stop=stop)

    def stream(self, start: int, *, skip_first: bool = False, stop: int | None = None) -> Response:
        async def body() -> AsyncIterator[bytes]:
            yield OPENED
            index, skipping, retry = start, skip_first, self.retry_ms
            deadline = time.monotonic() + STREAM_LIFE
            while time.monotonic() < deadline:
                while index < (len(self.log) if stop is None else stop):
                    item = self.log[index]
                    index += 1
                    if skipping:
                        skipping = False
                        continue
                    self.writes.append((item.id, time.monotonic()))
                    yield item.encode(retry)
                    retry = None
                grew = self._grew
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(grew.wait(), deadline - time.monotonic())

        return StreamingResponse(body(), media_type="text/event-stream", headers=NO_CACHE)

    async def never_answer(self, request: Request) -> Response:
        """Hold the request, sending nothing, until the client gives up (bounded)."""
        deadline = time.monotonic() + STREAM_LIFE
        while time.monotonic() < deadline and not await request.is_disconnected():
            await asyncio.sleep(0.05)
        return PlainTextResponse("too late", status_code=503)


# -- A PromptFloe-like build stream (NDJSON, cursor on a re-attach endpoint) ---------------

BUILDS_SCALE = 0.003  # the documented 300 s window lasts 0.9 s; bounds floor at 2 s
BUILDS_WINDOW = 300 * BUILDS_SCALE
RELEASE_BOUND = 2.0  # how long a re-attach waits for the run's first connection to end
BUILDS_SPEC = """\
streamconform: 1
name: builds
title: Resumable NDJSON build runs
source: {document: test}
variables:
  prompt: {default: pricing page}
endpoints:
  build:
    method: POST
    path: /build
    framing: ndjson
    content_types: [application/x-ndjson]
    headers: {Accept: application/x-ndjson}
    body: {prompt: "${prompt}"}
    events:
      type_from: json-field
      type_field: type
      data: json
      types: &types
        plan:
          schema: {type: object, required: [type, summary], properties: {summary: {type: string}}}
        file:
          schema:
            type: object
            required: [type, path]
            properties: {path: {type: string, minLength: 1}}
        ready:
          schema: {type: object, required: [type, appId], properties: {appId: {type: string}}}
        error:
          schema: {type: object, required: [type], properties: {message: {type: string}}}
      grammar: &grammar "plan file* (ready | error)"
      terminal: &terminal [ready, error]
      ids: &ids {required: true, unique: true, field: id}
      resume:
        via: cursor
        endpoint: run_events
        param: cursor
        cursor_field: id
        run_id_from: "header:x-run-id"
        window: 300
        invalid: {status: 400, error: invalid_cursor}
        expired: {status: 404, error: run_not_found}
    timing: &timing {response_timeout: 30, idle_timeout: 300, max_duration: 900}
  run_events:
    method: GET
    path: /runs/{run_id}/events
    framing: ndjson
    content_types: [application/x-ndjson]
    setup: [finished_build]
    query_schema: {type: object, properties: {cursor: {type: string}}}
    events:
      type_from: json-field
      type_field: type
      data: json
      types: *types
      grammar: *grammar
      terminal: *terminal
      ids: *ids
    timing: *timing
flows:
  finished_build:
    steps:
      - endpoint: build
        capture: {run_id: "header:x-run-id"}
requirements:
  - id: resume
    quote: >-
      The server keeps the run alive for 5 minutes after disconnect. Re-attach to it via
      GET /runs/:runId/events?cursor=<last_event_id>.
    level: MUST
    endpoints: [build]
    checks: [resume.stitched.complete, resume.cursor.unknown-refused, resume.window.expires]
"""


def build_script() -> list[dict[str, Any]]:
    """A build: plan, files, ready."""
    files = [{"type": "file", "path": f"src/part{n}.tsx"} for n in range(RUN_EVENTS - 2)]
    return [
        {"type": "plan", "summary": "Landing page"},
        *files,
        {"type": "ready", "appId": "app_test"},
    ]


@dataclass
class BuildRun:
    """One run's events, filled by its producer, and who is reading it."""

    events: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    readers: int = 0
    left_at: float = field(default_factory=time.monotonic)
    grew: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)


class Builds:
    """Build runs like PromptFloe's reference server: POST /build streams a run, each event
    with an id; the run goes on after its client disconnects and can be re-attached to
    with a cursor (400 for a cursor that is not one of its events) until no one has read
    it for the window (404 after).

    `fault` names one way to get resumption wrong.
    """

    FAULTS = (
        "cursor-from-start",  # the cursor is ignored: a re-attach replays from the start
        "skip-one-on-replay",  # the replay leaves out the first event after the cursor
        "forget-on-disconnect",  # the run is dropped when its first connection ends
        "never-expires",  # runs are kept for ever
        "unknown-cursor-500",  # a cursor that is not an event of the run is a 500
    )

    def __init__(self, fault: str = "") -> None:
        assert fault in ("", *self.FAULTS), fault
        self.fault = fault
        self.runs: dict[str, BuildRun] = {}
        self._run_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/build", self.build, methods=["POST"]),
                Route("/runs/{run_id}/events", self.run_events, methods=["GET"]),
            ]
        )

    def forget_expired(self) -> None:
        if self.fault == "never-expires":
            return
        now = time.monotonic()
        for run_id, run in list(self.runs.items()):
            if run.readers == 0 and now - run.left_at > BUILDS_WINDOW:
                del self.runs[run_id]

    async def produce(self, run: BuildRun) -> None:
        for n, event in enumerate(build_script(), 1):
            await asyncio.sleep(GAP)
            run.events.append({**event, "id": f"evt_{n:04d}"})
            run.grew = wake(run.grew)
        run.done = True
        run.grew = wake(run.grew)

    async def build(self, request: Request) -> Response:
        await request.body()
        self.forget_expired()
        run_id = f"run_{next(self._run_ids):03d}"
        run = self.runs[run_id] = BuildRun()
        task = asyncio.get_running_loop().create_task(self.produce(run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return self.stream(run_id, run, 0, first=True)

    async def run_events(self, request: Request) -> Response:
        self.forget_expired()
        run_id = request.path_params["run_id"]
        run = self.runs.get(run_id)
        if run is not None and self.fault == "forget-on-disconnect":
            # a run belongs to the connection that started it: a re-attach waits until
            # that connection is gone (and the run with it)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.released.wait(), RELEASE_BOUND)
            run = self.runs.get(run_id)
        if run is None:
            return problem(404, "run_not_found", f"run {run_id} does not exist or has expired")
        cursor = request.query_params.get("cursor")
        start = 0
        if cursor and self.fault != "cursor-from-start":
            ids = [event["id"] for event in run.events]
            if cursor not in ids:
                if self.fault == "unknown-cursor-500":
                    return problem(500, "internal", "KeyError: cursor")
                return problem(400, "invalid_cursor", "cursor is not an event of this run")
            start = ids.index(cursor) + (2 if self.fault == "skip-one-on-replay" else 1)
        return self.stream(run_id, run, start)

    def stream(self, run_id: str, run: BuildRun, start: int, *, first: bool = False) -> Response:
        async def body() -> AsyncIterator[bytes]:
            run.readers += 1
            try:
                index, deadline = start, time.monotonic() + STREAM_LIFE
                while time.monotonic() < deadline:
                    while index < len(run.events):
                        yield json.dumps(run.events[index]).encode() + b"\n"
                        index += 1
                    if run.done:
                        return
                    grew = run.grew
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(grew.wait(), deadline - time.monotonic())
            finally:
                run.readers -= 1
                run.left_at = time.monotonic()
                if first and self.fault == "forget-on-disconnect":
                    self.runs.pop(run_id, None)
                    run.released.set()

        headers = {**NO_CACHE, "X-Run-Id": run_id}
        return StreamingResponse(body(), media_type="application/x-ndjson", headers=headers)


# -- Running the suite ---------------------------------------------------------------------


@dataclass(frozen=True)
class Wire:
    """One of the two APIs: its spec, the endpoint resumed, and the run's time scale."""

    name: str
    spec_text: str
    endpoint: str
    scale: float


AGENTS = Wire("sse", AGENTS_SPEC, "events", AGENTS_SCALE)
BUILDS = Wire("ndjson", BUILDS_SPEC, "build", BUILDS_SCALE)


@contextlib.contextmanager
def conformance_run(wire: Wire, tmp_path: Path, app: Starlette) -> Iterator[ConformanceRun]:
    """A run of the wire's spec against the app, served on a loopback port."""
    spec = tmp_path / f"{wire.name}.yaml"
    spec.write_text(wire.spec_text)
    with BackgroundServer(app) as server:
        run = ConformanceRun(
            RunConfig(specs=[spec], target=server.url, time_scale=wire.scale), environ={}
        )
        try:
            yield run
        finally:
            run.close()


def judge_rules(
    wire: Wire, tmp_path: Path, app: Starlette, rules: Sequence[str] = RULES
) -> dict[str, Result]:
    """The verdicts of the given rules on the wire's resumable endpoint: check id -> result."""
    with conformance_run(wire, tmp_path, app) as run:
        cases = [
            c
            for c in run.cases("reconnection")
            if c.endpoint.name == wire.endpoint and c.check.id in rules
        ]
        assert {c.check.id for c in cases} == set(rules)
        return {r.check: r for r in run.judge_all(cases)}


def said(result: Result, *words: str) -> None:
    for word in words:
        assert word in result.message, f"{word!r} not in:\n{result.message}"


def every_scenario_passed(result: Result) -> None:
    """A composite verdict passes only when each of its scenarios did; the message says so."""
    assert result.outcome is PASS, result.message
    assert result.message == "; ".join(f"{s}: pass" for s in RESUME_SCENARIOS)


# -- Correct servers -----------------------------------------------------------------------


def test_a_reference_like_sse_server_passes_every_reconnection_rule(tmp_path: Path) -> None:
    """Replays after the Last-Event-ID (nothing skipped, nothing twice) and answers an id
    it never issued with the documented 400. The spec gives no resume window."""
    results = judge_rules(AGENTS, tmp_path, Agents().app())
    every_scenario_passed(results[STITCHED])
    assert results[UNKNOWN].outcome is PASS, results[UNKNOWN].message
    assert results[UNKNOWN].message == "cursor:never-issued: pass; cursor:malformed: pass"
    assert results[WINDOW].outcome is SKIP
    said(results[WINDOW], "no resume window")


def test_a_reference_like_ndjson_server_passes_every_reconnection_rule(tmp_path: Path) -> None:
    """Keeps runs past a disconnect, replays after the cursor, answers a cursor that is not
    one of the run's events with 400, and forgets a run once its window has passed."""
    results = judge_rules(BUILDS, tmp_path, Builds().app())
    every_scenario_passed(results[STITCHED])
    assert results[UNKNOWN].outcome is PASS, results[UNKNOWN].message
    assert results[WINDOW].outcome is PASS, results[WINDOW].message
    assert results[WINDOW].message == "resume:after-window: pass"


# -- Broken servers ------------------------------------------------------------------------


def fault_row(wire: Wire, rule: str, fault: str, *words: str) -> Any:
    """A table row, named after the rule, the framing and the fault that breaks the rule."""
    return pytest.param(wire, rule, fault, words, id=f"{rule}:fail:{wire.name}:{fault}")


FIRST_CUT = "resume:first: fail"  # the simplest cut, after the run's first event, shows it
FAULT_CASES = [
    # the first event after the Last-Event-ID never comes
    fault_row(AGENTS, STITCHED, "skip-one-on-replay", FIRST_CUT, "missing after the resume"),
    # the Last-Event-ID's own event comes again
    fault_row(AGENTS, STITCHED, "repeat-cursor-event", FIRST_CUT, "came twice"),
    # the whole history again: every event read before the cut comes twice
    fault_row(AGENTS, STITCHED, "ignore-last-event-id", FIRST_CUT, "came twice"),
    # an id never issued gets a stream (of whatever comes next) instead of a 400
    fault_row(AGENTS, UNKNOWN, "unknown-id-200", "status 400", "a stream with"),
    # the resume replays what was missed but does not go on with the live run
    fault_row(AGENTS, STITCHED, "replay-only", "resume:middle: fail", "missing after the resume"),
    # the cursor is ignored: the re-attach replays the run from its first event
    fault_row(BUILDS, STITCHED, "cursor-from-start", FIRST_CUT, "came twice"),
    fault_row(BUILDS, STITCHED, "skip-one-on-replay", FIRST_CUT, "missing after the resume"),
    # the run died with the connection: nothing to re-attach to
    fault_row(
        BUILDS, STITCHED, "forget-on-disconnect", FIRST_CUT, "connection 2 answered status 404"
    ),
    # a run is still there long after its window
    fault_row(BUILDS, WINDOW, "never-expires", "status 404 once the window", "status 200"),
    fault_row(BUILDS, UNKNOWN, "unknown-cursor-500", "status 400", "status 500"),
]


@pytest.mark.parametrize(("wire", "rule", "fault", "words"), FAULT_CASES)
def test_a_server_that_breaks_resumption_fails_the_rule(
    tmp_path: Path, wire: Wire, rule: str, fault: str, words: Sequence[str]
) -> None:
    """Each fault is caught by the rule it breaks, and the message names what went wrong."""
    app = Agents(fault).app() if wire is AGENTS else Builds(fault).app()
    result = judge_rules(wire, tmp_path, app, [rule])[rule]
    assert result.outcome is FAIL, result.message
    said(result, rule, *words)


@pytest.mark.parametrize("fault", [pytest.param("live-only", id=f"{STITCHED}:fail:sse:live-only")])
def test_a_reconnect_that_only_gets_new_events_fails_every_scenario_cut_before_the_end(
    tmp_path: Path, fault: str
) -> None:
    """A reconnect that only streams what comes next loses whatever the run sent since the
    cut. resume:middle reconnects only once the run has sent something the cut connection
    missed, so it always shows the loss; scenarios that reconnect at once may miss nothing."""
    result = judge_rules(AGENTS, tmp_path, Agents(fault).app(), [STITCHED])[STITCHED]
    assert result.outcome is FAIL, result.message
    said(result, STITCHED, "missing after the resume")
    summary = result.message.rsplit("(all: ", 1)[1]
    assert "resume:middle: fail" in summary, summary
    assert "resume:after-terminal: pass" in summary, summary


# -- Waiting as the server asks, and never for ever ----------------------------------------


def spec_and_endpoint(run: ConformanceRun, wire: Wire) -> tuple[Spec, Endpoint]:
    (spec,) = run.specs
    return spec, spec.endpoints[wire.endpoint]


@pytest.mark.parametrize(
    ("scenario", "resumes"),
    [
        pytest.param("resume:first", 1, id=f"{STITCHED}:pass:retry-300-honoured-once"),
        pytest.param("resume:repeated", 3, id=f"{STITCHED}:pass:retry-300-honoured-each-time"),
    ],
)
def test_the_retry_field_is_honoured_before_each_resume(
    tmp_path: Path, scenario: str, resumes: int
) -> None:
    """A server that sends `retry: 300` gets no reconnect sooner than 300 ms after the
    client stopped reading: the wait is logged, and the server sees it. Each resume names
    the last event the client received; the last time the server wrote that event to any
    connection is no later than the cut, so the gap from it to the resume request is at
    least the wait."""
    agents = Agents(retry_ms=300)
    with conformance_run(AGENTS, tmp_path, agents.app()) as run:
        spec, endpoint = spec_and_endpoint(run, AGENTS)
        t = gathered(run, spec, endpoint, scenario)
        assert isinstance(t, Resumed)
        result = judge(
            REGISTRY[STITCHED], spec, endpoint, t, target="test", strict=False, redactor=Redactor()
        )
    assert result.outcome is PASS, result.message
    assert len(t.legs) == resumes + 1
    assert all(leg.retries and leg.retries[0][1] == 300 for leg in t.legs), t.legs
    waits = [line for line in t.primary.setup_log if "retry:" in line]
    assert waits == ["retry: 300 received; waited 0.300 s"] * resumes, t.primary.setup_log
    assert len(agents.resumes) == resumes
    for cursor, arrived in agents.resumes:
        written = [when for eid, when in agents.writes if eid == cursor and when < arrived]
        assert written, (cursor, agents.writes)
        assert arrived - max(written) >= 0.29, (cursor, arrived - max(written))
    # and the resumed run is whole: the waits changed nothing of what the client got
    own = [e.id for e in agents.emitted_for(str(t.run))]
    assert [e.id for e in t.stitched] == own


def test_a_resume_that_is_never_answered_fails_in_bounded_time(tmp_path: Path) -> None:
    """A server that takes the reconnect and never sends its headers: every scenario gives
    up at the response bound (2 s here) and reports no answer; the suite does not hang."""
    started = time.monotonic()
    result = judge_rules(AGENTS, tmp_path, Agents("silent-on-resume").app(), [STITCHED])[STITCHED]
    elapsed = time.monotonic() - started
    assert result.outcome is FAIL, result.message
    said(result, "connection 2: no answer", End.RESPONSE_TIMEOUT.value, "no response headers")
    said(result, "(all: " + "; ".join(f"{s}: fail" for s in RESUME_SCENARIOS) + ")")
    assert elapsed < 20, elapsed


def test_the_rules_covered_here_are_in_the_reconnection_suite() -> None:
    assert {rule: REGISTRY[rule].suite for rule in RULES} == dict.fromkeys(RULES, "reconnection")


# -- Judging from where both readers were ---------------------------------------------------


def _stitched_case(stitched: list[tuple[str, str]], baseline: list[tuple[str, str]]):
    """A resumed run (two legs) and its uninterrupted read, as (id, run) pairs."""
    from streamconform.core.transcript import RequestRecord, Transcript
    from streamconform.decode.events import Event
    from streamconform.model.grammar import parse_grammar
    from streamconform.model.spec import EventsSpec, EventType, Framing, Resumption

    def events(pairs: list[tuple[str, str]]) -> tuple[Event, ...]:
        return tuple(
            Event(n, 0, 1, 0.0, f'{{"run_id":"{run}"}}', "tick", ident, True, {"run_id": run})
            for n, (ident, run) in enumerate(pairs)
        )

    rules = EventsSpec(
        type_from="sse-event",
        types={"tick": EventType("tick", True)},
        key_field="run_id",
        grammar=parse_grammar("tick*"),
        resume=Resumption(via="last-event-id"),
    )
    endpoint = Endpoint(
        name="e",
        method="GET",
        path="/e",
        framing=Framing.SSE,
        content_types=("text/event-stream",),
        events=rules,
    )
    leg = Transcript("s", "e", "sse", RequestRecord("GET", "u"), status=200, end=End.CUT)
    t = Transcript(
        "s",
        "e",
        "sse",
        RequestRecord("GET", "u"),
        status=200,
        events=events(stitched),
        variant="resume:first",
    )
    evidence = Resumed(
        primary=t,
        legs=(leg, leg),
        stitched=events(stitched),
        independent=events(baseline),
        run="r1",
    )
    return REGISTRY[STITCHED].run(evidence, endpoint)


def test_a_cut_connection_that_joined_first_is_judged_from_where_both_were() -> None:
    """The cut connection saw e1 before the uninterrupted reader joined: not a stranger."""
    run = [("e1", "r1"), ("e2", "r1"), ("e3", "r1")]
    assert _stitched_case(run, run[1:]) == []
    assert _stitched_case(run[1:], run) == []


def test_another_run_s_event_is_never_trimmed_away() -> None:
    """A leaked event of another run is reported even at the very start of the stitched run."""
    findings = _stitched_case(
        [("d1", "decoy"), ("e1", "r1"), ("e2", "r1")], [("e1", "r1"), ("e2", "r1")]
    )
    assert [f.actual for f in findings] == ["1 events of other runs, first id 'd1'"]


def _ndjson_events(*payloads: dict[str, Any]) -> tuple[Any, ...]:
    from streamconform.decode import decoder_for

    decoder = decoder_for("ndjson", max_event_bytes=1 << 20, parse_json=True)
    raw = b"".join(json.dumps(p).encode() + b"\n" for p in payloads)
    return tuple(decoder.feed(raw, 0.0))


def test_events_past_an_unfinished_uninterrupted_read_are_not_called_strangers() -> None:
    """The independent reader stopped at a capture bound before the run ended: what the
    resumed client got after that reader's last event is not judged against it; an
    event the run did not send before that point still is."""
    from streamconform.core.transcript import RequestRecord, Transcript
    from streamconform.model import load_spec

    spec = load_spec(Path(__file__).resolve().parents[1] / "specs" / "promptfloe.yaml")
    endpoint = spec.endpoints["build"]
    run = [
        {"type": "plan", "summary": "s", "manifest": [], "id": "evt_0001"},
        {"type": "file", "path": "a", "contents": "", "id": "evt_0002"},
        {"type": "file", "path": "b", "contents": "", "id": "evt_0003"},
        {"type": "ready", "appId": "x", "previewUrl": "https://x.test/", "id": "evt_0004"},
    ]
    leg = Transcript(spec.name, "build", "ndjson", RequestRecord("GET", "/"), status=200)

    def stitched(events: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> Resumed:
        got = _ndjson_events(*events)
        first = Transcript(
            spec.name,
            "build",
            "ndjson",
            RequestRecord("GET", "/"),
            status=200,
            events=got,
            variant="resume:middle",
        )
        return Resumed(
            primary=first, legs=(leg, leg), stitched=got, independent=_ndjson_events(*baseline)
        )

    check = REGISTRY["resume.stitched.complete"]
    short = stitched(run, run[:2])  # the reader stopped after two events
    assert check.run(short, endpoint) == []
    foreign = {"type": "file", "path": "z", "contents": "", "id": "evt_0999"}
    wrong = stitched([run[0], foreign, run[1], run[2], run[3]], run[:2])
    assert [f.actual for f in check.run(wrong, endpoint)] == [
        "1 events the run never sent, first id 'evt_0999'"
    ]


# -- A stream that is its own run: no flow starts it -----------------------------------------

TICKS_SPEC = """\
streamconform: 1
name: ticks
title: A stream that is the run itself, resumed with Last-Event-ID
source: {document: test}
endpoints:
  ticks:
    method: GET
    path: /ticks
    framing: sse
    content_types: [text/event-stream]
    events:
      type_from: sse-event
      data: json
      types:
        tick: {schema: {type: object, required: [n]}}
        done: {schema: {type: object}}
      grammar: "tick* done"
      terminal: [done]
      ids: {required: true, unique: true}
      resume: {via: last-event-id, invalid: {status: 400, error: bad_id}}
    timing: {response_timeout: 10, idle_timeout: 10, max_duration: 60}
requirements:
  - id: resume
    quote: Reconnect with the ID of the last event you received to get the rest
    level: MUST
    endpoints: [ticks]
    checks: [resume.stitched.complete]
"""
TICKS = Wire("sse", TICKS_SPEC, "ticks", 1.0)


def ticks_app(skip_one: bool = False) -> Starlette:
    """Every GET is the same run of ticks 1..8 then done (id 9); a Last-Event-ID of n
    replays from n + 1 (or n + 2: the fault)."""

    async def ticks(request: Request) -> Response:
        last = request.headers.get("last-event-id")
        if last is not None and not last.isdigit():
            return JSONResponse({"error": "bad_id"}, status_code=400)
        start = int(last or 0) + (2 if skip_one and last else 1)

        async def body() -> AsyncIterator[bytes]:
            yield OPENED
            for n in range(start, 10):
                await asyncio.sleep(GAP)
                kind, data = ("done", {}) if n == 9 else ("tick", {"n": n})
                yield f"id: {n}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode()

        return StreamingResponse(body(), media_type="text/event-stream", headers=NO_CACHE)

    return Starlette(routes=[Route("/ticks", ticks)])


def test_a_stream_with_no_trigger_is_resumed_on_its_own_request(tmp_path: Path) -> None:
    result = judge_rules(TICKS, tmp_path, ticks_app(), [STITCHED])[STITCHED]
    every_scenario_passed(result)


def test_a_stream_with_no_trigger_that_skips_on_replay_fails(tmp_path: Path) -> None:
    result = judge_rules(TICKS, tmp_path, ticks_app(skip_one=True), [STITCHED])[STITCHED]
    assert result.outcome is FAIL, result.message
    said(result, "missing after the resume")


def test_a_play_that_raises_is_an_error_of_its_case_and_the_rest_are_judged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A defect in a scenario's play is that case's internal error, with its traceback; the
    run goes on, and no other case is lost."""

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the play broke")

    monkeypatch.setattr("streamconform.scenarios.resume._start", broken)
    results = judge_rules(TICKS, tmp_path, ticks_app(), [STITCHED, UNKNOWN])
    crashed = results[STITCHED]
    assert crashed.outcome is Outcome.ERROR, crashed.message
    said(
        crashed,
        "internal error: the play of scenario 'resume:first' (for check "
        "resume.stitched.complete) raised RuntimeError",
        "Traceback (most recent call last):",
        "RuntimeError: the play broke",
    )
    assert results[UNKNOWN].outcome is PASS, results[UNKNOWN].message
