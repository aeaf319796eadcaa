"""Reference Prism agents server: a long-lived SSE stream per deployment, with replay.

Follows specs/prism-agents.yaml, including its assumptions where the documentation is
silent (how a run starts, error bodies, the answer to an unknown Last-Event-ID).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from streamconform.model.spec import Spec
from streamconform.servers.common import (
    Clock,
    HTTPProblem,
    bearer_token,
    json_body,
    reference_app,
    sse_event,
    stream_response,
)
from streamconform.servers.runlog import EventLog

__all__ = ["build_app"]

HEARTBEAT = 15.0
FAIL = "[[fail]]"
MIN_HEARTBEAT = 0.05


@dataclass(frozen=True, slots=True)
class Emitted:
    """One event as stored in a deployment's log."""

    id: str
    event: str
    data: dict[str, Any]
    thread_id: str

    def encode(self) -> bytes:
        return sse_event(self.data, event=self.event, id=self.id)


def run_script(
    run_id: str, thread_id: str, text: str
) -> list[tuple[float, tuple[str, dict[str, Any]]]]:
    """(seconds into the run, (event type, payload)) for one agent run."""
    words = ["Here are five directions", " for your launch:", " bold,", " playful,", " calm."]
    run = {"run_id": run_id}
    if FAIL in text:  # documented provocation (events.failures in specs/prism-agents.yaml)
        return [
            (0.0, ("run_status", {**run, "status": "running"})),
            (10.0, ("token", {**run, "thread_id": thread_id, "delta": words[0]})),
            (40.0, ("tool_call", {**run, "tool": "generate_video", "arguments": {}})),
            (60.0, ("run_status", {**run, "status": "error"})),
        ]
    return [
        (0.0, ("run_status", {**run, "status": "running"})),
        *(
            (10.0 + 5.0 * i, ("token", {**run, "thread_id": thread_id, "delta": w}))
            for i, w in enumerate(words)
        ),
        (
            40.0,
            ("tool_call", {**run, "tool": "generate_video", "arguments": {"prompt": text[:60]}}),
        ),
        (70.0, ("tool_result", {**run, "tool": "generate_video", "result": {"status": "queued"}})),
        (80.0, ("filesystem", {**run, "path": "out/video-brief.md", "change": "created"})),
        (90.0, ("steering_request", {**run, "summary": "About to post 5 ads to Meta. Approve?"})),
        (95.0, ("run_status", {**run, "status": "waiting_on_human"})),
        (120.0, ("run_status", {**run, "status": "completed"})),
    ]


def build_app(spec: Spec, variables: Mapping[str, Any], clock: Clock) -> ASGIApp:
    full_key = str(variables["api_key"])
    unscoped_key = str(variables["unscoped_api_key"])
    logs: dict[str, EventLog[Emitted]] = {str(variables["deployment_id"]): EventLog()}
    event_ids = itertools.count(1)
    run_ids = itertools.count(1)
    tasks: set[asyncio.Task[None]] = set()
    heartbeat = max(clock.span(HEARTBEAT), MIN_HEARTBEAT)

    def deployment(request: Request, *, scope: str) -> EventLog[Emitted]:
        key = bearer_token(request)
        if key not in (full_key, unscoped_key):
            raise HTTPProblem(401, "unauthorized", "missing or invalid API key")
        if key == unscoped_key and scope == "deployments:read":
            raise HTTPProblem(403, "forbidden", "API key lacks deployments:read scope")
        log = logs.get(request.path_params["deployment_id"])
        if log is None:
            raise HTTPProblem(404, "not_found", "deployment does not exist")
        return log

    async def produce(log: EventLog[Emitted], run_id: str, thread_id: str, text: str) -> None:
        async for kind, data in clock.play(run_script(run_id, thread_id, text)):
            log.append(Emitted(f"evt_{next(event_ids):04d}", kind, data, thread_id))

    async def events(request: Request) -> Response:
        log = deployment(request, scope="deployments:read")
        thread_filter = request.query_params.get("thread_id")
        run_filter = request.query_params.get("run_id")
        last_id = request.headers.get("last-event-id")
        start = len(log.items)
        if last_id is not None:
            ids = [e.id for e in log.items]
            if last_id not in ids:
                raise HTTPProblem(400, "invalid_last_event_id", "Last-Event-ID is not an event id")
            start = ids.index(last_id) + 1
        follower = log.follow(start, idle=heartbeat)  # start fixed before the headers go out

        async def body() -> AsyncIterator[bytes]:
            async for item in follower:
                if item is None:
                    yield b": ping\n\n"
                elif (thread_filter in (None, item.thread_id)) and (
                    run_filter in (None, item.data["run_id"])
                ):
                    yield item.encode()

        return stream_response(body(), "text/event-stream")

    async def start_run(request: Request) -> Response:
        log = deployment(request, scope="runs:write")
        body = await json_body(request, spec.endpoints["start_run"].body_schema)
        run_id = f"run_{next(run_ids):06d}"
        thread_id = body.get("thread_id") or "thr_default_8a1"
        task = asyncio.get_running_loop().create_task(
            produce(log, run_id, thread_id, body["input"])
        )
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return JSONResponse({"run_id": run_id, "thread_id": thread_id, "status": "running"}, 201)

    return reference_app(
        [
            Route("/v1/deployments/{deployment_id}/events", events, methods=["GET"]),
            Route("/v1/deployments/{deployment_id}/runs", start_run, methods=["POST"]),
        ]
    )
