"""A one-endpoint API whose server can be broken while it runs, and the CLI run the way a
team's CI runs it: what the gate, report and progress tests drive end to end."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

GATE_SPEC = """\
streamconform: 1
name: gate
title: A one-endpoint API whose server can be broken while it runs
source: {document: test}
endpoints:
  events:
    method: GET
    path: /events
    framing: sse
    content_types: [text/event-stream]
    events:
      type_from: json-field
      data: json
      types:
        tick: {schema: {type: object, required: [n], properties: {n: {type: integer}}}}
requirements:
  - id: r
    quote: q
    level: MUST
    checks: [sse.data.json]
"""


def gate_app(broken: set[str]) -> Starlette:
    """Ticks; `broken` holds what to get wrong: "json" (a data line that is not JSON),
    "retry" (a retry field that is not digits), "slow" (2.5 s of silence before the last
    tick: a case that takes a while). The set is read per request, so a test can break or
    mend the server between runs."""

    async def handler(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for n in range(3):
                await asyncio.sleep(2.5 if n == 2 and "slow" in broken else 0.03)
                yield f'data: {{"type":"tick","n":{n}}}\n\n'.encode()
            if "json" in broken:
                yield b"data: not json\n\n"
            if "retry" in broken:
                yield b"retry: soon\n\n"

        return StreamingResponse(
            body(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )

    return Starlette(routes=[Route("/events", handler)])


def write_gate_spec(folder: Path) -> Path:
    path = folder / "gate.yaml"
    path.write_text(GATE_SPEC)
    return path


def cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`streamconform ARGS` in a fresh process, as CI runs it."""
    return subprocess.run(
        [sys.executable, "-m", "streamconform.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )
