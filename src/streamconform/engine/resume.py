"""Cut a stream and resume it, as a client whose connection dropped would.

Each scenario reads part of a run, drops the connection (after some events, or inside
one), and resumes: with Last-Event-ID on the same URL, or with a cursor on the endpoint
that re-attaches to a run. Every leg is a real capture. The run is also read without
interruption (a concurrent subscriber, or a replay from the start), so the checks can
compare what the resumed client saw with what it should have seen.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx

from streamconform.decode.events import Event
from streamconform.engine.capture import capture_stream
from streamconform.engine.flows import run_flow
from streamconform.engine.recorder import Limits
from streamconform.engine.redact import Redactor
from streamconform.errors import SetupError
from streamconform.model.spec import Endpoint, EventsSpec, Spec, Variant
from streamconform.model.templates import references, render
from streamconform.transcript import End, Transcript

__all__ = [
    "BAD_CURSORS",
    "FILTERED",
    "RESUME_SCENARIOS",
    "SUBSCRIBERS",
    "WINDOW",
    "Session",
    "resume",
    "resume_after_window",
    "try_bad_cursor",
    "two_subscribers",
]

# scenario -> the legs before the last: (events to read, then cut inside the next one?)
RESUME_SCENARIOS = (
    "resume:first",
    "resume:middle",
    "resume:before-terminal",
    "resume:after-terminal",
    "resume:mid-event",
    "resume:repeated",
)
WINDOW = "resume:after-window"
SUBSCRIBERS = "subscribers:two"
FILTERED = "resume:filter:"  # + a filter's query parameter
BAD_CURSORS = {"cursor:never-issued": "evt_never_issued_0", "cursor:malformed": "%%not an id%%"}
_TO_THE_END = 1 << 30  # "cut" once the run has ended: read up to and past its terminal event
_MAX_RETRY_WAIT = 5.0  # a server's retry: is honoured up to this many seconds
_POLL = 0.01
MISS_SOME = "resume:middle"  # this scenario reconnects only after events were missed
_PAST_THE_WINDOW = 0.5  # how long after the window the late resume is sent
_LONGEST_WAIT = 30.0  # a resume window longer than this (scaled) is not waited out


def _cuts(scenario: str, n: int) -> list[tuple[int, bool]]:
    middle = max(1, n // 2)
    return {
        "resume:first": [(1, False)],
        "resume:middle": [(middle, False)],
        "resume:before-terminal": [(max(1, n - 1), False)],
        "resume:after-terminal": [(_TO_THE_END, False)],
        "resume:mid-event": [(middle, True)],
        "resume:repeated": [(1, False), (1, False), (1, False)],
    }[scenario]


def _go_on(leg: Transcript, endpoint: Endpoint, seen: list[Event]) -> bool:
    """Whether to resume after this leg: it was cut, or the run had ended and was read whole."""
    rules = endpoint.events
    assert rules is not None
    if leg.end is End.CUT:
        return True
    ended = any(rules.is_terminal(rules.label(e)) for e in seen)
    return ended and leg.end in (End.TERMINAL, End.CLOSED, End.NOT_CLOSED)


async def _until_missed(
    arrived: list[Event], seen: list[Event], rules: EventsSpec, run: Any, reading: asyncio.Task[Any]
) -> None:
    """Wait (bounded by the uninterrupted reader's own bounds) until it has an event of the
    run that the cut connection never got, so the resume must replay something."""
    while not reading.done() and len(_own(tuple(arrived), rules, run)) <= len(seen):
        await asyncio.sleep(_POLL)


def _own(events: tuple[Event, ...], rules: EventsSpec, run: Any) -> list[Event]:
    """The events of one run (all of them when the stream is not multiplexed)."""
    if not rules.key_field:
        return list(events)
    return [e for e in events if rules.run_of(e) == run]


def _last_id(endpoint: Endpoint, events: list[Event]) -> str | None:
    rules = endpoint.events
    assert rules is not None and rules.resume is not None
    if not events:
        return None
    last = events[-1]
    if rules.resume.cursor_field:
        value = (
            last.payload.get(rules.resume.cursor_field) if isinstance(last.payload, dict) else None
        )
        return None if value is None else str(value)
    return last.id or None


class Session:
    """The legs of one scenario, against one endpoint."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        spec: Spec,
        endpoint: Endpoint,
        base_url: str,
        variables: Mapping[str, Any],
        scale: float,
        redactor: Redactor,
        limits: Limits | None,
    ) -> None:
        self.client, self.spec, self.endpoint = client, spec, endpoint
        self.base_url, self.variables, self.scale = base_url, dict(variables), scale
        self.redactor, self.limits = redactor, limits
        self.log: list[str] = []

    async def capture(
        self, endpoint: Endpoint, variant: Variant, progress: list[Event] | None = None
    ) -> Transcript:
        return await capture_stream(
            self.client,
            self.spec,
            endpoint,
            self.base_url,
            self.variables,
            scale=self.scale,
            redactor=self.redactor,
            limits=self.limits,
            variant=variant,
            progress=progress,
        )

    async def honour_retry(self, leg: Transcript) -> None:
        """Wait as long as the server's last retry: field asked, before reconnecting."""
        if leg.retries:
            wait = min(leg.retries[-1][1] / 1000, _MAX_RETRY_WAIT)
            self.log.append(f"retry: {leg.retries[-1][1]} received; waited {wait:.3f} s")
            await asyncio.sleep(wait)


