"""No API key or token, whole or in part, in anything a run writes or prints.

The server here is as indiscreet as a server can be: it echoes every credential it gets
in headers, in stream bodies cut across chunk boundaries, URL-encoded and JSON-escaped,
and in error messages long enough to be shortened. The suite is run by the CLI as a user
runs it, and every file written and every line printed is scanned.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from streamconform.servers import BackgroundServer

ROOT = Path(__file__).resolve().parents[1]
STREAM_KEY = "sk-Zq8+VwX/9pLm=Rt4KeYu"
WORKFLOW_KEY = "wk-Hb3/Jd7+Qs=Fn2TzLo"
BROKE_KEY = "wk-Pe5+Ua/Wi6=Yc1MxNr"
FRAGMENT = 6  # no run of this many characters of a secret may show
SPEC = """\
streamconform: 1
name: leaky
title: A server that repeats every credential it is sent
source: {document: test}
variables:
  api_key: {env: LEAKY_API_KEY, secret: true}
auth:
  key: {type: bearer, token: "${api_key}"}
endpoints:
  events:
    method: GET
    path: /events
    framing: sse
    auth: key
    content_types: [text/event-stream]
    errors:
      - {status: 401, when: no key, provoke: {omit_auth: true}}
    error_schema: {type: object, required: [error], properties: {error: {type: string}}}
    events:
      type_from: json-field
      data: json
      types:
        tick: {schema: {type: object, required: [n], properties: {n: {type: integer}}}}
      terminal: [tick]
    timing: {idle_timeout: 2, max_duration: 4, close_after_terminal: 1}
requirements:
  - id: r
    quote: q
    level: MUST
    checks: [sse.data.json]
"""


def _padding(n: int) -> str:
    return "x" * n


def leaky_app(issued: list[str]) -> Starlette:
    """Routes of both specs; every answer carries back what the request carried."""
    spent: set[str] = set()

    def bearer(request: Request) -> str:
        return request.headers.get("authorization", "").removeprefix("Bearer ").strip()

    def refusal(what: str) -> Response:
        # long enough that a message must shorten it, with the secret across the cut
        text = _padding(190) + f" you sent {what} " + _padding(300)
        return JSONResponse(
            {"error": "unauthorized", "message": text},
            status_code=401,
            headers={"x-you-sent": quote(what, safe="")},
        )

    async def events(request: Request) -> Response:
        key = bearer(request) or request.query_params.get("api_key", "")
        if key != STREAM_KEY:
            return refusal(key)

        async def body() -> AsyncIterator[bytes]:
            echoed = f'data: {{"type":"tick","n":"{key}"}}\n\n'.encode()
            for i in range(0, len(echoed), 7):  # the key cut across chunks
                yield echoed[i : i + 7]
                await asyncio.sleep(0.001)
            escaped = json.dumps(key).replace("/", "\\/")
            yield f"data: not json {quote(key, safe='')} {escaped}\n\n".encode()
            yield b'data: {"type":"tick","n":1}\n\n'

        return StreamingResponse(
            body(),
            media_type="text/event-stream",
            headers={"x-key": key, "cache-control": "no-cache"},
        )

    async def token(request: Request) -> Response:
        key = bearer(request)
        if key != WORKFLOW_KEY:
            return refusal(key)
        value = "st_" + secrets.token_urlsafe(18) + "+/="
        issued.append(value)
        return JSONResponse({"token": value, "expires_in": 60, "key": key})

    async def run_stream(request: Request) -> Response:
        value = request.query_params.get("token", "")
        if value not in issued or value in spent:
            return refusal(value)
        spent.add(value)

        async def body() -> AsyncIterator[bytes]:
            for piece in (f"token {value[:9]}", f"{value[9:]} is yours; ", "more text"):
                yield piece.encode()
                await asyncio.sleep(0.01)

        return StreamingResponse(body(), media_type="text/plain", headers={"x-token": value})

    return Starlette(
        routes=[
            Route("/events", events),
            Route("/api/v1/token", token),
            Route("/api/v1/run/{workflow_id}/stream", run_stream, methods=["POST"]),
        ]
    )


def fragments(secret: str) -> set[str]:
    forms = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}
    return {form[i : i + FRAGMENT] for form in forms for i in range(len(form) - FRAGMENT + 1)}


def test_no_secret_or_part_of_one_is_written_or_printed(tmp_path: Path) -> None:
    spec = tmp_path / "leaky.yaml"
    spec.write_text(SPEC)
    issued: list[str] = []
    env = {
        **os.environ,
        "LEAKY_API_KEY": STREAM_KEY,
        "WORKFLOW_API_KEY": WORKFLOW_KEY,
        "WORKFLOW_NO_CREDIT_API_KEY": BROKE_KEY,
    }
    with BackgroundServer(leaky_app(issued)) as server:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "streamconform.cli",
                "run",
                "--spec",
                str(spec),
                "--spec",
                str(ROOT / "specs" / "workflow-stream.yaml"),
                "--target",
                server.url,
                "--time-scale",
                "0.01",
                "--token-race",
                "4",
                "--report-dir",
                str(tmp_path / "reports"),
                "--",
                "-rA",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    assert len(issued) > 5  # the token scenarios ran, so there were tokens to leak
    written = {
        p: p.read_text(errors="replace") for p in (tmp_path / "reports").rglob("*") if p.is_file()
    }
    assert any(p.name == "summary.json" for p in written)
    assert any(p.name == "junit.xml" for p in written)
    assert any(p.name.endswith("-attachment.txt") for p in written)
    outputs = {"stdout": result.stdout, "stderr": result.stderr}
    leaks = []
    for secret in (STREAM_KEY, WORKFLOW_KEY, BROKE_KEY, *issued):
        for part in fragments(secret):
            leaks += [f"{where}: {part!r}" for where, text in outputs.items() if part in text]
            leaks += [f"{path.name}: {part!r}" for path, text in written.items() if part in text]
    assert not leaks, leaks[:20]
    # the run did see the echoes, and says so without showing them
    assert "token.not-echoed" in result.stdout
    assert "[REDACTED]" in result.stdout
