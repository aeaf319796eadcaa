"""Cut a stream and resume it, as a client whose connection dropped would.

Each scenario reads part of a run, drops the connection (after some events, or inside
one), and resumes: with Last-Event-ID on the same URL, or with a cursor on the endpoint
that re-attaches to a run. Every leg is a real capture. The run is also read without
interruption (a concurrent subscriber, or a replay from the start), so the checks can
compare what the resumed client saw with what it should have seen. The scenarios of an
endpoint are played side by side: each mostly waits on a run.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from streamconform.capture.session import TargetSession
from streamconform.capture.stream import capture_stream
from streamconform.core.evidence import Evidence, Resumed
from streamconform.core.transcript import End, Transcript
from streamconform.decode.events import Event
from streamconform.errors import SetupError
from streamconform.model.spec import Endpoint, EventsSpec, Filter, Variant
from streamconform.model.templates import references, render
from streamconform.model.timing import MIN_BOUND, scaled
from streamconform.scenarios.registry import Scenario, family

__all__ = [
    "AFTER_WINDOW",
    "BAD_CURSORS",
    "CUTS",
    "RESUMES",
    "SUBSCRIBERS",
    "cut_and_resume",
    "filtered",
]

_TO_THE_END = 1 << 30  # "cut" once the run has ended: read up to and past its terminal event
_MAX_RETRY_WAIT = 5.0  # a server's retry: is honoured up to this many seconds
_POLL = 0.01
# How long after the window the late resume is sent: a stall of a loaded machine
# (model.timing), since a server starved of CPU notices the disconnect, and starts its
# window, that much later than the client left.
_PAST_THE_WINDOW = MIN_BOUND
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


async def _capture(
    session: TargetSession,
    endpoint: Endpoint,
    variant: Variant,
    progress: list[Event] | None = None,
) -> Transcript:
    return await capture_stream(session, endpoint, variant=variant, progress=progress)


def _answered(leg: Transcript) -> float:
    """Seconds from a connection's request to its answer."""
    return leg.headers_time if leg.headers_time is not None else leg.duration


def _reconnected_after(opened: float, sent: float, leg: Transcript) -> float:
    """Seconds from the request of the connection before (`opened`, monotonic) to the
    answer to `leg`, sent at `sent`: the longest the run may have had to be kept alive for
    it. Counted from the request, not the cut: a server may have sent all that connection
    read, and started its window, long before this process (loaded, or reading a stream of
    tiny chunks) read it."""
    return sent - opened + _answered(leg)


def _kept_alive(session: TargetSession) -> float | None:
    """The resume window the spec documents, in this run's (scaled) seconds."""
    rules = session.endpoint.events
    window = rules.resume.window if rules and rules.resume else None
    return scaled(window, session.scale) if window else None


async def _honour_retry(leg: Transcript, log: list[str]) -> None:
    """Wait as long as the server's last retry: field asked, before reconnecting."""
    if leg.retries:
        wait = min(leg.retries[-1][1] / 1000, _MAX_RETRY_WAIT)
        log.append(f"retry: {leg.retries[-1][1]} received; waited {wait:.3f} s")
        await asyncio.sleep(wait)


def _resumed(
    name: str,
    legs: list[Transcript],
    stitched: list[Event],
    independent: list[Event],
    log: list[str],
    run: Any,
) -> Resumed:
    """The evidence: the first connection carries the stitched events (and the last
    connection's end), so findings point into what the resumed client saw."""
    first = legs[0]
    primary = replace(
        first,
        events=tuple(stitched),
        end=legs[-1].end,
        end_detail=legs[-1].end_detail,
        variant=name,
        setup_log=(*first.setup_log, *log),
    )
    return Resumed(
        primary=primary,
        legs=tuple(legs),
        stitched=tuple(stitched),
        independent=tuple(independent),
        run=run,
    )


def _not_played(session: TargetSession, name: str, detail: str) -> Resumed:
    return Resumed(primary=session.unprepared(name, detail))


