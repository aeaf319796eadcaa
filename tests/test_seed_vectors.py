"""The example streams printed in the source documents are test vectors.

Each example is replayed byte for byte by a tiny server and judged by every framing and
ordering case of its endpoint, under the bundled spec (copied, with the stream endpoint's
setup, teardown and trigger removed: a replay server has no deployments and no runs). A
documented example that a spec fails is a bug in the spec, or in a check. The same bytes
are then judged as pure transcripts, cut at every byte boundary, for the same verdicts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from gathered import provoked_as
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

import streamconform.checks  # noqa: F401  (registers every check)
from streamconform.capture.recorder import Recorder
from streamconform.checks.registry import REGISTRY, not_applicable
from streamconform.core.outcome import Outcome
from streamconform.core.redact import Redactor
from streamconform.core.transcript import End, Transcript
from streamconform.engine.run import ConformanceRun, RunConfig
from streamconform.engine.verdict import judge
from streamconform.model import load_spec
from streamconform.model.spec import Endpoint, Spec
from streamconform.servers import BackgroundServer

SPECS = Path(__file__).resolve().parents[1] / "specs"
SUITES = ("framing", "ordering")
FILTER = "filter.only-matching"

# -- The vectors, as the documents print them -----------------------------------------------

# Seed 001 (Miniapp Studio tutorial), "Streaming Response Example": four data lines. The
# documentation's rendering dropped the blank lines that end SSE events (without them the
# four lines would be one event with four data lines), so each line is replayed followed by
# a blank line; the CRLF vector is the same stream with CRLF line endings.
MINIAPP_LINES = [
    b'data: {"type":"connection","message":"Streaming started"}',
    b'data: {"type":"system","subtype":"init","message":"Initializing..."}',
    b'data: {"type":"assistant","message":"Creating your miniapp..."}',
    b'data: {"type":"result","subtype":"success","message":"Deployment complete"}',
]

# Seed 002 (PromptFloe, "Wire format"): the five lines of the example response body, each a
# self-contained JSON object terminated by \n as the document says (the page's rendering
# runs the next heading into the last line, without its \n).
PROMPTFLOE_LINES = [
    b'{"type":"plan","summary":"Landing page + pricing + footer"}',
    b'{"type":"file","path":"src/App.tsx","contents":"..."}',
    b'{"type":"file","path":"src/components/Hero.tsx","contents":"..."}',
    '{"type":"review","notes":"Looks good — minor a11y nits patched."}'.encode(),
    b'{"type":"ready","appId":"app_abc","previewUrl":"https://..."}',
]

# Seed 004 (Prism agents, "Event stream"): evt_0193..evt_0197 exactly as printed, blank
# lines included (the page's blank line after evt_0197 is what dispatches the last event).
PRISM_EVENTS = [
    b"event: token\n"
    b"id: evt_0193\n"
    b'data: {"run_id":"run_4mPx81","thread_id":"thr_default_8a1",'
    b'"delta":"Here are five directions"}\n',
    b"event: tool_call\n"
    b"id: evt_0194\n"
    b'data: {"run_id":"run_4mPx81","tool":"generate_video","arguments":{"prompt":"..."}}\n',
    b"event: tool_result\n"
    b"id: evt_0195\n"
    b'data: {"run_id":"run_4mPx81","tool":"generate_video","result":{"status":"queued"}}\n',
    b"event: steering_request\n"
    b"id: evt_0196\n"
    b'data: {"run_id":"run_4mPx81","summary":"About to post 5 ads to Meta. Approve?"}\n',
    b'event: run_status\nid: evt_0197\ndata: {"run_id":"run_4mPx81","status":"completed"}\n',
]


@dataclass(frozen=True)
class Vector:
    """A documented example stream and where it belongs."""

    name: str
    spec: str
    endpoint: str
    pieces: list[bytes]  # one per event, as the replay server sends them
    media_type: str
    variables: dict[str, str] = field(default_factory=dict)
    auth: tuple[str, str] = ("", "")  # the header the spec's auth scheme sends
    long_lived: bool = False
    # what the spec itself traces to the example: these cases must be judged, and pass
    example_requirement: str = ""
    # cases that cannot be judged against a replay, with a word their message must give
    untestable: dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> bytes:
        return b"".join(self.pieces)


VECTORS = [
    Vector(
        name="miniapp-studio-lf",
        spec="miniapp-studio",
        endpoint="prompt_stream",
        pieces=[line + b"\n\n" for line in MINIAPP_LINES],
        media_type="text/event-stream",
        variables={"api_key": "ms-test-key", "signature": "jfs-test-signature"},
        auth=("x-api-key", "ms-test-key"),
        example_requirement="stream.example",
        # the documented example carries no error event, so no timestamp to judge
        untestable={
            "event.timestamp.iso8601": "carried a timestamp",
            "event.timestamp.monotonic": "carried a timestamp",
        },
    ),
    Vector(
        name="miniapp-studio-crlf",
        spec="miniapp-studio",
        endpoint="prompt_stream",
        pieces=[line + b"\r\n\r\n" for line in MINIAPP_LINES],
        media_type="text/event-stream",
        variables={"api_key": "ms-test-key", "signature": "jfs-test-signature"},
        auth=("x-api-key", "ms-test-key"),
        example_requirement="stream.example",
        # the documented example carries no error event, so no timestamp to judge
        untestable={
            "event.timestamp.iso8601": "carried a timestamp",
            "event.timestamp.monotonic": "carried a timestamp",
        },
    ),
    Vector(
        name="promptfloe-build",
        spec="promptfloe",
        endpoint="build",
        pieces=[line + b"\n" for line in PROMPTFLOE_LINES],
        media_type="application/x-ndjson",
        variables={"api_key": "pf-test-key"},
        auth=("authorization", "Bearer pf-test-key"),
        example_requirement="events.example",
    ),
    Vector(
        name="prism-agents-events",
        spec="prism-agents",
        endpoint="events",
        pieces=[event + b"\n" for event in PRISM_EVENTS],
        media_type="text/event-stream",
        variables={"api_key": "prism-test-key", "unscoped_api_key": "prism-test-unscoped"},
        auth=("authorization", "Bearer prism-test-key"),
        long_lived=True,
        example_requirement="events.example-stream",
        # The filter cases start a decoy run and the run under test (flow start_two_runs,
        # POST .../runs) around the filtered stream; a replay server has no runs, so the
        # flow fails and the case is untestable (never a pass).
        untestable={FILTER: "start_two_runs"},
    ),
]
BY_NAME = {v.name: v for v in VECTORS}
EVENT_COUNTS = {"miniapp-studio": 4, "promptfloe": 5, "prism-agents": 5}

# A correct server's stream headers: the framing's content type and no caching (the
# documents show none, and without Cache-Control the SHOULD case would warn).
STREAM_HEADERS = {"cache-control": "no-cache"}
PACE = 0.06  # seconds between events: spread out, so stream.delivery.incremental can judge
HOLD_OPEN = 40  # a long-lived stream's heartbeats after its last event (bounded)


def vector_ids(vectors: Sequence[Vector]) -> list[str]:
    return [v.name for v in vectors]


# -- The spec under test, without the stream endpoint's flows --------------------------------


def copy_spec(vector: Vector, tmp_path: Path) -> Path:
    """The bundled spec, with the stream endpoint's setup, teardown and trigger removed."""
    raw = yaml.safe_load((SPECS / f"{vector.spec}.yaml").read_text(encoding="utf-8"))
    endpoint = raw["endpoints"][vector.endpoint]
    for key in ("setup", "teardown", "trigger"):
        endpoint.pop(key, None)
    if vector.spec == "miniapp-studio":
        # the removed setup captured the deployment's name, which the request body sends;
        # the replay answers for the deployment the tutorial itself created
        raw["variables"]["deployment_name"] = {"default": "server-250904162435170"}
    path = tmp_path / f"{vector.spec}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def expected_outcomes(vector: Vector, spec: Spec, endpoint: Endpoint) -> dict[str, Outcome]:
    """Every framing and ordering case passes, except those the spec makes inapplicable
    (skip) and those a replay cannot judge (untestable)."""
    expected = {}
    for chk in REGISTRY.values():
        if chk.suite not in SUITES or endpoint.framing not in chk.framings:
            continue
        if not_applicable(chk, endpoint):
            expected[chk.id] = Outcome.SKIP
        elif chk.id in vector.untestable:
            expected[chk.id] = Outcome.UNTESTABLE
        else:
            expected[chk.id] = Outcome.PASS
    return expected


