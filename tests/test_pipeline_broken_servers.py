"""The whole pipeline (real server on loopback, real httpx, capture, checks, verdicts)
against servers built to break one framing rule each, and against unusual correct ones.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from streamconform.core.outcome import Outcome
from streamconform.engine.run import ConformanceRun, RunConfig
from streamconform.errors import TargetError
from streamconform.servers import BackgroundServer

SPEC = """\
streamconform: 1
name: broken
title: A one-endpoint API for pipeline tests
source: {{document: test}}
endpoints:
  events:
    method: GET
    path: /events
    framing: {framing}
    content_types: [{content_type}]
{events}    timing: {{idle_timeout: 1, max_duration: 1, close_after_terminal: 1}}
{limits}
requirements:
  - id: r
    quote: q
    level: MUST
    checks: [http.status.success]
"""
SSE_EVENTS = """\
    events:
      type_from: json-field
      data: json
      types:
        tick: {schema: {type: object}}
        done: {schema: {type: object}}
      terminal: [done]
"""
HEADERS = {"cache-control": "no-cache"}
TICKS = [b'data: {"type":"tick","n":%d}\n\n' % i for i in range(5)] + [b'data: {"type":"done"}\n\n']
NDJSON = [b'{"type":"tick","n":%d}\n' % i for i in range(5)]

Body = Callable[[], AsyncIterator[bytes]]


def paced(pieces: list[bytes], gap: float = 0.06) -> Body:
    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            await asyncio.sleep(gap)
            yield piece

    return body


def streaming_app(body: Body, media_type: str = "text/event-stream", **headers: str) -> Starlette:
    async def handler(request: Request) -> Response:
        return StreamingResponse(body(), media_type=media_type, headers={**HEADERS, **headers})

    return Starlette(routes=[Route("/events", handler)])


def judge_all(
    tmp_path: Path, app: Starlette, framing: str = "sse", limits: str = "", **config: Any
) -> dict[str, Outcome]:
    """Run every framing case of the one-endpoint spec against the app; check id -> outcome.
    `limits` is the endpoint's `limits:` line of the spec; `config` goes to the run."""
    content_type = {
        "sse": "text/event-stream",
        "ndjson": "application/x-ndjson",
        "text": "text/plain",
    }[framing]
    spec = tmp_path / "broken.yaml"
    spec.write_text(
        SPEC.format(
            framing=framing,
            content_type=content_type,
            events=SSE_EVENTS if framing == "sse" else "",
            limits=f"    limits: {limits}\n" if limits else "",
        )
    )
    with BackgroundServer(app) as server:
        run = ConformanceRun(RunConfig(specs=[spec], target=server.url, **config), environ={})
        try:
            return {r.check: r.outcome for r in run.judge_all(run.cases("framing"))}
        finally:
            run.close()


def failing(outcomes: dict[str, Outcome]) -> set[str]:
    return {check for check, outcome in outcomes.items() if outcome is Outcome.FAIL}


def test_a_correct_paced_stream_passes_every_check(tmp_path: Path) -> None:
    outcomes = judge_all(tmp_path, streaming_app(paced(TICKS)))
    assert set(outcomes.values()) <= {Outcome.PASS}, outcomes


def test_one_byte_per_chunk_crlf_and_comments_pass(tmp_path: Path) -> None:
    wire = b"".join(b": keep-alive\r\n" + t.replace(b"\n", b"\r\n") for t in TICKS)
    outcomes = judge_all(tmp_path, streaming_app(paced([bytes([b]) for b in wire], gap=0.002)))
    assert failing(outcomes) == set(), outcomes


def test_a_buffered_response_fails_incremental_delivery(tmp_path: Path) -> None:
    async def handler(request: Request) -> Response:
        await asyncio.sleep(1.0)  # the whole "stream" computed first, then sent at once
        return Response(b"".join(TICKS), media_type="text/event-stream", headers=HEADERS)

    outcomes = judge_all(tmp_path, Starlette(routes=[Route("/events", handler)]))
    assert outcomes["stream.delivery.incremental"] is Outcome.FAIL
    assert outcomes["http.content-length.absent"] is Outcome.WARN
    assert failing(outcomes) == {"stream.delivery.incremental"}


