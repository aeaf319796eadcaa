"""Resume checks (resume.*), in the reconnection suite: a client whose connection drops
resumes (Last-Event-ID, or a cursor on the re-attach endpoint) and gets the rest of the run,
nothing missing, nothing twice, in order; a cursor the server never issued and a resume
after the window get their documented answers."""

from __future__ import annotations

from collections.abc import Iterator

from streamconform.checks.event_fields import event_id
from streamconform.checks.registry import EVENT_STREAMS, Finding, Untestable, check
from streamconform.core.evidence import Resumed
from streamconform.core.transcript import End, Transcript
from streamconform.decode.events import Event
from streamconform.model.spec import Endpoint, Level
from streamconform.scenarios import resume
from streamconform.scenarios.registry import Scenario

WHATWG_RECONNECT = (
    "https://html.spec.whatwg.org/multipage/server-sent-events.html#the-last-event-id-header"
)


def _resumable(ep: Endpoint) -> str | None:
    if ep.events is None or ep.events.resume is None:
        return "the spec declares no way to resume this stream"
    return None


def _cut_and_resumed(ep: Endpoint) -> list[Scenario]:
    """Every cut-and-resume scenario, plus one per filter where resuming keeps the URL."""
    return [*resume.CUTS, *resume.filtered(ep)]


def _has_window(ep: Endpoint) -> str | None:
    resume = ep.events.resume if ep.events else None
    if resume is None or not resume.window or not resume.expired:
        return "the spec declares no resume window with a documented answer after it"
    return None


def _not_waited(ev: Resumed) -> None:
    if ev.not_waited:
        raise Untestable(ev.not_waited)


def _too_late(ev: Resumed, number: int) -> str:
    """Why connection `number` (from 1) cannot hold the server to its resume window: it
    was answered later after the connection before it was opened than the run is
    documented to be kept alive, so the server may have sent all that connection read and
    started its window before this process read it; "" when it was in time."""
    at = number - 2
    if ev.kept_alive is None or not 0 <= at < len(ev.reconnected_after):
        return ""
    gap = ev.reconnected_after[at]
    if gap <= ev.kept_alive:
        return ""
    return (
        f"connection {number} was answered {gap:.2f} s after connection {number - 1} "
        f"was opened, later than the {ev.kept_alive:.2f} s the run is kept alive after "
        "what it sent (this process read or reconnected late)"
    )


