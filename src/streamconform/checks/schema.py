"""Schema checks (schema.*), in the ordering suite: every event has a declared type and
validates against that type's schema."""

from __future__ import annotations

from collections.abc import Iterator

from jsonschema.exceptions import ValidationError, best_match

from streamconform.checks.event_fields import label_text, rules_of
from streamconform.checks.registry import EVENT_STREAMS, Finding, check
from streamconform.core.transcript import Transcript
from streamconform.formats import schema_validator
from streamconform.model.spec import Endpoint, Level

JSON_SCHEMA = "https://json-schema.org/draft/2020-12/json-schema-validation"


def schema_basis(element: str, error: ValidationError) -> str:
    """The schema element a validation error rests on: the top-level field that is wrong or
    missing (`events.types.delta.text`), so a spec can assume one field of a documented
    type; the whole schema when the error is not about one field."""
    if error.absolute_path:
        return f"{element}.{error.absolute_path[0]}"
    wanted = error.validator_value
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [p for p in wanted if p not in error.instance] if isinstance(wanted, list) else []
        if missing:
            return f"{element}.{missing[0]}"
    return element


def _has_events(ep: Endpoint) -> str | None:
    return None if ep.events is not None else "the spec declares no events for this endpoint"


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
    rules = rules_of(ep)
    declared = ", ".join(sorted(rules.types))
    for event in t.events:
        label = rules.label(event)
        if label not in rules.types and event.data not in rules.non_json_data:
            yield Finding(
                f"one of {declared}",
                label_text(label),
                event.offset,
                event.index,
                f"events.types.{label}" if label else "events.type_field",
            )


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
    rules = rules_of(ep)
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
                schema_basis(f"events.types.{label}", error),
            )
