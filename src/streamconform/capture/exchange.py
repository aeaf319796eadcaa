"""Send one request and record its answer as a transcript, without reading a stream.

Auth and token probes only need to know whether a request was refused, and how: the
status, the headers and the error body. A stream that wrongly opens is noted and dropped
at once, so a server that accepts a bad credential costs no more than one that refuses it.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from streamconform.capture.flows import describe_http_error
from streamconform.capture.requests import RequestPlan
from streamconform.capture.session import TargetSession
from streamconform.core.echoes import find_echoes
from streamconform.core.transcript import Chunk, End, RequestRecord, Transcript
from streamconform.model.spec import Endpoint

__all__ = ["exchange"]

_FIRST_BYTES = 0.5  # how long an accepted stream is read, to show what it began with


async def exchange(
    session: TargetSession,
    plan: RequestPlan,
    *,
    variant: str,
    endpoint: Endpoint | None = None,
    deadline: float | None = None,
    read_success: bool = False,
    client: httpx.AsyncClient | None = None,
) -> Transcript:
    """One request, bounded by `deadline` as a whole.

    The deadline is the endpoint's response bound unless given. An error answer's body is
    kept up to the error-body limit; a success is read whole only with `read_success` (a
    token endpoint's JSON), else just its first bytes. `client` replaces the session's (a
    race sends on connections of its own).
    """
    endpoint = endpoint or session.endpoint
    client = client or session.client
    redactor, limits = session.redactor, session.limits
    if deadline is None:
        deadline = session.timeouts(endpoint).response
    redactor.add(*plan.secrets)
    request = plan.build(client)
    record = RequestRecord(
        plan.method, redactor.text(str(request.url)), redactor.headers(request.headers.items())
    )
    started = time.monotonic()
    body = bytearray()
    status: int | None = None
    headers: list[tuple[str, str]] = []
    headers_time: float | None = None
    end, detail = End.NOT_A_STREAM, ""
    try:
        async with asyncio.timeout(deadline):
            response = await client.send(request, stream=True)
            try:
                status, headers = response.status_code, response.headers.multi_items()
                headers_time = time.monotonic() - started
                accepted = 200 <= status < 300
                if accepted and not read_success:
                    end, detail = End.CUT, "the request was accepted; the stream was dropped"
                    await _first_bytes(response, body, limits.max_error_body)
                else:
                    end = End.NOT_A_STREAM if not accepted else End.CLOSED
                    limit = limits.max_error_body if not accepted else limits.max_body_bytes
                    async for piece in response.aiter_bytes():
                        body += piece
                        if len(body) >= limit:
                            break
            finally:
                await response.aclose()
    except TimeoutError:
        end = End.RESPONSE_TIMEOUT if status is None else End.IDLE_TIMEOUT
        detail = f"no complete answer within {deadline:.1f} s"
    except httpx.HTTPError as err:
        end, detail = End.READ_ERROR, describe_http_error(err)
    echoes = find_echoes(*plan.credential, headers, bytes(body)) if plan.credential else ()
    return Transcript(
        session.spec.name,
        endpoint.name,
        endpoint.framing.value if endpoint.framing else "",
        record,
        status=status,
        headers=redactor.headers(headers),
        chunks=(Chunk(headers_time or 0.0, 0, bytes(body)),) if body else (),
        end=end,
        end_detail=redactor.text(detail),
        headers_time=headers_time,
        duration=time.monotonic() - started,
        body_bytes=len(body),
        variant=variant,
        echoes=echoes,
    )


async def _first_bytes(response: httpx.Response, body: bytearray, limit: int) -> None:
    """What an accepted stream began with, for the report: one read, briefly awaited."""
    pieces = response.aiter_bytes()
    try:
        piece = await asyncio.wait_for(anext(pieces), _FIRST_BYTES)
    except (TimeoutError, StopAsyncIteration):
        return
    body += piece[:limit]
