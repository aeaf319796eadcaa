"""Capture one stream into a Transcript: setup, request, every chunk with its arrival time.

Every wait is bounded: response headers by the response timeout, each read by the idle
bound, the whole stream by its maximum duration, and the body by a size limit. A
long-lived stream is read until the terminal event we wait for; a finite one until the
server closes it (or fails to, shortly after its terminal event).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import httpx

from streamconform.capture.answer import describe_http_error
from streamconform.capture.recorder import Recorder
from streamconform.capture.requests import RequestPlan, plan_request
from streamconform.capture.session import TargetSession
from streamconform.core.transcript import End, RequestRecord, Transcript
from streamconform.decode import Event
from streamconform.errors import AbsentVariable, SetupError, absent_detail
from streamconform.model.spec import AuthScheme, Endpoint, Variant
from streamconform.model.templates import MissingVariable, references, render

__all__ = ["capture_stream"]

_TICK = 0.01  # how often the stall watcher wakes
_STALL = 0.05  # a wake-up this late means the process itself was held up


class _Capture:
    """One capture in progress: the session, the recorder, the clock and the values."""

    def __init__(
        self,
        session: TargetSession,
        endpoint: Endpoint,
        recorder: Recorder,
        variant: Variant | None,
        values: Mapping[str, Any],
    ) -> None:
        self.session = session
        self.client = session.client
        self.spec = session.spec
        self.endpoint = endpoint
        self.overrides = render(variant.variables, values) if variant else {}
        self.values = {**values, **self.overrides}
        self.rec = recorder
        self.variant = variant
        self.timeouts = session.timeouts(endpoint)
        self.setup, self.trigger = endpoint.setup, endpoint.trigger
        if variant is not None:  # a filter variant brings flows that make events to hold back
            self.setup = (*(() if variant.no_setup else endpoint.setup), *variant.setup)
            self.trigger = endpoint.trigger if variant.trigger is None else variant.trigger
            recorder.variant = variant.name
        flows = [self.spec.flows[n] for n in (*self.setup, self.trigger) if n]
        secret = {n for f in flows for step in f.steps for n in step.secret_captures}
        # what the flows capture (a run id, say) is kept in the transcript, secrets aside
        self.capture_names = {
            n for f in flows for step in f.steps for n in step.capture if n not in secret
        }
        self.t0 = time.monotonic()

    def keep_captures(self, values: Mapping[str, Any]) -> None:
        self.rec.captures.update({k: v for k, v in values.items() if k in self.capture_names})

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def flow(self, name: str, into: dict[str, Any]) -> dict[str, Any]:
        return await self.session.flow(name, into, self.rec.setup_log.append)


def _is_awaited_terminal(endpoint: Endpoint, event: Event, awaited: Mapping[str, Any]) -> bool:
    """True when the event is the terminal one this capture waits for."""
    rules = endpoint.events
    if rules is None or not rules.is_terminal(rules.label(event)):
        return False
    key = rules.key_field
    if not key or key not in awaited:
        return True
    return rules.run_of(event) == awaited[key]


async def _watch_stalls(cap: _Capture) -> None:
    """Note every time this event loop woke up late: the process was not running."""
    while True:
        before = cap.now()
        await asyncio.sleep(_TICK)
        late = cap.now() - before - _TICK
        if late >= _STALL:
            cap.rec.stalls.append((before, late))


async def _read_error_body(response: httpx.Response, cap: _Capture) -> None:
    """An error status: keep a bounded prefix of the body, as a plain response."""
    try:
        async with asyncio.timeout(cap.timeouts.idle):
            async for piece in response.aiter_bytes():
                if not cap.rec.error_chunk(piece, cap.now()):
                    break
    except (TimeoutError, httpx.HTTPError):
        pass
    cap.rec.finish(End.NOT_A_STREAM, f"status {response.status_code}")


async def _read_stream(
    response: httpx.Response, cap: _Capture, trigger: asyncio.Task[dict[str, Any]] | None
) -> None:
    rec, timeouts, endpoint = cap.rec, cap.timeouts, cap.endpoint
    long_lived = bool(endpoint.events and endpoint.events.long_lived)
    # after the awaited terminal: a finite stream must close, a long-lived one stay open
    after_terminal = End.TERMINAL if long_lived else End.NOT_CLOSED
    if long_lived:  # only the plain capture is judged on staying open
        grace = timeouts.linger if cap.variant is None else 0.0
    else:
        grace = timeouts.close_after_terminal
    close_by: float | None = None
    key = endpoint.events.key_field if endpoint.events else ""
    # the run the capture waits for: started by setup (known now) or by the trigger (later)
    awaited: dict[str, Any] = {key: cap.values[key]} if key in cap.values else {}
    scanned = 0
    body = response.aiter_bytes()
    while True:
        if trigger is not None and trigger.done():
            if trigger.exception() is not None:
                rec.finish(End.SETUP_FAILED, f"trigger flow failed: {trigger.exception()}")
                return
            awaited, trigger, scanned = trigger.result(), None, 0
            cap.keep_captures(awaited)
        for event in rec.events[scanned:] if trigger is None else ():
            if _is_awaited_terminal(endpoint, event, awaited) and close_by is None:
                close_by = event.time + grace
        scanned = len(rec.events)
        limit, reason = timeouts.max_duration, End.MAX_DURATION
        if close_by is not None and close_by < limit:
            limit, reason = close_by, after_terminal
        wait = min(timeouts.idle, limit - cap.now())
        if wait <= 0:
            rec.finish(reason, f"after {cap.now():.2f} s")
            return
        try:
            piece = await asyncio.wait_for(anext(body), wait)
        except StopAsyncIteration:
            rec.closed(cap.now())
            return
        except TimeoutError:
            if cap.now() >= limit - 1e-3:
                rec.finish(reason, f"after {cap.now():.2f} s")
            else:
                rec.finish(End.IDLE_TIMEOUT, f"no byte for {timeouts.idle:.2f} s")
            return
        except httpx.HTTPError as err:
            rec.finish(End.READ_ERROR, describe_http_error(err))
            return
        if cap.variant is not None and cap.variant.cut_after is not None:
            if _cut(rec, cap.variant, piece, cap.now(), endpoint, awaited):
                return
        elif not rec.chunk(piece, cap.now()):
            return


def _awaited_count(rec: Recorder, endpoint: Endpoint, awaited: Mapping[str, Any]) -> int:
    rules = endpoint.events
    key = rules.key_field if rules else ""
    if not rules or not key or key not in awaited:
        return len(rec.events)
    return sum(1 for e in rec.events if rules.run_of(e) == awaited[key])


def _cut(
    rec: Recorder,
    variant: Variant,
    piece: bytes,
    now: float,
    endpoint: Endpoint,
    awaited: Mapping[str, Any],
) -> bool:
    """Feed a chunk, dropping the connection once the leg has what it was to read: a number
    of the awaited run's events, then (mid-event) part of the next one. True when cut."""
    want = variant.cut_after or 0
    if not variant.mid_event:
        if not rec.chunk(piece, now):
            return True
        if _awaited_count(rec, endpoint, awaited) >= want:
            rec.finish(End.CUT, f"after {want} events")
            return True
        return False
    for i in range(len(piece)):  # byte by byte: stop inside the event after the wanted ones
        before = _awaited_count(rec, endpoint, awaited)
        if not rec.chunk(piece[i : i + 1], now):
            return True
        if (
            before >= want
            and rec.decoder.mid_event
            and _awaited_count(rec, endpoint, awaited) == before
        ):
            rec.finish(End.CUT, f"after {want} events and part of the next")
            return True
    return False


