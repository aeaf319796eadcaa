"""Capture one stream into a Transcript: setup, request, every chunk with its arrival time.

Every wait is bounded: response headers by the response timeout, each read by the idle
bound, the whole stream by its maximum duration, and the body by a size limit. A
long-lived stream is read until the terminal event we wait for; a finite one until the
server closes it (or fails to, shortly after its terminal event).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from streamconform.decode import Event, decoder_for
from streamconform.engine.flows import describe_http_error, run_flow
from streamconform.engine.redact import Redactor
from streamconform.engine.requests import RequestPlan, Timeouts, plan_request
from streamconform.errors import SetupError
from streamconform.model.spec import Endpoint, Spec
from streamconform.transcript import Chunk, End, RequestRecord, Transcript

__all__ = ["Limits", "capture_stream"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Memory bounds of one capture."""

    max_event_bytes: int = 1 << 20
    max_body_bytes: int = 32 << 20
    max_error_body: int = 64 << 10


class _Capture:
    """The mutable state of one capture, frozen into a Transcript at the end."""

    def __init__(self, spec: Spec, endpoint: Endpoint, limits: Limits, redactor: Redactor):
        assert endpoint.framing is not None
        self.spec = spec
        self.endpoint = endpoint
        self.limits = limits
        self.redactor = redactor
        events = endpoint.events
        self.decoder = decoder_for(
            endpoint.framing.value,
            max_event_bytes=limits.max_event_bytes,
            parse_json=bool(events and events.data_json),
        )
        self.log: list[str] = []
        self.chunks: list[Chunk] = []
        self.events: list[Event] = []
        self.body_bytes = 0
        self.status: int | None = None
        self.http_version = ""
        self.headers: tuple[tuple[str, str], ...] = ()
        self.headers_time: float | None = None
        self.end = End.CLOSED
        self.end_detail = ""
        self.t0 = 0.0
        self.request = RequestRecord("", "")
        self.client: httpx.AsyncClient
        self.base_url = ""

    def now(self) -> float:
        return time.monotonic() - self.t0

    def finish(self, end: End, detail: str = "") -> None:
        self.end, self.end_detail = end, detail

    def transcript(self) -> Transcript:
        log = self.decoder.log
        return Transcript(
            spec=self.spec.name,
            endpoint=self.endpoint.name,
            framing=self.endpoint.framing.value if self.endpoint.framing else "",
            request=self.request,
            status=self.status,
            http_version=self.http_version,
            headers=self.headers,
            chunks=tuple(self.chunks),
            events=tuple(self.events),
            notes=tuple(log.notes),
            notes_dropped=dict(log.dropped),
            retries=tuple(getattr(self.decoder, "retries", ())),
            end=self.end,
            end_detail=self.redactor.text(self.end_detail),
            headers_time=self.headers_time,
            duration=self.now(),
            body_bytes=self.body_bytes,
            setup_log=tuple(self.log),
        )


def _terminal_key(endpoint: Endpoint, event: Event, awaited: Mapping[str, Any]) -> bool:
    """True when the event is the terminal one this capture waits for."""
    rules = endpoint.events
    if rules is None or not rules.is_terminal(rules.label(event)):
        return False
    key = rules.key_field
    if not key or key not in awaited:
        return True
    payload = event.payload if isinstance(event.payload, dict) else {}
    return payload.get(key) == awaited[key]


async def _read_error_body(response: httpx.Response, cap: _Capture, timeouts: Timeouts) -> None:
    """An error status: keep a bounded prefix of the body, as a plain response."""
    try:
        async with asyncio.timeout(timeouts.idle):
            async for piece in response.aiter_bytes():
                room = cap.limits.max_error_body - cap.body_bytes
                cap.chunks.append(Chunk(cap.now(), cap.body_bytes, piece[:room]))
                cap.body_bytes += len(piece[:room])
                if cap.body_bytes >= cap.limits.max_error_body:
                    break
    except (TimeoutError, httpx.HTTPError):
        pass
    cap.finish(End.NOT_A_STREAM, f"status {response.status_code}")


