"""Terminal checks (terminal.*): exactly one terminal event, close (or stay open) after it,
failures reported as the documented terminal event, and an end by the maximum duration.

The terminal suite also holds http.error.documented, which lives with the other http.*
checks in checks/http.py."""

from __future__ import annotations

from collections.abc import Iterator

from jsonschema.exceptions import best_match

from streamconform.checks.order import grammar_viable
from streamconform.checks.registry import EVENT_STREAMS, Finding, Untestable, check
from streamconform.checks.schema import schema_basis
from streamconform.core.evidence import Provoked
from streamconform.core.transcript import End, Transcript
from streamconform.decode.events import Event
from streamconform.formats import schema_validator
from streamconform.model.spec import Endpoint, EventsSpec, Failure, Level
from streamconform.scenarios.stream import OVERRUN, failures


def _has_terminal(ep: Endpoint) -> str | None:
    if ep.events is None or not ep.events.terminal:
        return "the spec declares no terminal events here"
    return None


def _finite(ep: Endpoint) -> str | None:
    if ep.events is not None and ep.events.long_lived:
        return "a long-lived stream is not closed after a run"
    return _has_terminal(ep)


def _long_lived(ep: Endpoint) -> str | None:
    if ep.events is None or not ep.events.long_lived:
        return "only a long-lived stream stays open after a run"
    return _has_terminal(ep)


def _has_failures(ep: Endpoint) -> str | None:
    if ep.events is None or not ep.events.failures:
        return "the spec documents no mid-stream failure for this endpoint"
    return None


def _has_overrun(ep: Endpoint) -> str | None:
    return None if ep.overrun else "the spec gives no way to make this stream overrun"


def _awaited(t: Transcript, rules: EventsSpec) -> list[Event]:
    """The events of the run the capture waited for (all of them on a plain stream)."""
    if not rules.key_field or rules.key_field not in t.captures:
        return list(t.events)
    wanted = t.captures[rules.key_field]
    return [e for e in t.events if rules.run_of(e) == wanted]


def _terminals(t: Transcript, rules: EventsSpec) -> list[Event]:
    return [e for e in _awaited(t, rules) if rules.is_terminal(rules.label(e))]


