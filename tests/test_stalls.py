"""Our own delays are never the server's fault: a capture notes when this process was held
up, and stream.delivery.incremental does not call a stream buffered because of it."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

import streamconform.checks  # noqa: F401  (registers every check)
from streamconform.capture.recorder import Recorder
from streamconform.capture.session import TargetSession
from streamconform.capture.stream import capture_stream
from streamconform.checks.registry import REGISTRY, Untestable
from streamconform.core.redact import Redactor
from streamconform.core.transcript import End
from streamconform.model import load_spec
from streamconform.model.spec import Endpoint, Framing
from streamconform.servers import BackgroundServer

INCREMENTAL = REGISTRY["stream.delivery.incremental"]
BOUNDS = REGISTRY["stream.bounds.respected"]
ENDPOINT = Endpoint(
    name="e", method="GET", path="/e", framing=Framing.SSE, content_types=("text/event-stream",)
)
SPEC = """\
streamconform: 1
name: paced
title: A paced stream
source: {document: test}
endpoints:
  events:
    method: GET
    path: /events
    framing: sse
    content_types: [text/event-stream]
requirements:
  - {id: r, quote: q, level: MUST, checks: [stream.delivery.incremental]}
"""


def bunched(stalls: list[tuple[float, float]]):
    """Five events that all arrive at +1.0 s after silence, as a buffered server sends them."""
    rec = Recorder("s", ENDPOINT)
    rec.response(200, [("content-type", "text/event-stream")], 0.01)
    for n in range(5):
        rec.chunk(b"data: %d\n\n" % n, 1.0 + n * 0.001)
    rec.stalls.extend(stalls)
    rec.closed(1.01)
    return rec.transcript(1.01)


def test_a_burst_after_silence_is_buffering_when_we_were_running() -> None:
    assert INCREMENTAL.run(bunched([]), ENDPOINT)


def test_a_burst_is_not_blamed_on_the_server_when_we_were_held_up() -> None:
    with pytest.raises(Untestable, match=r"this process itself was held up for 0\.900 s"):
        INCREMENTAL.run(bunched([(0.05, 0.9)]), ENDPOINT)


def test_a_short_stall_of_ours_does_not_excuse_a_long_silence() -> None:
    assert INCREMENTAL.run(bunched([(0.2, 0.1), (0.6, 0.1)]), ENDPOINT)


def paced_app() -> Starlette:
    async def events(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for n in range(6):
                await asyncio.sleep(0.06)
                yield b"data: %d\n\n" % n

        return StreamingResponse(body(), media_type="text/event-stream")

    return Starlette(routes=[Route("/events", events)])


async def test_a_held_up_event_loop_is_noted_and_not_blamed(tmp_path: Path) -> None:
    path = tmp_path / "paced.yaml"
    path.write_text(SPEC)
    spec = load_spec(path)
    endpoint = spec.endpoints["events"]

    async def hold_up() -> None:
        await asyncio.sleep(0.03)
        time.sleep(0.6)  # the whole loop is blocked, as a loaded machine would block it

    with BackgroundServer(paced_app()) as server:
        session = TargetSession(spec, endpoint, server.url, {}, 1.0, Redactor())
        try:
            blocker = asyncio.create_task(hold_up())
            t = await capture_stream(session)
            await blocker
        finally:
            await session.aclose()
    assert any(length >= 0.5 for _, length in t.stalls), t.stalls
    # the server kept pacing in its own thread while we were blocked, so the events bunched:
    # without the stall record this correct server would have been called buffered
    assert INCREMENTAL.run(dataclasses.replace(t, stalls=()), endpoint)
    try:
        findings = INCREMENTAL.run(t, endpoint)
    except Untestable:
        findings = []
    assert findings == []


def silent(stalls: list[tuple[float, float]]):
    """One event, then silence until the idle bound ended the capture at +3.0 s."""
    rec = Recorder("s", ENDPOINT)
    rec.response(200, [("content-type", "text/event-stream")], 0.01)
    rec.chunk(b"data: 0\n\n", 0.5)
    rec.stalls.extend(stalls)
    rec.finish(End.IDLE_TIMEOUT, "no byte for 2.00 s")
    return rec.transcript(3.0)


def test_an_idle_timeout_is_the_server_s_when_we_were_running() -> None:
    assert BOUNDS.run(silent([(1.0, 0.2)]), ENDPOINT)


def test_an_idle_timeout_is_not_blamed_on_the_server_when_we_were_held_up() -> None:
    with pytest.raises(Untestable, match="held up"):
        BOUNDS.run(silent([(0.6, 2.0)]), ENDPOINT)
