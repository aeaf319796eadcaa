"""Input checks (input.*), in the bad-input suite: requests generated from the spec's
schemas. Invalid ones are refused with 400 or 422 and a JSON error, never a 5xx and never a
stream; valid ones start the stream or get a documented answer."""

from __future__ import annotations

from collections.abc import Iterator

from streamconform.checks.headers import media_type
from streamconform.checks.registry import Finding, Untestable, check
from streamconform.core.evidence import BadInput
from streamconform.model.spec import Endpoint, Level
from streamconform.scenarios.input import INVALID, VALID

RFC9110_400 = "https://www.rfc-editor.org/rfc/rfc9110#name-400-bad-request"
_REFUSED = (400, 422)
_FINDINGS_KEPT = 5


def _has_input_schema(ep: Endpoint) -> str | None:
    if ep.body_schema is None and ep.query_schema is None:
        return "the spec gives no request schema to generate input from"
    return None


def _breakable_input(ep: Endpoint) -> str | None:
    if ep.body_schema is None and not ep.breakable_query():
        return "nothing in the request schemas can be broken (any string is a valid value)"
    return None


def _is_json(content_type: str) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or kind.endswith("+json")


@check(
    id="input.invalid.refused",
    suite="bad-input",
    level=Level.MUST,
    title="Invalid requests are refused with 400 or 422",
    requirement="""A request that breaks the endpoint's documented request schema (wrong
        types, missing fields, values out of range, unknown enum values, malformed or
        non-JSON bodies) is answered 400 or 422 with a JSON error: never a 5xx, never a
        stream.""",
    reference=RFC9110_400,
    applies=_breakable_input,
    needs_stream=False,
    scenarios=lambda ep: [INVALID],
)
def invalid_refused(t: BadInput, ep: Endpoint) -> Iterator[Finding]:
    if not t.probes:
        raise Untestable("the schemas allow no invalid request to be generated")
    bad = 0
    for probe in t.probes:
        if probe.status in _REFUSED and _is_json(probe.content_type):
            continue
        bad += 1
        if bad > _FINDINGS_KEPT:
            continue
        if probe.status is None:
            actual = f"no answer ({probe.error})"
        elif probe.status in _REFUSED:
            actual = f"{probe.status} with {probe.content_type or 'no content type'}"
        else:
            # a probe's body is already redacted whole and bounded
            actual = f"status {probe.status} {probe.content_type} {probe.body!r}"
        yield Finding("400 or 422 with a JSON error", f"{actual}; replay: {probe.curl}")


@check(
    id="input.valid.accepted",
    suite="bad-input",
    level=Level.MUST,
    title="Valid requests start the stream or get a documented answer",
    requirement="""A request the documented schema allows either starts the stream or gets
        one of the endpoint's documented answers (an unknown resource's 404, say); never
        a 5xx, never a refusal the documentation does not list.""",
    reference=RFC9110_400,
    applies=_has_input_schema,
    needs_stream=False,
    scenarios=lambda ep: [VALID],
)
def valid_accepted(t: BadInput, ep: Endpoint) -> Iterator[Finding]:
    if not t.probes:
        raise Untestable("no valid request could be generated")
    allowed = set(ep.success) | {e.status for e in ep.errors}
    shown = 0
    for probe in t.probes:
        if probe.status in allowed:
            continue
        shown += 1
        if shown > _FINDINGS_KEPT:
            continue
        actual = (
            f"no answer ({probe.error})"
            if probe.status is None
            else f"status {probe.status} {probe.body!r}"
        )
        yield Finding(f"one of {sorted(allowed)}", f"{actual}; replay: {probe.curl}")