async def _read_stream(
    response: httpx.Response,
    cap: _Capture,
    timeouts: Timeouts,
    trigger: asyncio.Task[dict[str, Any]] | None,
) -> None:
    endpoint = cap.endpoint
    long_lived = bool(endpoint.events and endpoint.events.long_lived)
    deadline = timeouts.max_duration
    close_by: float | None = None
    awaited: dict[str, Any] = {}
    scanned = 0
    body = response.aiter_bytes()
    while True:
        if trigger is not None and trigger.done():
            if trigger.exception() is not None:
                cap.finish(End.SETUP_FAILED, f"trigger flow failed: {trigger.exception()}")
                return
            awaited, trigger, scanned = trigger.result(), None, 0
        for event in cap.events[scanned:] if trigger is None else ():
            if _terminal_key(endpoint, event, awaited):
                if long_lived:
                    cap.finish(End.TERMINAL, f"terminal event #{event.index} arrived")
                    return
                if close_by is None:
                    close_by = event.time + timeouts.close_after_terminal
        scanned = len(cap.events)
        now = cap.now()
        limit, reason = deadline, End.MAX_DURATION
        if close_by is not None and close_by < limit:
            limit, reason = close_by, End.NOT_CLOSED
        wait = min(timeouts.idle, limit - now)
        if wait <= 0:
            cap.finish(reason, f"after {now:.2f} s")
            return
        try:
            piece = await asyncio.wait_for(anext(body), wait)
        except StopAsyncIteration:
            cap.events.extend(cap.decoder.close(cap.now()))
            cap.finish(End.CLOSED)
            return
        except TimeoutError:
            if cap.now() >= limit - 1e-3:
                cap.finish(reason, f"after {cap.now():.2f} s")
            else:
                cap.finish(End.IDLE_TIMEOUT, f"no byte for {timeouts.idle:.2f} s")
            return
        except httpx.HTTPError as err:
            cap.finish(End.READ_ERROR, describe_http_error(err))
            return
        arrived = cap.now()
        if cap.body_bytes + len(piece) > cap.limits.max_body_bytes:
            cap.finish(End.SIZE_LIMIT, f"over {cap.limits.max_body_bytes} bytes")
            return
        cap.chunks.append(Chunk(arrived, cap.body_bytes, piece))
        cap.body_bytes += len(piece)
        cap.events.extend(cap.decoder.feed(piece, arrived))


async def capture_stream(
    client: httpx.AsyncClient,
    spec: Spec,
    endpoint: Endpoint,
    base_url: str,
    variables: Mapping[str, Any],
    *,
    scale: float,
    redactor: Redactor,
    limits: Limits | None = None,
    request: RequestPlan | None = None,
) -> Transcript:
    """Run the endpoint's setup, open its stream, and record it until it ends or a bound hits.

    `request` replaces the request the spec describes (other suites send variants).
    """
    cap = _Capture(spec, endpoint, limits or Limits(), redactor)
    cap.client, cap.base_url = client, base_url
    values = dict(variables)
    timeouts = Timeouts.for_endpoint(endpoint, scale)

    async def flow(name: str, into: dict[str, Any]) -> dict[str, Any]:
        await run_flow(
            client, spec, name, base_url, into, scale=scale, redactor=redactor, log=cap.log.append
        )
        return into

    try:
        return await _setup_and_read(cap, values, timeouts, request, flow)
    finally:
        for name in endpoint.teardown:
            try:
                await flow(name, dict(values))
            except SetupError as err:
                cap.log.append(f"teardown {name} failed: {err}")


async def _setup_and_read(
    cap: _Capture,
    values: dict[str, Any],
    timeouts: Timeouts,
    request: RequestPlan | None,
    flow: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]],
) -> Transcript:
    spec, endpoint, client = cap.spec, cap.endpoint, cap.client
    try:
        for name in endpoint.setup:
            await flow(name, values)
        scheme = spec.auth.get(endpoint.auth) if endpoint.auth else None
        if scheme is not None and scheme.issued_by:
            await flow(scheme.issued_by, values)
        plan = request or plan_request(spec, endpoint, cap.base_url, values)
    except SetupError as err:
        cap.finish(End.SETUP_FAILED, str(err))
        return cap.transcript()
    cap.redactor.add(*plan.secrets)
    outgoing = plan.build(client)
    cap.request = RequestRecord(
        plan.method,
        cap.redactor.text(str(outgoing.url)),
        cap.redactor.headers(outgoing.headers.items()),
    )
    trigger: asyncio.Task[dict[str, Any]] | None = None
    cap.t0 = time.monotonic()
    try:
        response = await asyncio.wait_for(client.send(outgoing, stream=True), timeouts.response)
    except TimeoutError:
        cap.finish(End.RESPONSE_TIMEOUT, f"no response headers in {timeouts.response:.1f} s")
        return cap.transcript()
    except httpx.HTTPError as err:
        cap.finish(End.READ_ERROR, describe_http_error(err))
        return cap.transcript()
    try:
        cap.headers_time = cap.now()
        cap.status = response.status_code
        cap.http_version = response.http_version
        cap.headers = cap.redactor.headers(response.headers.multi_items())
        if not 200 <= response.status_code < 300:
            await _read_error_body(response, cap, timeouts)
        else:
            if endpoint.trigger:
                trigger = asyncio.create_task(flow(endpoint.trigger, dict(values)))
            await _read_stream(response, cap, timeouts, trigger)
    finally:
        if trigger is not None and not trigger.done():
            trigger.cancel()
        await response.aclose()
    return cap.transcript()