def _needs_token(scheme: AuthScheme, variant: Variant | None) -> bool:
    """A fresh token is issued unless the variant sends none, or names the one to send."""
    if variant is None:
        return True
    return not variant.omit_auth and not references(scheme.value) <= set(variant.variables)


async def _open_and_read(cap: _Capture, request: RequestPlan | None) -> None:
    spec, endpoint, rec = cap.spec, cap.endpoint, cap.rec
    try:
        for name in cap.setup:
            await cap.flow(name, cap.values)
        cap.keep_captures(cap.values)
        scheme = spec.auth.get(endpoint.auth) if endpoint.auth else None
        if scheme is not None and scheme.issued_by and _needs_token(scheme, cap.variant):
            await cap.flow(scheme.issued_by, cap.values)
        cap.values.update(cap.overrides)  # a variant's values win over captures too
        variant = cap.variant
        plan = request or plan_request(
            spec,
            endpoint,
            cap.session.base_url,
            cap.values,
            query=variant.query if variant else None,
            body=variant.body if variant else None,
            headers=variant.headers if variant else None,
            omit_auth=bool(variant and variant.omit_auth),
        )
    except AbsentVariable as err:
        rec.finish(End.UNAVAILABLE, str(err))
        return
    except SetupError as err:
        rec.finish(End.SETUP_FAILED, str(err))
        return
    rec.redactor.add(*plan.secrets)
    rec.credential = plan.credential
    outgoing = plan.build(cap.client)
    rec.request = RequestRecord(
        plan.method,
        rec.redactor.text(str(outgoing.url)),
        rec.redactor.headers(outgoing.headers.items()),
    )
    trigger: asyncio.Task[dict[str, Any]] | None = None
    cap.t0 = time.monotonic()
    try:
        response = await asyncio.wait_for(
            cap.client.send(outgoing, stream=True), cap.timeouts.response
        )
    except TimeoutError:
        rec.finish(End.RESPONSE_TIMEOUT, f"no response headers in {cap.timeouts.response:.1f} s")
        return
    except httpx.HTTPError as err:
        rec.finish(End.READ_ERROR, describe_http_error(err))
        return
    try:
        rec.response(
            response.status_code, response.headers.multi_items(), cap.now(), response.http_version
        )
        if not 200 <= response.status_code < 300:
            await _read_error_body(response, cap)
        else:
            if cap.trigger:
                trigger = asyncio.create_task(cap.flow(cap.trigger, dict(cap.values)))
            watcher = asyncio.create_task(_watch_stalls(cap))
            try:
                await _read_stream(response, cap, trigger)
            finally:
                watcher.cancel()
    finally:
        if trigger is not None and not trigger.done():
            trigger.cancel()
        await response.aclose()


