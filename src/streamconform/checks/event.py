"""Event checks (event.*), in the ordering suite: every event's id (present, unique,
increasing where the spec says so) and its timestamps (ISO 8601, never going backwards)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from streamconform.checks.event_fields import event_id, payload_of, rules_of
from streamconform.checks.registry import EVENT_STREAMS, Finding, Untestable, check
from streamconform.core.transcript import Transcript
from streamconform.decode.events import Event
from streamconform.formats import parse_rfc3339
from streamconform.model.spec import Endpoint, Level

RFC3339 = "https://www.rfc-editor.org/rfc/rfc3339#section-5.6"
WHATWG_ID = "https://html.spec.whatwg.org/multipage/server-sent-events.html#concept-event-stream-last-event-id"
_NUMBER = re.compile(r"(\d+)")


def _ids_required(ep: Endpoint) -> str | None:
    if ep.events is None or not ep.events.ids.required:
        return "the spec does not require event ids here"
    return None


def _ids_unique(ep: Endpoint) -> str | None:
    if ep.events is None or not (ep.events.ids.unique or ep.events.ids.required):
        return "the spec does not require unique ids here"
    return None


def _ids_ordered(ep: Endpoint) -> str | None:
    if ep.events is None or not ep.events.ids.ordered:
        return "the spec does not declare ids ordered"
    return None


def _has_timestamps(ep: Endpoint) -> str | None:
    if ep.events is None or not ep.events.timestamps:
        return "the spec names no timestamp fields"
    return None


def natural_key(value: str) -> tuple[Any, ...]:
    """Order ids as people do: evt_0099 < evt_0100, 9 < 10."""
    return tuple(int(p) if p.isdigit() else p for p in _NUMBER.split(value))


@check(
    id="event.id.present",
    suite="ordering",
    framings=EVENT_STREAMS,
    level=Level.MUST,
    title="Every event has an id",
    requirement="""Where the spec requires ids, every event has one (for SSE, the last event
        ID in force when it is dispatched, which persists over events without an id line).""",
    reference=WHATWG_ID,
    applies=_ids_required,
)
def id_present(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    rules = rules_of(ep)
    for event in t.events:
        if not event_id(rules, event):
            where = f"field {rules.ids.field!r}" if rules.ids.field else "an id: line"
            yield Finding(f"an id ({where})", "no id", event.offset, event.index, "events.ids")


@check(
    id="event.id.unique",
    suite="ordering",
    framings=EVENT_STREAMS,
    level=Level.MUST,
    title="Ids are unique within the stream",
    requirement="""No two events of a stream share an id; an SSE event without its own id line
        inherits the previous one, so it repeats it.""",
    reference=WHATWG_ID,
    applies=_ids_unique,
)
def id_unique(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    rules = rules_of(ep)
    seen: dict[str, int] = {}
    for event in t.events:
        ident = event_id(rules, event)
        if not ident:
            continue
        if ident in seen:
            inherited = "" if rules.ids.field or event.has_id_field else " (no id line: inherited)"
            yield Finding(
                "an id no earlier event had",
                f"id {ident!r} of event #{seen[ident]}{inherited}",
                event.offset,
                event.index,
                "events.ids",
            )
        else:
            seen[ident] = event.index


@check(
    id="event.id.increasing",
    suite="ordering",
    framings=EVENT_STREAMS,
    level=Level.MUST,
    title="Ids increase",
    requirement="""Where the spec declares ids ordered, each id is greater than the one before,
        compared as people read them (evt_0099 < evt_0100).""",
    reference=WHATWG_ID,
    applies=_ids_ordered,
)
def id_increasing(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    rules = rules_of(ep)
    previous: str | None = None
    for event in t.events:
        ident = event_id(rules, event)
        if not ident:
            continue
        if previous is not None and natural_key(ident) <= natural_key(previous):
            yield Finding(
                f"an id after {previous!r}",
                f"id {ident!r}",
                event.offset,
                event.index,
                "events.ids",
            )
        previous = ident


def _stamped(t: Transcript, ep: Endpoint) -> list[tuple[Event, str, object]]:
    """Every timestamp field of the stream's events; none at all leaves nothing to judge."""
    names = rules_of(ep).timestamps
    found = [
        (event, name, payload_of(event)[name])
        for event in t.events
        for name in names
        if name in payload_of(event)
    ]
    if not found:
        raise Untestable(f"no event of this stream carried a timestamp ({', '.join(names)})")
    return found


@check(
    id="event.timestamp.iso8601",
    suite="ordering",
    framings=EVENT_STREAMS,
    level=Level.MUST,
    title="Timestamps are ISO 8601",
    requirement="""Timestamp fields hold ISO 8601 date-times in the RFC 3339 profile, with a
        time zone (2025-09-04T16:24:35.185Z), which every client can parse.""",
    reference=RFC3339,
    applies=_has_timestamps,
)
def timestamp_valid(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    for event, name, value in _stamped(t, ep):
        if parse_rfc3339(value) is None:
            yield Finding(
                f"{name}: an ISO 8601 date-time with a zone",
                f"{name}: {value!r}",
                event.offset,
                event.index,
                "events.timestamps",
            )


@check(
    id="event.timestamp.monotonic",
    suite="ordering",
    framings=EVENT_STREAMS,
    level=Level.SHOULD,
    title="Timestamps do not go backwards",
    requirement="""Within a stream, each event's timestamp is no earlier than the one before.""",
    reference=RFC3339,
    applies=_has_timestamps,
)
def timestamp_monotonic(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    latest: datetime | None = None
    for event, name, value in _stamped(t, ep):
        when = parse_rfc3339(value)
        if when is None:
            continue
        if latest is not None and when < latest:
            yield Finding(
                f"{name} at or after {latest.isoformat()}",
                f"{name}: {value!r}",
                event.offset,
                event.index,
                "events.timestamps",
            )
        latest = max(latest or when, when)
