"""The wrappers faults are made of, on a real server: edits see whole events however the
server cuts its body, keep what they do not touch byte for byte, and rewrite requests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from streamconform.model.spec import Endpoint, EventsSpec, Framing
from streamconform.servers import BackgroundServer
from streamconform.servers.http10 import Http10Front
from streamconform.servers.rewrite import EventEdit, edit_requests, edit_streams, with_header

BODY = b'data: {"type":"a","n":1}\n\ndata: {"type":"b","n":2}\n\n: note\n\ndata: {"type":"c"}\n\n'
ENDPOINT = Endpoint(
    "events",
    "GET",
    "/events",
    framing=Framing.SSE,
    content_types=("text/event-stream",),
    events=EventsSpec(type_from="json-field", types={}),
)


def app_cutting_at(step: int) -> Starlette:
    async def handler(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for i in range(0, len(BODY), step):
                yield BODY[i : i + step]

        return StreamingResponse(body(), media_type="text/event-stream")

    async def echo(request: Request) -> Response:
        return JSONResponse(
            {"key": request.headers.get("x-key"), "body": (await request.body()).decode()}
        )

    return Starlette(routes=[Route("/events", handler), Route("/echo", echo, methods=["POST"])])


def test_an_event_edit_sees_whole_events_whatever_the_cuts() -> None:
    for step in (1, 3, 7, len(BODY)):
        seen: list[str | None] = []

        def drop_b(
            raw: bytes, event: object, label: str | None, seen: list[str | None] = seen
        ) -> list[bytes]:
            seen.append(label)
            return [] if label == "b" else [raw]

        app = edit_streams(app_cutting_at(step), lambda scope: EventEdit(ENDPOINT, drop_b))
        with BackgroundServer(app) as server:
            got = httpx.get(f"{server.url}/events").content
        assert seen == ["a", "b", "c"], step
        assert got == BODY.replace(b'data: {"type":"b","n":2}\n\n', b""), step


def test_a_request_edit_rewrites_headers_and_body() -> None:
    async def change(scope: dict, body: bytes) -> tuple[dict, bytes]:
        return with_header(scope, "x-key", "swapped"), body.upper()

    with BackgroundServer(edit_requests(app_cutting_at(5), change)) as server:
        answer = httpx.post(f"{server.url}/echo", content=b"hello", headers={"x-key": "k"})
    assert answer.json() == {"key": "swapped", "body": "HELLO"}


def test_the_http10_front_answers_close_delimited_as_the_server_sent() -> None:
    with BackgroundServer(app_cutting_at(4)) as server:
        front = Http10Front(server.port).start()
        try:
            with httpx.stream("GET", f"{front.url}/events") as response:
                assert response.http_version == "HTTP/1.0"
                assert "transfer-encoding" not in response.headers
                assert response.headers["connection"] == "close"
                assert b"".join(response.iter_bytes()) == BODY
            posted = httpx.post(f"{front.url}/echo", content=b"x" * 70000)
            assert json.loads(posted.content)["body"] == "x" * 70000
        finally:
            front.stop()