async def _start(
    session: TargetSession,
    flow: str,
    log: list[str],
    fresh: set[str] | frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Run the flow that starts a run; `fresh` variables get a value no earlier run used
    (a thread of its own, so a replay filtered by it holds only this run)."""
    started = dict(session.variables)
    suffix = secrets.token_hex(4)
    started.update({name: f"{started[name]}-{suffix}" for name in fresh if name in started})
    if flow:  # else the stream's own request starts the run
        await session.flow(flow, started, log.append)
    return started


async def cut_and_resume(
    session: TargetSession, scenario: Scenario, expected_events: int
) -> Resumed:
    """Run one cut-and-resume scenario; its evidence holds the stitched run."""
    endpoint = session.endpoint
    rules = endpoint.events
    assert rules is not None and rules.resume is not None
    flt: Filter | None = scenario.subject if isinstance(scenario.subject, Filter) else None
    cuts = _cuts(_MIDDLE.name if flt else scenario.name, expected_events)
    if flt is not None:
        starter = flt.trigger or flt.setup[0]
        return await _by_last_event_id(session, scenario, cuts, starter, flt.param, flt.value)
    if rules.resume.via == "last-event-id":
        return await _by_last_event_id(session, scenario, cuts, endpoint.trigger)
    return await _by_cursor(session, scenario.name, cuts)


async def _by_last_event_id(
    session: TargetSession,
    scenario: Scenario,
    cuts: list[tuple[int, bool]],
    starter: str,
    param: str = "",
    value: str = "",
) -> Resumed:
    """Resume on the same URL. With a filter (param, value template) on every connection,
    every event delivered counts, so another run's events show up as strangers."""
    endpoint, spec, name = session.endpoint, session.spec, scenario.name
    rules = endpoint.events
    assert rules is not None
    key = rules.key_field
    log: list[str] = []
    fresh = references(value) & set(spec.variables)
    try:  # start the run first, so every connection knows which run's end to wait for
        started = await _start(session, starter, log, fresh)
    except SetupError as err:
        return _not_played(session, name, str(err))
    run = started.get(key) if key else None
    pinned = {key: run} if key else {}
    query = {param: render(value, started)} if param else {}
    whole = Variant("uninterrupted", variables=pinned, trigger="")
    after, mid = cuts[0]
    first = Variant(name, variables=pinned, trigger="", query=query, cut_after=after, mid_event=mid)
    # the uninterrupted read runs alongside every leg, so resumes happen while the run is live
    arrived: list[Event] = []  # what the uninterrupted reader has so far
    reading = asyncio.create_task(_capture(session, endpoint, whole, arrived))
    leg = await _capture(session, endpoint, first)
    legs = [leg]

    def delivered(lg: Transcript) -> list[Event]:
        return list(lg.events) if param else _own(lg.events, rules, run)

    for step in [*cuts[1:], None]:
        seen = [e for lg in legs for e in delivered(lg)]
        if not _go_on(legs[-1], endpoint, seen):
            break
        last = legs[-1].events[-1].id if legs[-1].events else _last_id(endpoint, seen)
        await _honour_retry(legs[-1], log)
        if scenario is _MIDDLE:  # reconnect only once the run has sent something we missed
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
        legs.append(await _capture(session, endpoint, variant))
    baseline = await reading
    stitched = [e for lg in legs for e in delivered(lg)]
    return _resumed(name, legs, stitched, _own(baseline.events, rules, run), log, run)


async def _two_subscribers(session: TargetSession, name: str) -> Resumed:
    """Two clients read the same run at once: the second's events are the first's baseline."""
    endpoint, spec = session.endpoint, session.spec
    rules = endpoint.events
    assert rules is not None and rules.resume is not None
    key = rules.key_field
    log: list[str] = []
    if rules.resume.via == "last-event-id":
        try:
            started = await _start(session, endpoint.trigger, log)
        except SetupError as err:
            return _not_played(session, name, str(err))
        run = started.get(key) if key else None
        whole = Variant(name, variables={key: run} if key else {}, trigger="")
        a, b = await asyncio.gather(
            _capture(session, endpoint, whole), _capture(session, endpoint, whole)
        )
        return _resumed(
            name, [a, b], _own(a.events, rules, run), _own(b.events, rules, run), log, run
        )
    first = await _capture(session, endpoint, Variant(name, cut_after=1))
    source = rules.resume.run_id_from.removeprefix("header:")
    run = first.header(source)
    if run is None:
        return _not_played(session, name, f"no {source} header to re-attach by")
    attach = spec.endpoints[rules.resume.endpoint]
    whole = Variant(name, variables={"run_id": run}, no_setup=True)
    a, b = await asyncio.gather(_capture(session, attach, whole), _capture(session, attach, whole))
    return _resumed(name, [a, b], list(a.events), list(b.events), log, run)


async def _by_cursor(session: TargetSession, name: str, cuts: list[tuple[int, bool]]) -> Resumed:
    endpoint, spec = session.endpoint, session.spec
    rules = endpoint.events
    assert rules is not None and rules.resume is not None
    how = rules.resume
    log: list[str] = []
    after, mid = cuts[0]
    opened = time.monotonic()
    legs = [await _capture(session, endpoint, Variant(name, cut_after=after, mid_event=mid))]
    gaps: list[float] = []
    source = how.run_id_from.removeprefix("header:")
    run = legs[0].header(source)
    if run is None:
        return _not_played(session, name, f"the response has no {source} header to resume by")
    attach = spec.endpoints[how.endpoint]
    pinned = {"run_id": run}
    for step in [*cuts[1:], None]:
        seen = [e for lg in legs for e in lg.events]
        if not _go_on(legs[-1], endpoint, seen):
            break
        last = _last_id(endpoint, seen)
        await _honour_retry(legs[-1], log)
        count, mid = step if step else (None, False)
        query = {how.param: last} if last else {}
        variant = Variant(
            name, variables=pinned, query=query, no_setup=True, cut_after=count, mid_event=mid
        )
        sent = time.monotonic()
        legs.append(await _capture(session, attach, variant))
        gaps.append(_reconnected_after(opened, sent, legs[-1]))
        opened = sent
    whole = await _capture(
        session, attach, Variant("uninterrupted", variables=pinned, no_setup=True)
    )
    stitched = [e for lg in legs for e in lg.events]
    resumed = _resumed(name, legs, stitched, list(whole.events), log, run)
    return replace(resumed, reconnected_after=tuple(gaps), kept_alive=_kept_alive(session))


async def _bad_cursor(session: TargetSession, name: str, value: str) -> Evidence:
    """Resume with a cursor the server never issued; the answer is judged, not the events."""
    endpoint = session.endpoint
    rules = endpoint.events
    assert rules is not None and rules.resume is not None
    if rules.resume.via == "last-event-id":
        variant = Variant(name, trigger="", headers={"Last-Event-ID": value}, cut_after=0)
        return await _capture(session, endpoint, variant)
    opened = time.monotonic()
    fresh = await _capture(session, endpoint, Variant(name, cut_after=1))  # a run kept alive
    source = rules.resume.run_id_from.removeprefix("header:")
    run = fresh.header(source)
    if run is None:
        return session.unprepared(name, f"no {source} header to resume by")
    attach = session.spec.endpoints[rules.resume.endpoint]
    variant = Variant(
        name,
        variables={"run_id": run},
        query={rules.resume.param: value},
        no_setup=True,
        cut_after=0,
    )
    sent = time.monotonic()
    attempt = await _capture(session, attach, variant)
    return Resumed(
        primary=attempt,
        legs=(fresh, attempt),
        run=run,
        reconnected_after=(_reconnected_after(opened, sent, attempt),),
        kept_alive=_kept_alive(session),
    )


async def _after_window(session: TargetSession, name: str) -> Resumed:
    """Drop a run after its first event, wait out the resume window, and try to resume."""
    endpoint = session.endpoint
    rules = endpoint.events
    assert rules is not None and rules.resume is not None and rules.resume.window
    wait = scaled(rules.resume.window, session.scale)
    if wait > _LONGEST_WAIT:
        reason = (
            f"waiting out a {wait:.0f} s resume window is not done on this target "
            "(a target profile's time_scale can shorten it)"
        )
        return Resumed(primary=session.unprepared(name, "not waited"), not_waited=reason)
    opened = time.monotonic()
    leg = await _capture(session, endpoint, Variant(name, cut_after=1))
    source = rules.resume.run_id_from.removeprefix("header:")
    run = leg.header(source)
    if run is None:
        return _not_played(session, name, f"no {source} header to resume by")
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
    sent = time.monotonic()
    late = await _capture(session, attach, variant)
    return Resumed(
        primary=late,
        legs=(leg, late),
        run=run,
        reconnected_after=(_reconnected_after(opened, sent, late),),
        kept_alive=wait,
    )


def _expected_events(session: TargetSession) -> int:
    """How many events of its run the plain capture got: it sizes where the cuts fall."""
    plain = session.plain
    rules = session.endpoint.events
    if plain is None or rules is None:
        return 1
    key = rules.key_field
    run = plain.captures.get(key) if key else None
    return max(1, sum(1 for e in plain.events if not key or rules.run_of(e) == run))


@family("resume", after_plain=True, batched=False)
async def RESUMES(session: TargetSession, scenarios: Sequence[Scenario]) -> dict[str, Evidence]:
    """Every resume scenario of the endpoint, side by side."""
    expected = _expected_events(session)

    async def one(scenario: Scenario) -> Evidence:
        if scenario in BAD_CURSORS:
            return await _bad_cursor(session, scenario.name, scenario.subject)
        if scenario is AFTER_WINDOW:
            return await _after_window(session, scenario.name)
        if scenario is SUBSCRIBERS:
            return await _two_subscribers(session, scenario.name)
        return await cut_and_resume(session, scenario, expected)

    done = await asyncio.gather(*(one(s) for s in scenarios))
    return {s.name: evidence for s, evidence in zip(scenarios, done, strict=True)}


# where each cut-and-resume scenario cuts is set by _cuts, by name
CUTS = tuple(
    Scenario(name, RESUMES)
    for name in (
        "resume:first",
        "resume:middle",
        "resume:before-terminal",
        "resume:after-terminal",
        "resume:mid-event",
        "resume:repeated",
    )
)
_MIDDLE = CUTS[1]  # this scenario reconnects only after events were missed
BAD_CURSORS = (
    Scenario("cursor:never-issued", RESUMES, "evt_never_issued_0"),
    Scenario("cursor:malformed", RESUMES, "%%not an id%%"),
)
AFTER_WINDOW = Scenario("resume:after-window", RESUMES)
SUBSCRIBERS = Scenario("subscribers:two", RESUMES)


def filtered(ep: Endpoint) -> list[Scenario]:
    """A cut and resume with each filter on, where resuming keeps the URL (and its query)."""
    resume = ep.events.resume if ep.events else None
    if ep.events is None or resume is None or resume.via != "last-event-id":
        return []
    return [Scenario(f"resume:filter:{f.param}", RESUMES, f) for f in ep.events.filters]