def traced_to_example(vector: Vector, spec: Spec) -> set[str]:
    (requirement,) = (r for r in spec.requirements if r.id == vector.example_requirement)
    return set(requirement.checks)


# -- Replaying the bytes ---------------------------------------------------------------------


@dataclass
class Replay:
    """A server that answers the stream endpoint with the vector's bytes, paced."""

    vector: Vector
    endpoint: Endpoint
    requests: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def handler(request: Request) -> Response:
            self.requests.append(
                (request.method, request.url.path, request.url.query, dict(request.headers))
            )
            return StreamingResponse(
                self.body(), media_type=self.vector.media_type, headers=STREAM_HEADERS
            )

        route = Route(self.endpoint.path, handler, methods=[self.endpoint.method])
        return Starlette(routes=[route])

    async def body(self) -> AsyncIterator[bytes]:
        for piece in self.vector.pieces:
            await asyncio.sleep(PACE)
            yield piece
        if self.vector.long_lived:  # a long-lived stream stays open: heartbeat for a while
            for _ in range(HOLD_OPEN):
                await asyncio.sleep(0.05)
                yield b": ping\n\n"


@dataclass
class Live:
    spec: Spec
    endpoint: Endpoint
    outcomes: dict[str, Outcome]
    messages: dict[str, str]
    transcript: Transcript
    requests: list[tuple[str, str, str, dict[str, str]]]