async def capture_stream(
    session: TargetSession,
    endpoint: Endpoint | None = None,
    *,
    request: RequestPlan | None = None,
    variant: Variant | None = None,
    values: Mapping[str, Any] | None = None,
    progress: list[Event] | None = None,
) -> Transcript:
    """Run the endpoint's setup, open its stream, and record it until it ends or a bound hits.

    `endpoint` is the session's own unless another (a re-attach endpoint) is named;
    `request` replaces the request the spec describes; `variant` changes it (a filter, a
    provoked error or failure), with the flows the change needs; `values` replace the
    session's variables (a prepared resource's).
    """
    endpoint = endpoint or session.endpoint
    recorder = Recorder(
        session.spec.name, endpoint, limits=session.limits.of(endpoint), redactor=session.redactor
    )
    if progress is not None:  # a caller watching the events as they arrive
        recorder.events = progress
    try:
        cap = _Capture(
            session, endpoint, recorder, variant, session.variables if values is None else values
        )
    except MissingVariable as err:
        recorder.finish(End.UNAVAILABLE, absent_detail(err.args[0]))
        return recorder.transcript(0.0)
    try:
        await _open_and_read(cap, request)
        duration = cap.now()
    finally:
        for name in endpoint.teardown:
            try:
                await cap.flow(name, dict(cap.values))
            except SetupError as err:
                recorder.setup_log.append(f"teardown {name} failed: {err}")
    return recorder.transcript(duration)
