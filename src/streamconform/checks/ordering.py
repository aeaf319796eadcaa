"""Ordering suite: every event's type and schema, the grammar of the stream (per run on a
multiplexed stream), ids, timestamps, and filters that deliver only what was asked for."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from jsonschema.exceptions import best_match

from streamconform.checks.registry import EVENT_STREAMS, Finding, Untestable, check
from streamconform.core.evidence import Provoked
from streamconform.core.transcript import Transcript
from streamconform.decode.events import Event
from streamconform.formats import parse_rfc3339, schema_validator
from streamconform.model.spec import Endpoint, EventsSpec, Filter, Level
from streamconform.scenarios.stream import filters

RFC3339 = "https://www.rfc-editor.org/rfc/rfc3339#section-5.6"
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/json-schema-validation"
WHATWG_ID = "https://html.spec.whatwg.org/multipage/server-sent-events.html#concept-event-stream-last-event-id"
_NUMBER = re.compile(r"(\d+)")
_NO_KEY = object()


def _rules(ep: Endpoint) -> EventsSpec:
    assert ep.events is not None  # guaranteed by the `applies` preconditions below
    return ep.events


def _has_events(ep: Endpoint) -> str | None:
    return None if ep.events is not None else "the spec declares no events for this endpoint"


def _has_grammar(ep: Endpoint) -> str | None:
    if ep.events is None or ep.events.grammar is None:
        return "the spec declares no grammar for this endpoint"
    return None


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


def _has_filters(ep: Endpoint) -> str | None:
    if ep.events is None or not ep.events.filters:
        return "the spec declares no filters for this endpoint"
    return None


def _payload(event: Event) -> dict[str, Any]:
    return event.payload if isinstance(event.payload, dict) else {}


def event_id(rules: EventsSpec, event: Event) -> str | None:
    """An event's id: the SSE last-event-id in force, or the spec's JSON id field."""
    if rules.ids.field:
        value = _payload(event).get(rules.ids.field)
        return None if value is None else str(value)
    return event.id or None


def natural_key(value: str) -> tuple[Any, ...]:
    """Order ids as people do: evt_0099 < evt_0100, 9 < 10."""
    return tuple(int(p) if p.isdigit() else p for p in _NUMBER.split(value))


def _label_text(label: str | None) -> str:
    return label if label is not None else "(an event with no type)"


@check(
    id="schema.type.declared",
    suite="ordering",
    framings=EVENT_STREAMS,
    level=Level.MUST,
    title="Every event has a declared type",
    requirement="""Every event's type (and subtype) is one the spec declares; a stream the
        spec declares open to new types only warns on an unknown one.""",
    reference=JSON_SCHEMA,
    applies=_has_events,
    level_for=lambda ep: Level.SHOULD if ep.events and ep.events.open_types else Level.MUST,
)
def type_declared(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    rules = _rules(ep)
    declared = ", ".join(sorted(rules.types))
    for event in t.events:
        label = rules.label(event)
        if label not in rules.types and event.data not in rules.non_json_data:
            yield Finding(f"one of {declared}", _label_text(label), event.offset, event.index)


@check(
    id="schema.event.valid",
    suite="ordering",
    framings=EVENT_STREAMS,
    level=Level.MUST,
    title="Every event matches its schema",
    requirement="""Every event of a declared type validates against that type's JSON Schema
        (draft 2020-12).""",
    reference=JSON_SCHEMA,
    applies=_has_events,
)
def event_valid(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    rules = _rules(ep)
    validators = {label: schema_validator(kind.schema) for label, kind in rules.types.items()}
    for event in t.events:
        label = rules.label(event)
        if label not in validators or event.json_error:
            continue  # unknown types and non-JSON data are other checks' findings
        error = best_match(validators[label].iter_errors(event.payload))
        if error is not None:
            yield Finding(
                f"a {label} event valid against its schema",
                f"{error.json_path}: {error.message} (value {error.instance!r:.80})",
                event.offset,
                event.index,
            )


def _groups(t: Transcript, rules: EventsSpec) -> dict[object, list[Event]]:
    """Events by key (one group when the stream is not multiplexed)."""
    groups: dict[object, list[Event]] = {}
    for event in t.events:
        if rules.label(event) is None and event.data in rules.non_json_data:
            continue  # declared sentinels (a priming event, [DONE]) are not part of the order
        key = _payload(event).get(rules.key_field, _NO_KEY) if rules.key_field else None
        groups.setdefault(key, []).append(event)
    return groups


@check(
    id="order.grammar.viable",
    suite="ordering",
    framings=EVENT_STREAMS,
    level=Level.MUST,
    title="Events come in an order the grammar allows",
    requirement="""The sequence of event labels (per run, on a multiplexed stream) can always
        still be completed to a sentence of the spec's grammar; nothing follows a terminal
        event.""",
    reference="https://html.spec.whatwg.org/multipage/server-sent-events.html",
    applies=_has_grammar,
)
def grammar_viable(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    rules = _rules(ep)
    assert rules.grammar is not None
    awaited = t.captures.get(rules.key_field) if rules.key_field else None
    for key, events in _groups(t, rules).items():
        # a run whose start the capture may have missed is judged as a fragment
        fragment = bool(rules.key_field) and (key is _NO_KEY or key != awaited)
        matcher = rules.grammar.matcher(fragment=fragment)
        history: list[str] = []
        for event in events:
            label = _label_text(rules.label(event))
            expected = matcher.expected()
            if not matcher.feed(label):
                run = (
                    f" of {rules.key_field} {key!r}"
                    if rules.key_field and key is not _NO_KEY
                    else ""
                )
                after = " → ".join(history[-4:]) or "the start"
                yield Finding(
                    f"one of {', '.join(expected)}" if expected else "nothing more: it had ended",
                    f"{label} after {after}{run}",
                    event.offset,
                    event.index,
                )
                break
            history.append(label)


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
    rules = _rules(ep)
    for event in t.events:
        if not event_id(rules, event):
            where = f"field {rules.ids.field!r}" if rules.ids.field else "an id: line"
            yield Finding(f"an id ({where})", "no id", event.offset, event.index)


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
    rules = _rules(ep)
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
    rules = _rules(ep)
    previous: str | None = None
    for event in t.events:
        ident = event_id(rules, event)
        if not ident:
            continue
        if previous is not None and natural_key(ident) <= natural_key(previous):
            yield Finding(f"an id after {previous!r}", f"id {ident!r}", event.offset, event.index)
        previous = ident


def _timestamps(t: Transcript, ep: Endpoint) -> Iterator[tuple[Event, str, object]]:
    for event in t.events:
        payload = _payload(event)
        for name in _rules(ep).timestamps:
            if name in payload:
                yield event, name, payload[name]


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
    for event, name, value in _timestamps(t, ep):
        if parse_rfc3339(value) is None:
            yield Finding(
                f"{name}: an ISO 8601 date-time with a zone",
                f"{name}: {value!r}",
                event.offset,
                event.index,
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
    for event, name, value in _timestamps(t, ep):
        when = parse_rfc3339(value)
        if when is None:
            continue
        if latest is not None and when < latest:
            yield Finding(
                f"{name} at or after {latest.isoformat()}",
                f"{name}: {value!r}",
                event.offset,
                event.index,
            )
        latest = max(latest or when, when)


@check(
    id="filter.only-matching",
    suite="ordering",
    framings=EVENT_STREAMS,
    level=Level.MUST,
    title="Filters deliver only what was asked for",
    requirement="""A stream opened with a filter (thread_id, run_id) delivers only events that
        match it, while other events are being produced.""",
    reference="https://www.rfc-editor.org/rfc/rfc9110#name-query",
    applies=_has_filters,
    scenarios=filters,
)
def filter_matching(ev: Provoked, ep: Endpoint) -> Iterator[Finding]:
    t, flt = ev.primary, ev.subject
    assert isinstance(flt, Filter)
    wanted = t.captures.get(flt.equals)
    if wanted is None:
        raise Untestable(f"the filter's setup did not capture {flt.equals!r}")
    if not t.events:
        raise Untestable(f"no event arrived through the {flt.param} filter")
    for event in t.events:
        value = _payload(event).get(flt.field)
        if value != wanted:
            yield Finding(
                f"{flt.field} {wanted!r} only ({flt.param} filter)",
                f"{flt.field} {value!r}",
                event.offset,
                event.index,
            )