def run_live(vector: Vector, tmp_path: Path) -> Live:
    """Every framing and ordering case of the vector's endpoint against the replay server."""
    path = copy_spec(vector, tmp_path)
    endpoint = load_spec(path).endpoints[vector.endpoint]
    replay = Replay(vector, endpoint)
    with BackgroundServer(replay.app()) as server:
        config = RunConfig(specs=[path], target=server.url, variables=vector.variables)
        run = ConformanceRun(config, environ={})
        try:
            cases = [
                c
                for c in run.cases()
                if c.endpoint.name == vector.endpoint and c.check.suite in SUITES
            ]
            results = run.judge_all(cases)
            (spec,) = run.specs
            transcript = run.transcript(spec, spec.endpoints[vector.endpoint])
        finally:
            run.close()
    return Live(
        spec=spec,
        endpoint=spec.endpoints[vector.endpoint],
        outcomes={r.check: r.outcome for r in results},
        messages={r.check: r.message for r in results},
        transcript=transcript,
        requests=replay.requests,
    )


@pytest.fixture(scope="module")
def live_runs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Vector], Live]:
    """Each vector replayed once per module, however many tests look at the run."""
    done: dict[str, Live] = {}

    def get(vector: Vector) -> Live:
        if vector.name not in done:
            done[vector.name] = run_live(vector, tmp_path_factory.mktemp(vector.name))
        return done[vector.name]

    return get


@pytest.mark.parametrize("vector", VECTORS, ids=vector_ids(VECTORS))
def test_a_replayed_example_passes_every_case(
    vector: Vector, live_runs: Callable[[Vector], Live]
) -> None:
    """The documented stream, sent as a correct server sends it, fails no case."""
    live = live_runs(vector)
    expected = expected_outcomes(vector, live.spec, live.endpoint)
    wrong = {
        check: (outcome, live.messages[check])
        for check, outcome in live.outcomes.items()
        if outcome is not expected[check]
    }
    assert not wrong, wrong
    assert set(live.outcomes) == set(expected)
    assert Outcome.FAIL not in live.outcomes.values()
    for check in traced_to_example(vector, live.spec):
        assert live.outcomes[check] is Outcome.PASS, (check, live.messages[check])
    for check, reason in vector.untestable.items():
        assert reason in live.messages[check], live.messages[check]


@pytest.mark.parametrize("vector", VECTORS, ids=vector_ids(VECTORS))
def test_the_replay_is_captured_whole(vector: Vector, live_runs: Callable[[Vector], Live]) -> None:
    """The capture holds every event of the example, asked for as the spec describes."""
    live = live_runs(vector)
    t = live.transcript
    assert len(t.events) == EVENT_COUNTS[vector.spec]
    assert t.body_bytes >= len(vector.body)
    assert b"".join(c.data for c in t.chunks).startswith(vector.body)
    # the plain capture (a filter variant would add its query parameter)
    ((method, path, headers),) = [(m, p, h) for m, p, q, h in live.requests if not q]
    assert (method, path) == (live.endpoint.method, urlsplit(t.request.url).path)
    name, value = vector.auth
    assert headers[name] == value
    if vector.long_lived:
        # no trigger, so no awaited run: the first terminal event (run_status completed)
        # ends the capture once the stream has stayed open a moment after it
        assert t.end is End.TERMINAL, (t.end, t.end_detail)
    else:
        assert t.end is End.CLOSED, (t.end, t.end_detail)


def test_the_prism_fragment_is_a_viable_part_of_a_run_with_unique_ids(
    live_runs: Callable[[Vector], Live],
) -> None:
    """evt_0193..evt_0197 start mid-run (no run_status running): with no awaited run the
    fragment is judged as part of a run, and each event carries its own unique id."""
    live = live_runs(BY_NAME["prism-agents-events"])
    assert live.outcomes["order.grammar.viable"] is Outcome.PASS
    assert live.outcomes["event.id.present"] is Outcome.PASS
    assert live.outcomes["event.id.unique"] is Outcome.PASS
    t = live.transcript
    assert [e.id for e in t.events] == [f"evt_{n:04d}" for n in range(193, 198)]
    assert all(e.has_id_field for e in t.events)
    assert t.captures == {}