def test_a_wrong_content_type_fails(tmp_path: Path) -> None:
    outcomes = judge_all(tmp_path, streaming_app(paced(TICKS), media_type="text/plain"))
    assert failing(outcomes) == {"http.content-type.framing"}


def test_compression_and_missing_cache_control_warn(tmp_path: Path) -> None:
    async def handler(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for tick in TICKS:
                await asyncio.sleep(0.06)
                yield gzip.compress(tick)  # one gzip member per event: decodes as it goes

        return StreamingResponse(
            body(), media_type="text/event-stream", headers={"content-encoding": "gzip"}
        )

    outcomes = judge_all(tmp_path, Starlette(routes=[Route("/events", handler)]))
    assert outcomes["http.content-encoding.identity"] is Outcome.WARN
    assert outcomes["http.cache-control.no-cache"] is Outcome.WARN
    assert failing(outcomes) == set()


def test_a_silent_stream_fails_its_idle_bound_without_hanging(tmp_path: Path) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield TICKS[0]
        await asyncio.sleep(3600)
        yield b""

    started = time.monotonic()
    outcomes = judge_all(tmp_path, streaming_app(body))
    assert time.monotonic() - started < 15
    assert failing(outcomes) == {"stream.bounds.respected"}


def test_a_stream_that_never_ends_fails_its_maximum_duration(tmp_path: Path) -> None:
    async def body() -> AsyncIterator[bytes]:
        while True:
            await asyncio.sleep(0.05)
            yield b": heartbeat\n\n"

    started = time.monotonic()
    outcomes = judge_all(tmp_path, streaming_app(body))
    assert time.monotonic() - started < 15
    assert outcomes["stream.bounds.respected"] is Outcome.FAIL
    assert outcomes["stream.delivery.incremental"] is Outcome.UNTESTABLE


def test_random_garbage_is_judged_not_crashed_on(tmp_path: Path) -> None:
    noise = random.Random(7).randbytes(20_000)
    outcomes = judge_all(
        tmp_path, streaming_app(paced([noise[i : i + 997] for i in range(0, 20_000, 997)], 0.01))
    )
    assert "encoding.utf8.valid" in failing(outcomes)
    assert Outcome.FAIL in outcomes.values()


async def _long_line() -> AsyncIterator[bytes]:
    yield b"data: "
    for _ in range(40):
        await asyncio.sleep(0.005)
        yield b"x" * 65536  # 2.5 MB with no line break, over the 1 MiB event limit


def test_a_line_past_the_suites_own_event_limit_is_untestable_not_failed(
    tmp_path: Path,
) -> None:
    outcomes = judge_all(tmp_path, streaming_app(_long_line))
    assert outcomes["stream.bounds.respected"] is Outcome.UNTESTABLE
    assert failing(outcomes) == set(), outcomes


def test_a_line_past_a_documented_event_bound_fails(tmp_path: Path) -> None:
    outcomes = judge_all(tmp_path, streaming_app(_long_line), limits="{event_bytes: 1048576}")
    assert "stream.bounds.respected" in failing(outcomes)


def test_a_raised_event_limit_reads_the_line_and_judges_it(tmp_path: Path) -> None:
    outcomes = judge_all(tmp_path, streaming_app(_long_line), max_event_bytes=4 << 20)
    assert outcomes["stream.bounds.respected"] is Outcome.PASS
    assert "sse.event.terminated" in failing(outcomes)  # it never ended with a blank line


def test_an_unterminated_last_event_fails_over_http(tmp_path: Path) -> None:
    pieces = [*TICKS[:-1], b'data: {"type":"done"}\n']
    outcomes = judge_all(tmp_path, streaming_app(paced(pieces)))
    assert failing(outcomes) == {"sse.event.terminated"}


def test_an_error_status_fails_the_stream_and_leaves_the_rest_untestable(tmp_path: Path) -> None:
    async def handler(request: Request) -> Response:
        return Response(b'{"error":"boom"}', status_code=500, media_type="application/json")

    outcomes = judge_all(tmp_path, Starlette(routes=[Route("/events", handler)]))
    assert outcomes.pop("http.status.success") is Outcome.FAIL
    assert set(outcomes.values()) == {Outcome.UNTESTABLE}


def test_ndjson_pretty_printed_and_unterminated_fail(tmp_path: Path) -> None:
    pieces = [*NDJSON, b'{\n  "type": "tick"\n}\n', b'{"type":"tick"}']
    outcomes = judge_all(
        tmp_path, streaming_app(paced(pieces), media_type="application/x-ndjson"), framing="ndjson"
    )
    assert failing(outcomes) == {"ndjson.line.json-object", "ndjson.line.terminated"}


def test_text_carrying_sse_framing_fails(tmp_path: Path) -> None:
    outcomes = judge_all(
        tmp_path, streaming_app(paced(TICKS), media_type="text/plain"), framing="text"
    )
    assert failing(outcomes) == {"text.framing.none"}


def test_an_unreachable_target_is_a_target_error(tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text(
        SPEC.format(framing="sse", content_type="text/event-stream", events=SSE_EVENTS, limits="")
    )
    with BackgroundServer(streaming_app(paced(TICKS))) as server:
        url = server.url  # a port that was just free and is free again after the server stops
    run = ConformanceRun(RunConfig(specs=[spec], target=url), environ={})
    with pytest.raises(TargetError, match="cannot reach target"):
        run.judge(run.cases("framing")[0])


SETUP_SPEC = """\
streamconform: 1
name: setup
title: A stream that needs a session id from a setup request
source: {document: test}
endpoints:
  session:
    method: POST
    path: /session
    timing: {response_timeout: 1}
  events:
    method: GET
    path: /events
    framing: sse
    content_types: [text/event-stream]
    query: {session: "${session_id}"}
    setup: [open_session]
    timing: {idle_timeout: 1, max_duration: 1}
flows:
  open_session:
    steps:
      - endpoint: session
        capture: {session_id: /id}
requirements:
  - id: r
    quote: q
    level: MUST
    checks: [http.status.success]
"""


def setup_app(session: Callable[[Request], Response] | Callable[..., object]) -> Starlette:
    async def events(request: Request) -> Response:
        assert request.query_params["session"] == "s-1"
        return StreamingResponse(paced(TICKS)(), media_type="text/event-stream", headers=HEADERS)

    return Starlette(
        routes=[Route("/session", session, methods=["POST"]), Route("/events", events)]
    )


def judge_setup(tmp_path: Path, app: Starlette) -> tuple[dict[str, Outcome], str]:
    spec = tmp_path / "setup.yaml"
    spec.write_text(SETUP_SPEC)
    with BackgroundServer(app) as server:
        run = ConformanceRun(RunConfig(specs=[spec], target=server.url), environ={})
        try:
            results = run.judge_all(run.cases("framing"))
        finally:
            run.close()
    status = next(r for r in results if r.check == "http.status.success")
    # sse.data.json does not apply: this spec declares no JSON events
    return {r.check: r.outcome for r in results if r.check != "sse.data.json"}, status.message


async def good_session(request: Request) -> Response:
    return Response(b'{"id": "s-1"}', media_type="application/json")


def test_a_setup_flow_feeds_its_capture_into_the_stream_request(tmp_path: Path) -> None:
    outcomes, _ = judge_setup(tmp_path, setup_app(good_session))
    assert set(outcomes.values()) == {Outcome.PASS}, outcomes


async def trickling_session(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        while True:
            await asyncio.sleep(0.2)
            yield b" "

    return StreamingResponse(body(), media_type="application/json")


async def refused_session(request: Request) -> Response:
    return Response(b'{"error":"quota"}', status_code=429, media_type="application/json")


async def empty_session(request: Request) -> Response:
    return Response(b'{"other": 1}', media_type="application/json")


@pytest.mark.parametrize(
    ("session", "reason"),
    [
        pytest.param(trickling_session, "no complete answer within 2.0 s", id="never-finishes"),
        pytest.param(refused_session, "expected status 200, got 429", id="error-status"),
        pytest.param(empty_session, "nothing at /id to capture as session_id", id="no-capture"),
    ],
)
def test_a_failed_setup_fails_the_stream_and_leaves_the_rest_untestable(
    tmp_path: Path, session: Callable[..., object], reason: str
) -> None:
    started = time.monotonic()
    outcomes, message = judge_setup(tmp_path, setup_app(session))
    assert time.monotonic() - started < 15
    assert outcomes.pop("http.status.success") is Outcome.FAIL
    assert reason in message
    assert set(outcomes.values()) == {Outcome.UNTESTABLE}