@check(
    id="terminal.event.present",
    suite="terminal",
    level=Level.MUST,
    title="The stream (or run) ends with a terminal event",
    requirement="""A stream that closes, breaks or falls silent without its terminal event is
        truncated: the client cannot tell a finished run from a lost connection.""",
    reference="https://html.spec.whatwg.org/multipage/server-sent-events.html",
    framings=EVENT_STREAMS,
    applies=_has_terminal,
)
def terminal_present(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    rules = ep.events
    assert rules is not None
    if not _terminals(t, rules):
        last = t.events[-1] if t.events else None
        after = f"after event #{last.index}" if last else "before any event"
        yield Finding(
            f"one of {', '.join(rules.terminal)} before the end",
            f"the stream ended ({t.end.value}) {after} with no terminal event",
            t.body_bytes,
            len(t.events),
        )


@check(
    id="terminal.event.once",
    suite="terminal",
    level=Level.MUST,
    title="Exactly one terminal event, and nothing after it",
    requirement="""A stream, or a run on a multiplexed stream, has exactly one terminal event
        and nothing of it follows: a second terminal contradicts the first, and a client has
        stopped listening.""",
    reference="https://html.spec.whatwg.org/multipage/server-sent-events.html",
    framings=EVENT_STREAMS,
    applies=_has_terminal,
)
def terminal_once(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    rules = ep.events
    assert rules is not None
    ended: dict[object, Event] = {}  # run -> its terminal event (one run on a plain stream)
    for event in _awaited(t, rules):
        run = rules.run_of(event)
        label = rules.label(event)
        if run in ended:
            if rules.is_terminal(label):
                expected, actual = "one terminal event", "another terminal event"
            else:
                expected, actual = "nothing after the terminal event", "an event"
            yield Finding(
                expected, f"{actual}, {label}, after #{ended[run].index}", event.offset, event.index
            )
        elif rules.is_terminal(label):
            ended[run] = event


@check(
    id="terminal.stream.closes",
    suite="terminal",
    level=Level.MUST,
    title="A finished stream is closed",
    requirement="""After its terminal event a finite stream is closed by the server within
        the bound the spec gives, so clients and proxies free the connection.""",
    reference="https://www.rfc-editor.org/rfc/rfc9112#name-message-body-length",
    framings=EVENT_STREAMS,
    applies=_finite,
)
def stream_closes(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    if t.end is End.NOT_CLOSED:
        yield Finding(
            "the connection closed after the terminal event",
            f"still open {t.end_detail}",
            t.body_bytes,
            len(t.events),
            "timing.close_after_terminal",
        )
    elif t.end is not End.CLOSED:
        raise Untestable(f"the stream ended by {t.end.value}, not after a terminal event")


@check(
    id="terminal.stream.stays-open",
    suite="terminal",
    level=Level.MUST,
    title="A long-lived stream outlives a run",
    requirement="""A long-lived stream stays open and usable after a run ends; it is not
        closed with the run.""",
    reference="https://html.spec.whatwg.org/multipage/server-sent-events.html",
    framings=EVENT_STREAMS,
    applies=_long_lived,
)
def stream_stays_open(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    rules = ep.events
    assert rules is not None
    terminals = _terminals(t, rules)
    if not terminals:
        raise Untestable("the run never ended, so nothing can follow its end")
    if t.end in (End.CLOSED, End.READ_ERROR):
        how = "closed" if t.end is End.CLOSED else f"broken ({t.end_detail})"
        yield Finding(
            "the stream open after the run ended",
            f"{how} {t.duration - terminals[0].time:.3f} s after the run's end",
            t.body_bytes,
            len(t.events),
        )


@check(
    id="terminal.failure.reported",
    suite="terminal",
    level=Level.MUST,
    title="A failed run ends with its documented terminal event",
    requirement="""When a run fails mid-stream (provoked as the spec says), the stream carries
        the documented failure event as its one terminal event, valid against its schema,
        with nothing after it, in an order the grammar allows, and then ends as any
        finished stream does.""",
    reference="https://html.spec.whatwg.org/multipage/server-sent-events.html",
    framings=EVENT_STREAMS,
    applies=_has_failures,
    scenarios=failures,
)
def failure_reported(ev: Provoked, ep: Endpoint) -> Iterator[Finding]:
    rules = ep.events
    t, failure = ev.primary, ev.subject
    assert rules is not None and isinstance(failure, Failure)
    terminals = _terminals(t, rules)
    wanted = f"the failure's terminal event, {failure.terminal}"
    if not terminals:
        yield Finding(wanted, f"no terminal event ({t.end.value})", t.body_bytes, len(t.events))
        return
    first = terminals[0]
    label = rules.label(first)
    if label != failure.terminal and not (label or "").startswith(failure.terminal + "."):
        yield Finding(wanted, f"{label}", first.offset, first.index)
    kind = rules.types.get(label or "")
    if kind is not None:
        validator = schema_validator(kind.schema)
        error = best_match(validator.iter_errors(first.payload))
        if error is not None:
            yield Finding(
                f"the {label} event valid against its schema",
                f"{error.json_path}: {error.message}",
                first.offset,
                first.index,
                schema_basis(f"events.types.{label}", error),
            )
    # a failed run obeys the rules of any run: one terminal event, the grammar's order
    yield from terminal_once(t, ep)
    if rules.grammar is not None:
        yield from grammar_viable(t, ep)
    ended, how = (End.TERMINAL, "open") if rules.long_lived else (End.CLOSED, "closed")
    if t.end is not ended:
        yield Finding(
            f"the stream {how} after the failure",
            f"it ended by {t.end.value}",
            t.body_bytes,
            len(t.events),
        )


@check(
    id="terminal.stream.max-duration",
    suite="terminal",
    level=Level.MUST,
    title="A stream ends by its maximum duration",
    requirement="""A stream that would run longer than the spec's maximum duration is ended by
        the server by then (in the run's time scale, with the suite's tolerance).""",
    reference="https://html.spec.whatwg.org/multipage/server-sent-events.html",
    applies=_has_overrun,
    scenarios=lambda ep: [OVERRUN],
)
def ends_by_max_duration(ev: Provoked, ep: Endpoint) -> Iterator[Finding]:
    t = ev.primary
    if t.end is End.MAX_DURATION:
        yield Finding(
            f"the server ends the stream within {ep.timing.max_duration:g} s (scaled)",
            f"still streaming {t.end_detail}",
            t.body_bytes,
            len(t.events),
            "timing.max_duration",
        )
    elif t.end is not End.CLOSED:
        raise Untestable(f"the overrun stream ended by {t.end.value}")
