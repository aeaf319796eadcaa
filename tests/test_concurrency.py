"""Plays side by side: plays that cannot disturb each other overlap, those that can (a
teardown, a multiplexed stream) take turns, and --concurrency 1 plays one at a time.

A real server on loopback counts the requests it is answering at once. The stream of
endpoint `a` holds back until a request to `b` is being answered too (or a second has
passed), so plays that run side by side are seen to overlap without depending on how
fast this machine is.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from streamconform.core.outcome import Outcome
from streamconform.engine.run import ConformanceRun, RunConfig, disturbs
from streamconform.errors import SpecError
from streamconform.model.spec import Endpoint, EventsSpec, Filter
from streamconform.servers import BackgroundServer

SPEC = """\
streamconform: 1
name: pair
title: Two NDJSON endpoints
source: {{document: test}}
endpoints:
  a:
    method: GET
    path: /a
    framing: ndjson
    content_types: [application/x-ndjson]
{teardown}    timing: {{idle_timeout: 5, max_duration: 5, close_after_terminal: 1}}
  b:
    method: GET
    path: /b
    framing: ndjson
    content_types: [application/x-ndjson]
    timing: {{idle_timeout: 5, max_duration: 5, close_after_terminal: 1}}
  cleanup:
    method: DELETE
    path: /cleanup
flows:
  clean:
    steps:
      - endpoint: cleanup
requirements:
  - id: r
    quote: q
    level: MUST
    checks: [http.status.success]
"""
_HOLD = 1.0  # how long `a` waits for `b` before it streams anyway


class Counting:
    """The server: how many streams it answers at once, at most."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.b_open = asyncio.Event()

    def app(self) -> Starlette:
        async def stream(request: Request) -> Response:
            name = request.url.path.strip("/")

            async def body() -> AsyncIterator[bytes]:
                self.now += 1
                self.most = max(self.most, self.now)
                try:
                    if name == "b":
                        self.b_open.set()
                    else:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self.b_open.wait(), _HOLD)
                    for n in range(3):
                        yield b'{"n":%d}\n' % n
                        await asyncio.sleep(0.05)
                finally:
                    self.now -= 1
                    if name == "b":
                        self.b_open.clear()

            return StreamingResponse(body(), media_type="application/x-ndjson")

        async def cleanup(request: Request) -> Response:
            return Response(status_code=204)

        return Starlette(
            routes=[
                Route("/a", stream),
                Route("/b", stream),
                Route("/cleanup", cleanup, methods=["DELETE"]),
            ]
        )


def play(tmp_path: Path, *, teardown: bool = False, concurrency: int = 8) -> tuple[int, set[str]]:
    """Judge every framing case of both endpoints; the most streams answered at once and
    the outcomes seen."""
    spec = tmp_path / "pair.yaml"
    spec.write_text(SPEC.format(teardown="    teardown: [clean]\n" if teardown else ""))
    server = Counting()
    with BackgroundServer(server.app()) as background:
        config = RunConfig(specs=[spec], target=background.url, concurrency=concurrency)
        run = ConformanceRun(config, environ={})
        try:
            cases = run.cases("framing")
            run.prefetch(cases)
            outcomes = {run.judge(case).outcome.value for case in cases}
        finally:
            run.close()
    return server.most, outcomes


def test_plays_that_cannot_disturb_each_other_overlap(tmp_path: Path) -> None:
    most, outcomes = play(tmp_path)
    assert most == 2
    assert Outcome.FAIL.value not in outcomes, outcomes


def test_one_at_a_time_when_asked(tmp_path: Path) -> None:
    most, outcomes = play(tmp_path, concurrency=1)
    assert most == 1
    assert Outcome.FAIL.value not in outcomes, outcomes


def test_a_target_with_a_teardown_plays_one_at_a_time(tmp_path: Path) -> None:
    """`a` destroys what its setup made when its play ends: no play of the target runs
    beside it, whatever --concurrency says."""
    most, outcomes = play(tmp_path, teardown=True)
    assert most == 1
    assert Outcome.FAIL.value not in outcomes, outcomes


def test_what_disturbs() -> None:
    plain = Endpoint(name="e", method="GET", path="/e")
    assert not disturbs(plain)
    assert disturbs(Endpoint(name="e", method="GET", path="/e", teardown=("clean",)))
    run_filter = Filter(param="run", value="1", field="run", equals="1")
    multiplexed = EventsSpec(type_from="json-field", types={}, filters=(run_filter,))
    assert disturbs(Endpoint(name="e", method="GET", path="/e", events=multiplexed))


def test_concurrency_below_one_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="--concurrency 0: give 1 or more"):
        ConformanceRun(RunConfig(concurrency=0))


def test_closing_while_plays_run_does_not_wait_for_them(tmp_path: Path) -> None:
    """A run stopped early (a setup error, Ctrl-C) cancels what it gathers ahead."""
    spec = tmp_path / "pair.yaml"
    spec.write_text(SPEC.format(teardown=""))
    server = Counting()
    with BackgroundServer(server.app()) as background:
        run = ConformanceRun(RunConfig(specs=[spec], target=background.url), environ={})
        run.prefetch(run.cases())
        started = time.monotonic()
        run.close()
        assert time.monotonic() - started < _HOLD + 2
