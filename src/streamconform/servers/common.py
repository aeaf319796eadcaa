"""What the reference servers share: compressed time, auth, JSON errors, stream encoders."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import jsonschema
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute

from streamconform.formats import schema_validator

__all__ = [
    "STREAM_HEADERS",
    "Clock",
    "HTTPProblem",
    "bearer_token",
    "json_body",
    "ndjson_line",
    "now_iso",
    "reference_app",
    "sse_event",
    "stream_response",
]

T = TypeVar("T")
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_MAX_BODY = 1 << 20


@dataclass(frozen=True, slots=True)
class Clock:
    """Compressed time: a documented `seconds` lasts `seconds * scale` here."""

    scale: float

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self.scale)

    def span(self, seconds: float) -> float:
        return seconds * self.scale

    async def play(self, script: Iterable[tuple[float, T]]) -> AsyncIterator[T]:
        """Each item of a (documented seconds from the start, item) script, on time."""
        elapsed = 0.0
        for at, item in script:
            await self.sleep(at - elapsed)
            elapsed = at
            yield item


class HTTPProblem(Exception):
    """An error answer before any stream starts: status, error code, message."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


async def _problem_response(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPProblem):
        raise exc
    return JSONResponse(
        {"error": exc.error, "message": exc.message},
        status_code=exc.status,
        headers={"Cache-Control": "no-store"},
    )


def reference_app(routes: Sequence[BaseRoute]) -> Starlette:
    """A Starlette app whose HTTPProblem exceptions become documented JSON error answers."""
    return Starlette(routes=routes, exception_handlers={HTTPProblem: _problem_response})


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def bearer_token(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def json_body(request: Request, schema: Mapping[str, Any] | None) -> Any:
    """The request's JSON body, validated against the spec's schema; 400 otherwise."""
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise HTTPProblem(413, "payload_too_large", "request body is too large")
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        raise HTTPProblem(400, "bad_request", "request body is not valid JSON") from None
    if schema is not None:
        error = jsonschema.exceptions.best_match(schema_validator(schema).iter_errors(body))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "body"
            raise HTTPProblem(400, "bad_request", f"{where}: {error.message}")
    return body


def sse_event(data: Any, *, event: str | None = None, id: str | None = None) -> bytes:
    """One SSE event: optional event and id lines, JSON data, blank line."""
    lines = []
    if event is not None:
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {id}")
    lines.append(f"data: {json.dumps(data, separators=(',', ':'))}")
    return ("\n".join(lines) + "\n\n").encode()


def ndjson_line(data: Any) -> bytes:
    return (json.dumps(data, separators=(",", ":")) + "\n").encode()


def stream_response(
    body: AsyncIterator[bytes], media_type: str, **headers: str
) -> StreamingResponse:
    return StreamingResponse(body, media_type=media_type, headers={**STREAM_HEADERS, **headers})