def _result(
    name: str,
    endpoint: Endpoint,
    legs: list[Transcript],
    stitched: list[Event],
    baseline: list[Event],
    log: list[str],
    run: Any,
) -> Transcript:
    first = legs[0]
    return replace(
        first,
        events=tuple(stitched),
        end=legs[-1].end,
        end_detail=legs[-1].end_detail,
        variant=name,
        legs=tuple(legs),
        baseline=tuple(baseline),
        setup_log=(*first.setup_log, *log),
        captures={**first.captures, "run": run},
    )


def _failed(spec: Spec, endpoint: Endpoint, name: str, detail: str) -> Transcript:
    framing = endpoint.framing.value if endpoint.framing else ""
    return Transcript.unprepared(spec.name, endpoint.name, framing, name, detail)


async def resume(session: Session, name: str, expected_events: int) -> Transcript:
    """Run one cut-and-resume scenario; the transcript's events are the stitched run."""
    endpoint = session.endpoint
    rules = endpoint.events
    assert rules is not None and rules.resume is not None
    if name.startswith(FILTERED):
        flt = next(f for f in rules.filters if f.param == name.removeprefix(FILTERED))
        starter = flt.trigger or flt.setup[0]
        cuts = _cuts("resume:middle", expected_events)
        return await _by_last_event_id(session, name, cuts, starter, flt.param, flt.value)
    cuts = _cuts(name, expected_events)
    if rules.resume.via == "last-event-id":
        return await _by_last_event_id(session, name, cuts, endpoint.trigger)
    return await _by_cursor(session, name, cuts)


