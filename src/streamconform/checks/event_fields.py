"""What the checks of several families read off an event by the spec's declarations: the
endpoint's event rules, an event's JSON payload and its id, and its label as a finding
shows it. Used by the schema.*, order.*, event.*, filter.* and resume.* checks."""

from __future__ import annotations

from typing import Any

from streamconform.decode.events import Event
from streamconform.model.spec import Endpoint, EventsSpec

__all__ = ["event_id", "label_text", "payload_of", "rules_of"]


def rules_of(ep: Endpoint) -> EventsSpec:
    """The endpoint's event rules, for a check that applies only where it has them."""
    assert ep.events is not None  # guaranteed by the calling check's `applies` precondition
    return ep.events


def payload_of(event: Event) -> dict[str, Any]:
    """An event's JSON object (empty when its data is not one)."""
    return event.payload if isinstance(event.payload, dict) else {}


def event_id(rules: EventsSpec, event: Event) -> str | None:
    """An event's id: the SSE last-event-id in force, or the spec's JSON id field."""
    if rules.ids.field:
        value = payload_of(event).get(rules.ids.field)
        return None if value is None else str(value)
    return event.id or None


def label_text(label: str | None) -> str:
    """An event's label as a finding shows it, saying so when it has no type."""
    return label if label is not None else "(an event with no type)"
