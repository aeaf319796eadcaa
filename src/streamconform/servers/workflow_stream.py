"""Reference workflow server: single-use stream tokens and a text/plain stream.

Follows specs/workflow-stream.yaml, including its assumptions where the documentation
is silent (the token endpoint's auth and answer, error bodies, how to provoke 402/500).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from streamconform.model.spec import Spec
from streamconform.model.timing import MIN_BOUND
from streamconform.servers.common import (
    Clock,
    HTTPProblem,
    bearer_token,
    json_body,
    reference_app,
    stream_response,
)

__all__ = ["build_app"]

TOKEN_LIFETIME = 60.0
MAX_DURATION = 300.0
OUTPUT = (
    "Photosynthesis turns light into chemical energy. ",
    "Chlorophyll absorbs mostly blue and red light, ",
    "which is why leaves look green. ",
    "The light reactions split water and release oxygen; ",
    "the Calvin cycle then fixes carbon dioxide into sugar. ",
    "Ünïcödé chęck: 光合作用 🌱",
)


# faults this server can be built with (servers.faults): how a token is checked and spent
TOKEN_FAULTS = frozenset(
    {"reusable", "spent-at-end", "racy", "never-expires", "key-accepted", "any-token"}
)


def build_app(
    spec: Spec, variables: Mapping[str, Any], clock: Clock, faults: frozenset[str] = frozenset()
) -> ASGIApp:
    api_key = str(variables["api_key"])
    broke_key = str(variables["no_credit_api_key"])
    workflows = {str(variables["workflow_id"]), str(variables["endless_workflow_id"])}
    endless = str(variables["endless_workflow_id"])
    failing = str(variables["failing_workflow_id"])
    tokens: dict[str, tuple[str, float]] = {}  # token -> (api key it belongs to, expiry)
    # compressed, but never below the floor of every scaled bound: a token that expired
    # while a loaded machine stalled would fail requests that were sent in time
    lifetime = max(clock.span(TOKEN_LIFETIME), MIN_BOUND)

    def account(request: Request) -> str:
        key = bearer_token(request)
        if key not in (api_key, broke_key):
            raise HTTPProblem(401, "unauthorized", "missing or invalid API key")
        return key

    async def spend(token: str | None) -> str:
        """Consume a token in one step (single-threaded loop: no await in between)."""
        if "key-accepted" in faults and token in (api_key, broke_key):
            return token
        if "any-token" in faults and token and token not in tokens:
            return api_key  # a token of the right kind, never looked up
        entry: tuple[str, float] | None
        if "racy" in faults and token in tokens:
            entry = tokens[token]
            await asyncio.sleep(0.05)  # checked, then spent a moment later
            tokens.pop(token, None)
        else:
            keep = faults & {"reusable", "spent-at-end"}
            entry = (tokens.get(token) if keep else tokens.pop(token, None)) if token else None
        expired = entry is not None and time.monotonic() > entry[1]
        if entry is None or (expired and "never-expires" not in faults):
            raise HTTPProblem(401, "unauthorized", "stream token is invalid, expired or used")
        return entry[0]

    def workflow(request: Request, key: str) -> str:
        workflow_id = request.path_params["workflow_id"]
        if workflow_id not in workflows and workflow_id != failing:
            raise HTTPProblem(404, "not_found", "workflow not found or not published")
        if key == broke_key:
            raise HTTPProblem(402, "payment_required", "no credits remaining on the account")
        return workflow_id

    async def issue_token(request: Request) -> Response:
        key = account(request)
        token = "st_" + secrets.token_urlsafe(24)
        tokens[token] = (key, time.monotonic() + lifetime)
        return JSONResponse(
            {"token": token, "expires_in": int(TOKEN_LIFETIME)},
            headers={"Cache-Control": "no-store"},
        )

    async def run_stream(request: Request) -> Response:
        token = request.query_params.get("token")
        key = await spend(token)
        workflow_id = workflow(request, key)
        await json_body(request, spec.endpoints["run_stream"].body_schema)
        if workflow_id == failing:
            raise HTTPProblem(500, "internal_error", "something went wrong during execution")
        deadline = time.monotonic() + clock.span(MAX_DURATION)

        pieces = itertools.cycle(OUTPUT) if workflow_id == endless else iter(OUTPUT)

        async def body() -> AsyncIterator[bytes]:
            for piece in pieces:
                await clock.sleep(20.0)
                if time.monotonic() > deadline:
                    break  # the documented limit: "up to 300 seconds"
                yield piece.encode()
            if "spent-at-end" in faults and token is not None:
                tokens.pop(token, None)

        return stream_response(body(), "text/plain; charset=utf-8")

    async def run_blocking(request: Request) -> Response:
        key = account(request)
        workflow_id = workflow(request, key)
        await json_body(request, spec.endpoints["run"].body_schema)
        if workflow_id == failing:
            raise HTTPProblem(500, "internal_error", "something went wrong during execution")
        await clock.sleep(20.0 * len(OUTPUT))
        return JSONResponse({"output": "".join(OUTPUT)})

    return reference_app(
        [
            Route("/api/v1/token", issue_token, methods=["GET"]),
            Route("/api/v1/run/{workflow_id}/stream", run_stream, methods=["POST"]),
            Route("/api/v1/run/{workflow_id}", run_blocking, methods=["POST"]),
        ]
    )