# -- The same bytes as pure transcripts ------------------------------------------------------


def chunkings(body: bytes) -> Iterator[tuple[str, list[bytes]]]:
    yield "whole", [body]
    yield "one byte per chunk", [body[i : i + 1] for i in range(len(body))]
    for i in range(1, len(body)):
        yield f"split at byte {i}", [body[:i], body[i:]]


def record(
    endpoint: Endpoint, media_type: str, pieces: Sequence[bytes], variant: str = ""
) -> Transcript:
    """A transcript of the pieces as a correct server's 200 response.

    Every piece arrives at the same moment, so only the bytes can change a verdict; with no
    quiet time before them, stream.delivery.incremental sees no held-back burst.
    """
    rec = Recorder("seed", endpoint)
    headers = [("content-type", media_type), *STREAM_HEADERS.items()]
    rec.response(200, headers, time=0.05, http_version="HTTP/1.1")
    for piece in pieces:
        rec.chunk(piece, 0.1)
    rec.closed(0.1)
    rec.variant = variant
    return rec.transcript(0.1)


_GRAVITY = [Outcome.SKIP, Outcome.PASS, Outcome.WARN, Outcome.UNTESTABLE, Outcome.FAIL]


def judge_pure(
    spec: Spec, endpoint: Endpoint, media_type: str, pieces: Sequence[bytes]
) -> dict[str, tuple[Outcome, str]]:
    """Every framing and ordering check on the pieces; a check with variants judges one
    transcript per variant and keeps the gravest outcome, as a run does."""
    plain = record(endpoint, media_type, pieces)
    verdicts = {}
    for chk in REGISTRY.values():
        if chk.suite not in SUITES or endpoint.framing not in chk.framings:
            continue
        variants = [s.name for s in chk.scenarios(endpoint)] if chk.scenarios else []
        variants = variants or [""]
        results = [
            judge(
                chk,
                spec,
                endpoint,
                plain
                if not v
                else provoked_as(chk, endpoint, record(endpoint, media_type, pieces, v)),
                target="transcript",
                strict=False,
                redactor=Redactor(),
            )
            for v in variants
        ]
        worst = max(results, key=lambda r: _GRAVITY.index(r.outcome))
        verdicts[chk.id] = (worst.outcome, worst.message)
    return verdicts


@pytest.mark.parametrize("vector", VECTORS, ids=vector_ids(VECTORS))
def test_a_vector_gets_the_same_verdicts_however_it_is_cut(vector: Vector, tmp_path: Path) -> None:
    """Cut anywhere, in one piece or byte by byte, the example gets the verdicts the live
    replay gets."""
    spec = load_spec(copy_spec(vector, tmp_path), known_checks=set(REGISTRY))
    endpoint = spec.endpoints[vector.endpoint]
    expected = expected_outcomes(vector, spec, endpoint)
    for label, pieces in chunkings(vector.body):
        verdicts = judge_pure(spec, endpoint, vector.media_type, pieces)
        wrong = {c: v for c, v in verdicts.items() if v[0] is not expected[c]}
        assert not wrong, f"{vector.name}, {label}: {wrong}"
        for check in traced_to_example(vector, spec):
            assert verdicts[check][0] is Outcome.PASS, (label, check)


@pytest.mark.parametrize("vector", VECTORS, ids=vector_ids(VECTORS))
def test_a_vector_decodes_to_the_documented_events(vector: Vector, tmp_path: Path) -> None:
    """The bytes decode to the events the document shows, labelled as the spec declares."""
    spec = load_spec(copy_spec(vector, tmp_path), known_checks=set(REGISTRY))
    endpoint = spec.endpoints[vector.endpoint]
    rules = endpoint.events
    assert rules is not None
    t = record(endpoint, vector.media_type, [vector.body])
    labels = [rules.label(e) for e in t.events]
    assert labels == LABELS[vector.spec]
    assert rules.is_terminal(labels[-1])
    assert not any(rules.is_terminal(label) for label in labels[:-1])
    assert not t.notes, t.notes


LABELS: Mapping[str, list[Any]] = {
    "miniapp-studio": ["connection", "system.init", "assistant", "result.success"],
    "promptfloe": ["plan", "file", "file", "review", "ready"],
    "prism-agents": [
        "token",
        "tool_call",
        "tool_result",
        "steering_request",
        "run_status.completed",
    ],
}
