"""Invalid requests that reach every constraint of a request schema, one at a time.

Random generation seldom lands just outside a bound, on the type a lax server coerces
(`"5"` or `false` for an integer) or on null, so these are built deterministically: the
spec's own valid request with one value broken, for each constraint of each top-level
field of the body and query schemas. Each says which field and constraint it breaks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Broken", "broken_requests"]

# values of each JSON type that no other type's value equals (for wrong-type probes)
_OF_TYPE: dict[str, list[Any]] = {
    "string": ["1", "true", ""],
    "integer": [1, -1],
    "number": [1.5],
    "boolean": [False, True],
    "array": [[]],
    "object": [{}],
    "null": [None],
}


@dataclass(frozen=True, slots=True)
class Broken:
    """One request with one thing wrong: where (`body_schema.max_tokens`), and what."""

    where: str
    breaks: str
    body: Any = None
    query: Mapping[str, Any] | None = None


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type")
    if declared is None:
        return set()
    names = {declared} if isinstance(declared, str) else set(declared)
    if "number" in names:
        names.add("integer")
    return names


def _valid(value: Any, schema: Mapping[str, Any]) -> bool:
    from streamconform.formats import schema_validator  # jsonschema, with formats checked

    return schema_validator(dict(schema)).is_valid(value)


def _candidates(schema: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(constraint broken, value) pairs for one field's schema; each must be invalid."""
    types = _types(schema)
    if types:
        for name, values in _OF_TYPE.items():
            if name not in types and not (name == "integer" and "number" in types):
                for value in values:
                    yield f"type {'/'.join(sorted(types))}, given {name}", value
    for key, shift in (("minimum", -1), ("exclusiveMinimum", 0), ("maximum", 1)):
        if isinstance(schema.get(key), int | float):
            bound = schema[key]
            yield f"{key} {bound}", bound + shift
            if key != "maximum":
                yield f"{key} {bound}, given a string", str(bound + 1)
    if isinstance(schema.get("exclusiveMaximum"), int | float):
        yield f"exclusiveMaximum {schema['exclusiveMaximum']}", schema["exclusiveMaximum"]
    if isinstance(schema.get("minLength"), int) and schema["minLength"] > 0:
        yield f"minLength {schema['minLength']}", "x" * (schema["minLength"] - 1)
    if isinstance(schema.get("maxLength"), int):
        yield f"maxLength {schema['maxLength']}", "x" * (schema["maxLength"] + 1)
    if isinstance(schema.get("minItems"), int) and schema["minItems"] > 0:
        yield f"minItems {schema['minItems']}", []
    if "enum" in schema:
        yield "enum", "not-one-of-the-values"
    if "const" in schema:
        yield "const", "not-the-value"
    if "pattern" in schema:
        yield f"pattern {schema['pattern']}", " \u0000"


def _valid_base(body: Any, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """The request's own body as the base, if it is an object the schema accepts."""
    if isinstance(body, dict) and _valid(body, schema):
        return dict(body)
    return None


def _object_cases(
    base: dict[str, Any], schema: Mapping[str, Any]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(field, what is broken, the object with it broken) for each constraint."""
    properties = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name in base:
            yield name, f"{name}: required", {k: v for k, v in base.items() if k != name}
    for name, field in properties.items():
        if not isinstance(field, dict):
            continue
        for breaks, value in _candidates(field):
            changed = {**base, name: value}
            if not _valid(changed, schema):
                yield name, f"{name}: {breaks}", changed
    extra = schema.get("additionalProperties")
    if extra is False:
        changed = {**base, "unexpected_field": 1}
        yield "additionalProperties", "additionalProperties: false", changed
    if isinstance(extra, dict):
        for breaks, value in _candidates(extra):
            changed = {**base, "extra_field": value}
            if not _valid(changed, schema):
                yield "additionalProperties", f"any other field: {breaks}", changed


def broken_requests(
    body: Any,
    body_schema: Mapping[str, Any] | None,
    query: Mapping[str, Any],
    query_schema: Mapping[str, Any] | None,
) -> list[Broken]:
    """Every one-thing-wrong request the schemas allow, built on the valid `body` and
    `query` (rendered already); a body that is not an object gets type breaks only."""
    out: list[Broken] = []
    if body_schema:
        base = _valid_base(body, body_schema)
        if base is not None:
            for field, breaks, changed in _object_cases(base, body_schema):
                out.append(Broken(f"body_schema.{field}", breaks, body=changed))
        for kind, values in _OF_TYPE.items():
            for value in values:
                if not _valid(value, body_schema):
                    out.append(Broken("body_schema", f"the body is a JSON {kind}", body=value))
                    break
    if query_schema:
        as_text = {k: str(v) for k, v in query.items()}
        for field, breaks, changed in _object_cases(dict(query), query_schema):
            if changed != as_text:
                texts = {k: v if isinstance(v, str) else _text(v) for k, v in changed.items()}
                if not _valid(_typed(texts, query_schema), query_schema):
                    out.append(Broken(f"query_schema.{field}", breaks, query=texts))
    return _distinct(out)


def _text(value: Any) -> str:
    """How a value travels in a query string."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _typed(query: Mapping[str, str], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Query text read back as the schema's types, as a server does before validating."""
    out: dict[str, Any] = {}
    for name, text in query.items():
        types = _types(schema.get("properties", {}).get(name, {}))
        out[name] = text
        for kind, cast in (("integer", int), ("number", float)):
            if kind in types:
                try:
                    out[name] = cast(text)
                    break
                except ValueError:
                    pass
        if "boolean" in types and text in ("true", "false"):
            out[name] = text == "true"
    return out


def _distinct(cases: list[Broken]) -> list[Broken]:
    seen: set[str] = set()
    out = []
    for case in cases:
        key = repr((case.body, sorted((case.query or {}).items())))
        if key not in seen:
            seen.add(key)
            out.append(case)
    return out
