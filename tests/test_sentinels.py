"""Sentinels (spec format 2): `data: [DONE]` declared as an event of its own label, that the
grammar places and requires, that may be terminal, and after which nothing may come.

Judged end to end: an OpenAI-style chat completion stream served on loopback, read by the
real client, every check of the framing, ordering and terminal suites run on it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from streamconform.core.outcome import Outcome
from streamconform.engine.run import ConformanceRun, RunConfig
from streamconform.errors import SpecError
from streamconform.model import load_spec
from streamconform.servers import BackgroundServer

SPEC = """\
streamconform: 2
name: chat
title: A chat completion stream that ends with data [DONE]
source: {document: test}
endpoints:
  completions:
    method: POST
    path: /v1/chat/completions
    body: {model: m, stream: true, messages: [{role: user, content: hi}]}
    framing: sse
    content_types: [text/event-stream]
    events:
      type_from: json-field
      type_field: object
      data: json
      sentinels: {"[DONE]": done}
      types:
        chat.completion.chunk:
          schema: {type: object, required: [id, choices]}
      grammar: "chat.completion.chunk+ done"
      terminal: [done]
    timing: {response_timeout: 5, idle_timeout: 2, max_duration: 10, close_after_terminal: 1}
requirements:
  - id: done
    quote: The stream is terminated by a data [DONE] message.
    level: MUST
    endpoints: [completions]
    checks: [terminal.event.present, terminal.event.once, order.grammar.viable]
"""
CHECKS = ("terminal.event.present", "terminal.event.once", "order.grammar.viable", "sse.data.json")


def chunk(n: int, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": {"content": f"w{n} "}, "finish_reason": finish}
    body = {"id": "c1", "object": "chat.completion.chunk", "choices": [choice]}
    return f"data: {json.dumps(body)}\n\n".encode()


CORRECT = [chunk(0), chunk(1), chunk(2, "stop"), b"data: [DONE]\n\n"]
UNUSUAL = [
    b": hi\r\n\r\n",
    chunk(0).replace(b"\n", b"\r\n"),
    chunk(1, "stop"),
    b"data: [DON",
    b"E]\r\n\r\n",
]
WITHOUT_DONE = CORRECT[:-1]
AFTER_DONE = [*CORRECT, chunk(3)]


def app(pieces: list[bytes]) -> Starlette:
    async def completions(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for piece in pieces:
                await asyncio.sleep(0.02)
                yield piece

        return StreamingResponse(
            body(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


def outcomes(tmp_path: Path, pieces: list[bytes]) -> dict[str, Outcome]:
    spec = tmp_path / "chat.yaml"
    spec.write_text(SPEC)
    with BackgroundServer(app(pieces)) as server:
        run = ConformanceRun(RunConfig(specs=[spec], target=server.url, select=CHECKS), environ={})
        try:
            return {r.check: r.outcome for r in run.judge_all(run.cases())}
        finally:
            run.close()


@pytest.mark.parametrize("pieces", [CORRECT, UNUSUAL], ids=["plain", "crlf-comment-split"])
def test_a_stream_ending_with_its_sentinel_passes(tmp_path: Path, pieces: list[bytes]) -> None:
    assert outcomes(tmp_path, pieces) == dict.fromkeys(CHECKS, Outcome.PASS)


def test_a_stream_without_its_sentinel_fails(tmp_path: Path) -> None:
    got = outcomes(tmp_path, WITHOUT_DONE)
    assert got["terminal.event.present"] is Outcome.FAIL
    # what came is a viable beginning; that it never ended is terminal.event.present's
    assert got["order.grammar.viable"] is Outcome.PASS


def test_an_event_after_the_sentinel_fails(tmp_path: Path) -> None:
    got = outcomes(tmp_path, AFTER_DONE)
    assert got["terminal.event.once"] is Outcome.FAIL
    assert got["order.grammar.viable"] is Outcome.FAIL


def test_sentinels_need_format_2_and_a_label_of_their_own(tmp_path: Path) -> None:
    path = tmp_path / "chat.yaml"
    path.write_text(SPEC.replace("streamconform: 2", "streamconform: 1"))
    with pytest.raises(SpecError, match=re.escape("events.sentinels: a key of spec format 2")):
        load_spec(path)
    path.write_text(SPEC.replace('{"[DONE]": done}', '{"[DONE]": chat.completion.chunk}'))
    with pytest.raises(
        SpecError, match=re.escape("'chat.completion.chunk' is already an event type")
    ):
        load_spec(path)
