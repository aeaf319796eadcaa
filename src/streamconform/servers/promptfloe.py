"""Reference PromptFloe server: NDJSON build and skill streams, with resumable runs.

Follows specs/promptfloe.yaml, including its assumptions where the documentation is
silent (the skill endpoint, the X-Run-Id header, event ids, error bodies).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from streamconform.model.spec import Spec
from streamconform.model.timing import scaled
from streamconform.servers.common import (
    Clock,
    HTTPProblem,
    bearer_token,
    json_body,
    ndjson_line,
    reference_app,
    stream_response,
)
from streamconform.servers.runlog import EventLog

__all__ = ["build_app"]

Script = list[tuple[float, dict[str, Any]]]


FAIL = "[[fail]]"  # documented provocation (events.failures in specs/promptfloe.yaml)
FAILED = {"type": "error", "message": "build agent crashed", "code": "agent_failure"}


def build_script(prompt: str) -> Script:
    """A build: plan, files, review, an augmenter, ready (seconds into the run, event)."""
    files = ["src/App.tsx", "src/components/Hero.tsx", "src/components/Pricing.tsx"]
    if FAIL in prompt:
        return [
            (20.0, {"type": "plan", "summary": "Landing page", "manifest": files}),
            (60.0, {"type": "file", "path": files[0], "contents": "// App\n"}),
            (90.0, FAILED),
        ]
    return [
        (20.0, {"type": "plan", "summary": f"Landing page for: {prompt[:40]}", "manifest": files}),
        *(
            (60.0 + 40.0 * i, {"type": "file", "path": p, "contents": f"// {p}\n"})
            for i, p in enumerate(files)
        ),
        (
            200.0,
            {
                "type": "review",
                "notes": "Looks good — minor a11y nits patched.",
                "patched": files[:1],
            },
        ),
        (220.0, {"type": "augmenter", "name": "seo", "status": "started"}),
        (260.0, {"type": "augmenter", "name": "seo", "status": "applied"}),
        (
            300.0,
            {
                "type": "ready",
                "appId": "app_abc",
                "previewUrl": "https://preview.example.test/app_abc",
            },
        ),
    ]


def skill_script(skill: str, text: str) -> Script:
    """A skill run: progress, token chunks, an insight, a file, done."""
    words = ["Pricing", " pages", " convert", " best", " with", " three tiers."]
    if FAIL in text:
        return [
            (5.0, {"type": "progress", "stage": "analysing", "percent": 10}),
            (20.0, {"type": "chunk", "delta": words[0]}),
            (40.0, FAILED),
        ]
    return [
        (5.0, {"type": "progress", "stage": "analysing", "percent": 10}),
        *((20.0 + 10.0 * i, {"type": "chunk", "delta": w}) for i, w in enumerate(words)),
        (90.0, {"type": "insight", "title": "Anchor pricing", "detail": f"{skill}: {text[:40]}"}),
        (110.0, {"type": "file_written", "path": "notes/pricing.md", "status": "created"}),
        (120.0, {"type": "progress", "stage": "finishing", "percent": 100}),
        (130.0, {"type": "done", "tokensUsed": 412, "durationMs": 130000}),
    ]


def build_app(spec: Spec, variables: Mapping[str, Any], clock: Clock) -> ASGIApp:
    api_key = str(variables["api_key"])
    build = spec.endpoints["build"].events
    assert build is not None and build.resume is not None  # the spec's build stream resumes
    # floored as the suite floors its own wait for it (model.timing): a window shorter than
    # a stall of a loaded machine would expire runs the suite resumes at once
    window = scaled(build.resume.window or 300.0, clock.scale)
    runs: dict[str, EventLog[dict[str, Any]]] = {}
    run_ids = itertools.count(1)
    tasks: set[asyncio.Task[None]] = set()

    def authorise(request: Request) -> None:
        if bearer_token(request) != api_key:
            raise HTTPProblem(401, "unauthorized", "missing or invalid API key")

    def forget_expired() -> None:
        for run_id, log in list(runs.items()):
            if log.idle_for() > window:
                del runs[run_id]

    async def produce(log: EventLog[dict[str, Any]], script: Script) -> None:
        seq = itertools.count(1)
        async for event in clock.play(script):
            log.append({**event, "id": f"evt_{next(seq):04d}"})
        log.close()

    def start(script: Script) -> tuple[str, EventLog[dict[str, Any]]]:
        forget_expired()
        run_id = f"run_{next(run_ids):06d}"
        log: EventLog[dict[str, Any]] = EventLog()
        runs[run_id] = log
        task = asyncio.get_running_loop().create_task(produce(log, script))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return run_id, log

    def stream(run_id: str, log: EventLog[dict[str, Any]], start_at: int) -> Response:
        async def body() -> AsyncIterator[bytes]:
            async for event in log.follow(start_at):
                if event is not None:
                    yield ndjson_line(event)

        return stream_response(body(), "application/x-ndjson", **{"X-Run-Id": run_id})

    async def generate(request: Request) -> Response:
        authorise(request)
        body = await json_body(request, spec.endpoints["build"].body_schema)
        run_id, log = start(build_script(body["prompt"]))
        return stream(run_id, log, 0)

    async def run_skill(request: Request) -> Response:
        authorise(request)
        body = await json_body(request, spec.endpoints["skill"].body_schema)
        run_id, log = start(skill_script(request.path_params["skill_id"], body["input"]))
        return stream(run_id, log, 0)

    async def run_events(request: Request) -> Response:
        authorise(request)
        forget_expired()
        run_id = request.path_params["run_id"]
        log = runs.get(run_id)
        if log is None:
            raise HTTPProblem(404, "run_not_found", f"run {run_id} does not exist or has expired")
        cursor = request.query_params.get("cursor")
        start_at = 0
        if cursor:
            ids = [event["id"] for event in log.items]
            if cursor not in ids:
                raise HTTPProblem(400, "invalid_cursor", "cursor is not an event of this run")
            start_at = ids.index(cursor) + 1
        return stream(run_id, log, start_at)

    return reference_app(
        [
            Route("/v1/apps/generate", generate, methods=["POST"]),
            Route("/v1/skills/{skill_id}/run", run_skill, methods=["POST"]),
            Route("/v1/runs/{run_id}/events", run_events, methods=["GET"]),
        ]
    )