@check(
    id="resume.stitched.complete",
    suite="reconnection",
    level=Level.MUST,
    title="A resumed run misses nothing and repeats nothing",
    requirement="""Cut a run anywhere (after its first event, in the middle, just before or
        after its terminal event, inside an event, several times over, with a filter on)
        and resume with the last id received: the events put together equal the run read
        without interruption, nothing missing, nothing twice, in order, with its one
        terminal event, and nothing of another run.""",
    reference=WHATWG_RECONNECT,
    framings=EVENT_STREAMS,
    applies=_resumable,
    scenarios=_cut_and_resumed,
)
def stitched_complete(ev: Resumed, ep: Endpoint) -> Iterator[Finding]:
    _not_waited(ev)
    rules = ep.events
    assert rules is not None and rules.resume is not None
    t = ev.primary
    if not ev.legs:
        raise Untestable(f"no connection was made ({t.end.value}: {t.end_detail})")
    if len(ev.legs) < 2:
        raise Untestable(f"the run ended before the planned cut ({ev.legs[0].end.value})")
    for number, leg in enumerate(ev.legs[1:], 2):
        if leg.status is None:
            yield Finding(
                "an answer to the resume",
                f"connection {number}: no answer ({leg.end.value}: {leg.end_detail})",
            )
            return
        if not 200 <= leg.status < 300:
            late = _too_late(ev, number)
            if late:
                raise Untestable(late)
            yield Finding(
                "the rest of the run", f"connection {number} answered status {leg.status}"
            )
            return
    run = ev.run

    def of_run(event: Event) -> bool:
        return not rules.key_field or rules.run_of(event) == run

    others = [e for e in ev.stitched if not of_run(e)]
    if others:
        yield Finding(
            "only the run's own events",
            f"{len(others)} events of other runs, first id {event_id(rules, others[0])!r}",
        )
    own = [e for e in ev.stitched if of_run(e)]
    keys = [(event_id(rules, e), e.data) for e in own]
    # an event twice is a repeat whenever the independent reader joined: judged on all
    seen: set[tuple[str | None, str]] = set()
    flawed = False  # found wrong without the uninterrupted reader
    for item, event in zip(keys, own, strict=True):
        if item in seen:
            flawed = True
            yield Finding("each event once", f"{rules.label(event)} id {item[0]!r} came twice")
        seen.add(item)
    if rules.grammar is not None:
        # by Last-Event-ID the run was started before the first connection: a fragment
        matcher = rules.grammar.matcher(fragment=rules.resume.via == "last-event-id")
        for event in ev.stitched:
            if not matcher.feed(rules.label(event) or "(no type)"):
                flawed = True
                yield Finding(
                    "an order the grammar allows",
                    f"{rules.label(event)} where the run could not go on",
                )
                break
    expected = [(event_id(rules, e), e.data) for e in ev.independent]
    if not expected:
        # the uninterrupted reader got nothing of the run (it was gone by then, or a bound
        # stopped the reader first): what the resumed client got has nothing to be
        # compared with, and is not the server's fault for that
        if not (others or flawed):
            raise Untestable("the uninterrupted reader got no event of the run")
        return
    # the cut connection and the uninterrupted reader may join a live run a moment apart:
    # both are judged from the first event both have
    if keys and keys[0] in expected:
        expected = expected[expected.index(keys[0]) :]
    elif keys and expected[0] in keys:
        keys = keys[keys.index(expected[0]) :]
    missing = [k for k in expected if k not in seen]
    if missing:
        yield Finding(
            "every event of the run",
            f"{len(missing)} missing after the resume, first id {missing[0][0]!r}",
        )
    wanted = set(expected)
    judged = keys
    if not any(rules.is_terminal(rules.label(e)) for e in ev.independent):
        # the uninterrupted reader stopped (a capture bound) before the run ended: what
        # came after its last event cannot be told apart from events the run never sent
        if expected[-1] not in keys:
            raise Untestable("the uninterrupted reader stopped before the run ended")
        judged = keys[: keys.index(expected[-1]) + 1]
    strangers = [k for k in judged if k not in wanted]
    if strangers:
        yield Finding(
            "only the run's own events",
            f"{len(strangers)} events the run never sent, first id {strangers[0][0]!r}",
        )
    shared = [k for k in dict.fromkeys(keys) if k in wanted]
    if shared != [k for k in expected if k in set(shared)]:
        yield Finding("the run's order", "the resumed events came in another order")
    terminals = [e for e in ev.stitched if rules.is_terminal(rules.label(e))]
    if len(terminals) != 1 and any(rules.is_terminal(rules.label(e)) for e in ev.independent):
        yield Finding("exactly one terminal event", f"{len(terminals)} terminal events")


