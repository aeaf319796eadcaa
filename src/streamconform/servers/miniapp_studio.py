"""Reference Miniapp Studio server: deployment lifecycle and SSE prompt streams.

Follows specs/miniapp-studio.yaml; where the documentation is silent it follows that
spec's assumptions (status codes and bodies of errors, the blocking prompt's answer).
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from streamconform.model.spec import Endpoint, Spec
from streamconform.servers.common import (
    Clock,
    HTTPProblem,
    json_body,
    now_iso,
    reference_app,
    sse_event,
    stream_response,
)

__all__ = ["build_app"]

READY_AFTER = 20.0  # documented: "may take up to a minute"
_IDS = uuid.UUID("6f1c2e0a-5d1b-4c8e-9a57-3b1f0e2d4c6a")  # deterministic deployment ids


@dataclass(slots=True)
class Deployment:
    fid: int
    name: str
    created_at: str
    ready_at: float
    id: str
    display_name: str | None = None

    def view(self, now: float) -> dict[str, Any]:
        ready = now >= self.ready_at
        out: dict[str, Any] = {
            "created_at": self.created_at,
            "namespace": f"miniapp-generator-fid-{self.fid}",
            "name": self.name,
            "deployment_id": self.id,
            "isReady": ready,
        }
        if ready:
            out["url"] = f"https://{self.name}.studio.example.test"
        if self.display_name:
            out["display_name"] = self.display_name
        return out


def _fid(request: Request) -> int:
    try:
        return int(request.query_params.get("fid", ""))
    except ValueError:
        raise HTTPProblem(400, "bad_request", "fid must be an integer") from None


Script = list[tuple[float, dict[str, Any]]]


# Documented provocations (specs/miniapp-studio.yaml, events.failures): a prompt containing
# one of these markers makes the generation end the way the marker names.
FAILURE_ENDINGS = {
    "[[fail]]": "error",
    "[[max-turns]]": "error_max_turns",
    "[[exec-error]]": "error_during_execution",
}


def _script(prompt: str, action: str, session_id: str) -> Script:
    """(seconds into the generation, message) for one prompt: a deterministic run."""
    opening: Script = [
        (0.0, {"type": "connection", "message": "Streaming started"}),
        (
            2.0,
            {
                "type": "system",
                "subtype": "init",
                "message": "Initializing...",
                "session_id": session_id,
            },
        ),
        (30.0, {"type": "assistant", "message": f"Working on: {prompt[:60]} ({action})"}),
    ]
    ending = next((e for marker, e in FAILURE_ENDINGS.items() if marker in prompt), None)
    if ending == "error":
        return [
            *opening,
            (
                60.0,
                {
                    "type": "error",
                    "message": "generation failed: sandbox crashed",
                    "timestamp": now_iso(),
                },
            ),
        ]
    if ending is not None:
        return [
            *opening,
            (
                90.0,
                {
                    "type": "result",
                    "subtype": ending,
                    "message": f"Generation stopped: {ending}",
                    "session_id": session_id,
                },
            ),
        ]
    return [
        *opening,
        (90.0, {"type": "assistant", "message": "Creating your miniapp..."}),
        (150.0, {"type": "user", "message": "tool_result: files written"}),
        (210.0, {"type": "assistant", "message": "Wiring up the page headline editor"}),
        (270.0, {"type": "assistant", "message": "Applying the orange and blue theme"}),
        (
            300.0,
            {
                "type": "result",
                "subtype": "success",
                "message": "Deployment complete",
                "session_id": session_id,
            },
        ),
    ]


def build_app(spec: Spec, variables: Mapping[str, Any], clock: Clock) -> ASGIApp:
    api_key = str(variables["api_key"])
    deployments: dict[tuple[int, str], Deployment] = {}
    names = itertools.count(1)
    sessions = itertools.count(1)
    stream_ep = spec.endpoints["prompt_stream"]
    prompt_ep = spec.endpoints["prompt"]
    loop_time = time.monotonic  # readiness must not depend on the wall clock

    def authorise(request: Request) -> None:
        key = request.headers.get("x-api-key")
        if not key or key != api_key:
            raise HTTPProblem(401, "unauthorized", "missing or invalid API key")

    def find(body: Mapping[str, Any]) -> Deployment:
        name, wanted_id, fid = body.get("name"), body.get("deployment_id"), body.get("fid")
        for dep in deployments.values():
            same = dep.name == name if name else dep.id == wanted_id
            if same and (fid is None or dep.fid == fid):
                return dep
        raise HTTPProblem(404, "not_found", "deployment not found")

    async def create(request: Request) -> Response:
        authorise(request)
        body = await json_body(request, spec.endpoints["create_deployment"].body_schema)
        fid = int(body["fid"])
        name = f"server-{250904162435170 + next(names)}"
        dep = Deployment(
            fid, name, now_iso(), loop_time() + clock.span(READY_AFTER), str(uuid.uuid5(_IDS, name))
        )
        deployments[(fid, name)] = dep
        return JSONResponse(dep.view(loop_time()))

    async def get_one(request: Request) -> Response:
        authorise(request)
        dep = deployments.get((_fid(request), request.query_params.get("name", "")))
        if dep is None:
            raise HTTPProblem(404, "not_found", "deployment not found")
        return JSONResponse(dep.view(loop_time()))

    async def list_or_delete(request: Request) -> Response:
        authorise(request)
        if request.method == "GET":
            fid = _fid(request)
            now = loop_time()
            views = [
                {k: v for k, v in d.view(now).items() if k not in ("namespace", "url")}
                for d in deployments.values()
                if d.fid == fid
            ]
            return JSONResponse({"deployments": views})
        body = await json_body(request, spec.endpoints["delete_deployment"].body_schema)
        fid = body["fid"]
        if body.get("name"):
            dep = find(body)
            del deployments[(dep.fid, dep.name)]
            return JSONResponse({"deleted": [dep.name]})
        gone = [key for key in deployments if key[0] == fid]
        for key in gone:
            del deployments[key]
        return JSONResponse({"deleted": [name for _, name in gone]})

    async def associate(request: Request) -> Response:
        authorise(request)
        body = await json_body(request, spec.endpoints["account_association"].body_schema)
        dep = find(body)
        return JSONResponse({"success": True, "name": dep.name, "domain": body["domain"]})

    def ready_deployment(body: Mapping[str, Any]) -> Deployment:
        dep = find(body)
        if loop_time() < dep.ready_at:
            raise HTTPProblem(409, "not_ready", "deployment is not ready yet")
        return dep

    async def accepted_prompt(request: Request, endpoint: Endpoint) -> Script:
        """Authorised, valid, for a ready deployment: the generation it starts."""
        authorise(request)
        body = await json_body(request, endpoint.body_schema)
        ready_deployment(body)
        session = body.get("session_id") or f"sess_{next(sessions):06d}"
        return _script(body["prompt"], body.get("action", "code-create"), session)

    async def prompt(request: Request) -> Response:
        script = await accepted_prompt(request, prompt_ep)
        await clock.sleep(script[-1][0])
        return JSONResponse({"messages": [message for _, message in script]})

    async def prompt_stream(request: Request) -> Response:
        script = await accepted_prompt(request, stream_ep)

        async def play() -> AsyncIterator[bytes]:
            async for message in clock.play(script):
                yield sse_event(message)

        return stream_response(play(), "text/event-stream")

    base = "/v2/studio/deployment"
    routes = [
        Route(f"{base}/", create, methods=["POST"]),
        Route(base, create, methods=["POST"]),
        Route(f"{base}/by-name-and-fid", get_one, methods=["GET"]),
        Route(f"{base}/", list_or_delete, methods=["GET", "DELETE"]),
        Route(base, list_or_delete, methods=["GET", "DELETE"]),
        Route(f"{base}/prompt", prompt, methods=["POST"]),
        Route(f"{base}/prompt/stream", prompt_stream, methods=["POST"]),
        Route(f"{base}/account-association", associate, methods=["POST"]),
    ]
    return reference_app(routes)
