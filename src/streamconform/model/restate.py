"""What a target profile may restate of an endpoint where its spec could only assume:
schemas, documented error codes, event rules, time bounds and size limits. A restated
element is the target's own contract, so findings on it fail like the document's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from streamconform.errors import SpecError
from streamconform.model.load import compile_grammar
from streamconform.model.spec import Endpoint, ErrorCase, EventType

__all__ = ["LIMITS", "RESTATABLE", "restate"]

_SCHEMA: dict[str, Any] = {"type": ["object", "boolean"]}
_SECONDS = {"type": "number", "exclusiveMinimum": 0}
LIMITS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "The suite's capture bounds in bytes (over the spec's, under the CLI's)",
    "properties": {
        "event_bytes": {"type": "integer", "minimum": 1},
        "body_bytes": {"type": "integer", "minimum": 1},
    },
}
# endpoint keys of a profile that restate what a spec assumed
RESTATABLE: dict[str, Any] = {
    "content_types": {"type": "array", "minItems": 1, "items": {"type": "string"}},
    "error_schema": _SCHEMA,
    "body_schema": _SCHEMA,
    "query_schema": _SCHEMA,
    "response_schema": _SCHEMA,
    "errors": {
        "type": "object",
        "description": "Per documented status: the error code this target sends ('' for none)",
        "propertyNames": {"pattern": "^[1-5][0-9]{2}$"},
        "additionalProperties": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"error": {"type": "string"}},
        },
    },
    "events": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "type_field": {"type": "string", "minLength": 1},
            "subtype_field": {"type": "string"},
            "timestamps": {"type": "array", "items": {"type": "string"}},
            "types": {
                "type": "object",
                "description": "Event labels with this target's schema for them",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["schema"],
                    "properties": {"schema": _SCHEMA},
                },
            },
            "ids": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "required": {"type": "boolean"},
                    "unique": {"type": "boolean"},
                    "ordered": {"type": "boolean"},
                    "field": {"type": "string"},
                },
            },
            "grammar": {"type": "string"},
        },
    },
    "timing": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            name: _SECONDS
            for name in (
                "response_timeout",
                "idle_timeout",
                "max_duration",
                "close_after_terminal",
                "heartbeat_interval",
                "generation_time",
            )
        },
    },
    "limits": LIMITS,
}


def _schema(value: Any, where: str) -> Any:
    try:
        jsonschema.Draft202012Validator.check_schema(value)
    except SchemaError as err:
        raise SpecError(f"{where}: invalid JSON Schema: {err.message}") from None
    return value


def restate(
    endpoint: Endpoint, changes: Mapping[str, Any], where: str
) -> tuple[Endpoint, list[str]]:
    """The endpoint with a profile's restatements, and the element paths restated
    (relative to the endpoint: `error_schema`, `events.types.delta`, `timing.idle_timeout`)."""
    fields: dict[str, Any] = {}
    restated: list[str] = []
    for name in ("error_schema", "body_schema", "query_schema", "response_schema"):
        if name in changes:
            fields[name] = _schema(changes[name], f"{where}.{name}")
            restated.append(name)
    if "content_types" in changes:
        fields["content_types"] = tuple(changes["content_types"])
        restated.append("content_types")
    if "errors" in changes:
        fields["errors"] = _errors(endpoint, changes["errors"], where)
        restated += [f"errors.{status}.error" for status in changes["errors"]]
    if "timing" in changes:
        fields["timing"] = replace(endpoint.timing, **changes["timing"])
        restated += [f"timing.{name}" for name in changes["timing"]]
    if "limits" in changes:
        fields["sizes"] = endpoint.sizes.changed(**changes["limits"])
    if "events" in changes:
        fields["events"], paths = _events(endpoint, changes["events"], f"{where}.events")
        restated += paths
    return replace(endpoint, **fields), restated


def _errors(endpoint: Endpoint, codes: Mapping[str, Any], where: str) -> tuple[ErrorCase, ...]:
    known = {str(e.status) for e in endpoint.errors}
    for status in codes:
        if status not in known:
            raise SpecError(f"{where}.errors: {endpoint.name} documents no error {status}")
    return tuple(
        replace(e, error=codes[str(e.status)].get("error", e.error))
        if str(e.status) in codes
        else e
        for e in endpoint.errors
    )


def _events(endpoint: Endpoint, changes: Mapping[str, Any], where: str) -> tuple[Any, list[str]]:
    rules = endpoint.events
    if rules is None:
        raise SpecError(f"{where}: {endpoint.name} declares no events to restate")
    fields: dict[str, Any] = {}
    restated: list[str] = []
    for name in ("type_field", "subtype_field"):
        if name in changes:
            fields[name] = changes[name]
            restated.append(f"events.{name}")
    if "timestamps" in changes:
        fields["timestamps"] = tuple(changes["timestamps"])
        restated.append("events.timestamps")
    types = dict(rules.types)
    for label, body in changes.get("types", {}).items():
        old = types.get(label)
        schema = _schema(body["schema"], f"{where}.types.{label}.schema")
        types[label] = EventType(label, schema, old.description if old else "")
        restated.append(f"events.types.{label}")
    fields["types"] = types
    if "ids" in changes:
        fields["ids"] = replace(rules.ids, **changes["ids"])
        restated.append("events.ids")
    if "grammar" in changes:
        try:
            fields["grammar"] = compile_grammar(changes["grammar"], types)
        except ValueError as err:
            raise SpecError(f"{where}.grammar: {err}") from None
        restated.append("events.grammar")
    elif rules.grammar is not None and set(types) != set(rules.types):
        raise SpecError(f"{where}.types: new event labels need a grammar that places them")
    return replace(rules, **fields), restated