@check(
    id="resume.cursor.unknown-refused",
    suite="reconnection",
    level=Level.MUST,
    title="A cursor the server never issued gets the documented answer",
    requirement="""Resuming from an id the server never issued, or one that is not an id at
        all, gets the documented error: never a 5xx, never another place's events.""",
    reference=WHATWG_RECONNECT,
    framings=EVENT_STREAMS,
    applies=_resumable,
    needs_stream=False,
    scenarios=lambda ep: resume.BAD_CURSORS,
)
def unknown_cursor_refused(ev: Transcript | Resumed, ep: Endpoint) -> Iterator[Finding]:
    rules = ep.events
    assert rules is not None and rules.resume is not None
    t = ev.primary if isinstance(ev, Resumed) else ev
    answer = rules.resume.invalid
    expected = f"status {answer['status']}" if answer else "a 4xx error"
    if t.end is End.SETUP_FAILED:
        raise Untestable(t.end_detail)
    # the answer to a cursor never issued is the spec's word: documents seldom give one
    basis = "events.resume.invalid"
    if t.status is None:
        yield Finding(expected, f"no answer ({t.end.value}: {t.end_detail})")
    elif 200 <= t.status < 300:
        yield Finding(
            expected, f"a stream with {len(t.events)} events for that cursor", basis=basis
        )
    elif (answer and t.status != answer["status"]) or (not answer and not 400 <= t.status < 500):
        late = _too_late(ev, 2) if isinstance(ev, Resumed) else ""
        if late and 400 <= t.status < 500:  # the run may be gone: any refusal is its right
            raise Untestable(late)
        yield Finding(expected, f"status {t.status}", basis=basis)


@check(
    id="resume.window.expires",
    suite="reconnection",
    level=Level.MUST,
    title="After the resume window, the documented answer",
    requirement="""A run can be resumed within the documented window after a disconnect (the
        other scenarios show it); after the window the documented answer comes, not a stream.""",
    reference=WHATWG_RECONNECT,
    framings=EVENT_STREAMS,
    applies=_has_window,
    needs_stream=False,
    scenarios=lambda ep: [resume.AFTER_WINDOW],
)
def window_expires(ev: Resumed, ep: Endpoint) -> Iterator[Finding]:
    _not_waited(ev)
    t = ev.primary
    rules = ep.events
    assert rules is not None and rules.resume is not None and rules.resume.expired
    status = rules.resume.expired["status"]
    if t.end is End.SETUP_FAILED:
        raise Untestable(t.end_detail)
    if t.status != status:
        shown = f"status {t.status}" if t.status is not None else f"no answer ({t.end.value})"
        if ev.reconnected_after and ev.kept_alive is not None and ev.legs:
            left = ev.reconnected_after[0] - ev.legs[0].duration
            shown += (
                f", {left:.2f} s after the connection before it ended"
                f" (the run is kept alive {ev.kept_alive:.2f} s)"
            )
        # a refusal other than the spec's is the spec's word against the target's
        refused = t.status is not None and 400 <= t.status < 500
        basis = "events.resume.expired" if refused else ""
        yield Finding(f"status {status} once the window has passed", shown, basis=basis)


@check(
    id="resume.subscribers.agree",
    suite="reconnection",
    level=Level.MUST,
    title="Two subscribers get the same events",
    requirement="""Two clients reading the same run at the same time get the same events, with
        the same ids, in the same order.""",
    reference=WHATWG_RECONNECT,
    framings=EVENT_STREAMS,
    applies=_resumable,
    scenarios=lambda ep: [resume.SUBSCRIBERS],
)
def subscribers_agree(ev: Resumed, ep: Endpoint) -> Iterator[Finding]:
    rules = ep.events
    assert rules is not None
    if len(ev.legs) != 2:
        t = ev.primary
        raise Untestable(f"two subscribers could not be opened ({t.end.value}: {t.end_detail})")
    first = [(event_id(rules, e), e.data) for e in ev.stitched]
    second = [(event_id(rules, e), e.data) for e in ev.independent]
    if not first or not second:
        raise Untestable("a subscriber received none of the run's events")
    # one may have connected a moment before the other: compare from where both were reading
    if first[0] in second:
        second = second[second.index(first[0]) :]
    elif second[0] in first:
        first = first[first.index(second[0]) :]
    for n, (a, b) in enumerate(zip(first, second, strict=False)):
        if a != b:
            yield Finding(
                f"event {n} the same for both: id {b[0]!r}",
                f"one subscriber got id {a[0]!r}, the other {b[0]!r}",
            )
            return
    if len(first) != len(second):
        yield Finding("as many events for both", f"{len(first)} against {len(second)}")