async def _start(
    session: Session, flow: str, fresh: set[str] | frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Run the flow that starts a run; `fresh` variables get a value no earlier run used
    (a thread of its own, so a replay filtered by it holds only this run)."""
    started = dict(session.variables)
    suffix = secrets.token_hex(4)
    started.update({name: f"{started[name]}-{suffix}" for name in fresh if name in started})
    await run_flow(
        session.client,
        session.spec,
        flow,
        session.base_url,
        started,
        scale=session.scale,
        redactor=session.redactor,
        log=session.log.append,
    )
    return started


async def _by_last_event_id(
    session: Session,
    name: str,
    cuts: list[tuple[int, bool]],
    starter: str,
    param: str = "",
    value: str = "",
) -> Transcript:
    """Resume on the same URL. With a filter (param, value template) on every connection,
    every event delivered counts, so another run's events show up as strangers."""
    endpoint, spec = session.endpoint, session.spec
    rules = endpoint.events
    assert rules is not None
    key = rules.key_field
    fresh = references(value) & set(spec.variables)
    try:  # start the run first, so every connection knows which run's end to wait for
        started = await _start(session, starter, fresh)
    except SetupError as err:
        return _failed(spec, endpoint, name, str(err))
    run = started.get(key) if key else None
    pinned = {key: run} if key else {}
    query = {param: render(value, started)} if param else {}
    whole = Variant("uninterrupted", variables=pinned, trigger="")
    after, mid = cuts[0]
    first = Variant(name, variables=pinned, trigger="", query=query, cut_after=after, mid_event=mid)
    # the uninterrupted read runs alongside every leg, so resumes happen while the run is live
    arrived: list[Event] = []  # what the uninterrupted reader has so far
    reading = asyncio.create_task(session.capture(endpoint, whole, arrived))
    leg = await session.capture(endpoint, first)
    legs = [leg]

    def delivered(lg: Transcript) -> list[Event]:
        return list(lg.events) if param else _own(lg.events, rules, run)

    for step in [*cuts[1:], None]:
        seen = [e for lg in legs for e in delivered(lg)]
        if not _go_on(legs[-1], endpoint, seen):
            break
        last = legs[-1].events[-1].id if legs[-1].events else _last_id(endpoint, seen)
        await session.honour_retry(legs[-1])
        if name == MISS_SOME:  # reconnect only once the run has sent something we missed
            await _until_missed(arrived, seen, rules, run, reading)
        ended = any(rules.is_terminal(rules.label(e)) for e in seen)
        count, mid = step if step else ((0, False) if ended else (None, False))
        headers = {"Last-Event-ID": last} if last else {}
        variant = Variant(
            name,
            variables=pinned,
            trigger="",
            query=query,
            headers=headers,
            cut_after=count,
            mid_event=mid,
        )
        legs.append(await session.capture(endpoint, variant))
    baseline = await reading
    stitched = [e for lg in legs for e in delivered(lg)]
    return _result(
        name, endpoint, legs, stitched, _own(baseline.events, rules, run), session.log, run
    )


async def two_subscribers(session: Session, name: str) -> Transcript:
    """Two clients read the same run at once: the second's events are the first's baseline."""
    endpoint, spec = session.endpoint, session.spec
    rules = endpoint.events
    assert rules is not None and rules.resume is not None
    key = rules.key_field
    if rules.resume.via == "last-event-id":
        try:
            started = await _start(session, endpoint.trigger)
        except SetupError as err:
            return _failed(spec, endpoint, name, str(err))
        run = started.get(key) if key else None
        whole = Variant(name, variables={key: run} if key else {}, trigger="")
        a, b = await asyncio.gather(
            session.capture(endpoint, whole), session.capture(endpoint, whole)
        )
        return _result(
            name,
            endpoint,
            [a, b],
            _own(a.events, rules, run),
            _own(b.events, rules, run),
            session.log,
            run,
        )
    first = await session.capture(endpoint, Variant(name, cut_after=1))
    source = rules.resume.run_id_from.removeprefix("header:")
    run = first.header(source)
    if run is None:
        return _failed(spec, endpoint, name, f"no {source} header to re-attach by")
    attach = spec.endpoints[rules.resume.endpoint]
    whole = Variant(name, variables={"run_id": run}, no_setup=True)
    a, b = await asyncio.gather(session.capture(attach, whole), session.capture(attach, whole))
    return _result(name, endpoint, [a, b], list(a.events), list(b.events), session.log, run)


async def _by_cursor(session: Session, name: str, cuts: list[tuple[int, bool]]) -> Transcript:
    endpoint, spec = session.endpoint, session.spec
    rules = endpoint.events
    assert rules is not None and rules.resume is not None
    how = rules.resume
    after, mid = cuts[0]
    legs = [await session.capture(endpoint, Variant(name, cut_after=after, mid_event=mid))]
    source = how.run_id_from.removeprefix("header:")
    run = legs[0].header(source)
    if run is None:
        return _failed(spec, endpoint, name, f"the response has no {source} header to resume by")
    attach = spec.endpoints[how.endpoint]
    pinned = {"run_id": run}
    for step in [*cuts[1:], None]:
        seen = [e for lg in legs for e in lg.events]
        if not _go_on(legs[-1], endpoint, seen):
            break
        last = _last_id(endpoint, seen)
        await session.honour_retry(legs[-1])
        count, mid = step if step else (None, False)
        query = {how.param: last} if last else {}
        variant = Variant(
            name, variables=pinned, query=query, no_setup=True, cut_after=count, mid_event=mid
        )
        legs.append(await session.capture(attach, variant))
    whole = await session.capture(attach, Variant("uninterrupted", variables=pinned, no_setup=True))
    stitched = [e for lg in legs for e in lg.events]
    return _result(name, endpoint, legs, stitched, list(whole.events), session.log, run)


async def try_bad_cursor(session: Session, name: str) -> Transcript:
    """Resume with a cursor the server never issued; the answer is judged, not the events."""
    endpoint = session.endpoint
    rules = endpoint.events
    assert rules is not None and rules.resume is not None
    value = BAD_CURSORS[name]
    if rules.resume.via == "last-event-id":
        variant = Variant(name, trigger="", headers={"Last-Event-ID": value}, cut_after=0)
        return await session.capture(endpoint, variant)
    fresh = await session.capture(endpoint, Variant(name, cut_after=1))  # a run kept alive
    source = rules.resume.run_id_from.removeprefix("header:")
    run = fresh.header(source)
    if run is None:
        return _failed(session.spec, endpoint, name, f"no {source} header to resume by")
    attach = session.spec.endpoints[rules.resume.endpoint]
    variant = Variant(
        name,
        variables={"run_id": run},
        query={rules.resume.param: value},
        no_setup=True,
        cut_after=0,
    )
    return await session.capture(attach, variant)


async def resume_after_window(session: Session, name: str) -> Transcript:
    """Drop a run after its first event, wait out the resume window, and try to resume."""
    endpoint = session.endpoint
    rules = endpoint.events
    assert rules is not None and rules.resume is not None and rules.resume.window
    wait = rules.resume.window * session.scale
    if wait > _LONGEST_WAIT:
        skipped = _failed(session.spec, endpoint, name, "not waited")
        reason = (
            f"waiting out a {wait:.0f} s resume window is not done on this target "
            "(a target profile's time_scale can shorten it)"
        )
        return replace(skipped, captures={"untestable": reason})
    leg = await session.capture(endpoint, Variant(name, cut_after=1))
    source = rules.resume.run_id_from.removeprefix("header:")
    run = leg.header(source)
    if run is None:
        return _failed(session.spec, endpoint, name, f"no {source} header to resume by")
    await asyncio.sleep(wait + _PAST_THE_WINDOW)
    last = _last_id(endpoint, list(leg.events))
    attach = session.spec.endpoints[rules.resume.endpoint]
    variant = Variant(
        name,
        variables={"run_id": run},
        no_setup=True,
        cut_after=0,
        query={rules.resume.param: last} if last else {},
    )
    late = await session.capture(attach, variant)
    return replace(late, legs=(leg, late), captures={**late.captures, "run": run})
