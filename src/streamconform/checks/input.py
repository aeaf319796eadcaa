"""Input checks (input.*), in the bad-input suite: requests generated from the spec's
schemas. Invalid ones are refused with 400 or 422 and a JSON error, never a 5xx and never a
stream; valid ones start the stream or get a documented answer."""

from __future__ import annotations

from collections.abc import Iterator

from streamconform.checks.headers import media_type
from streamconform.checks.registry import Finding, Untestable, check
from streamconform.core.evidence import BadInput
from streamconform.core.transcript import End
from streamconform.model.spec import Endpoint, Level
from streamconform.scenarios.input import INVALID, VALID

RFC9110_400 = "https://www.rfc-editor.org/rfc/rfc9110#name-400-bad-request"
_AUTH = (401, 403)  # refused as unauthorised: the input was never judged
_FINDINGS_KEPT = 5


def _has_input_schema(ep: Endpoint) -> str | None:
    if ep.body_schema is None and ep.query_schema is None:
        return "the spec gives no request schema to generate input from"
    return None


def _prepared(t: BadInput) -> None:
    if t.primary.end is End.SETUP_FAILED:
        raise Untestable(f"the requests could not be prepared: {t.primary.end_detail}")


def _accepts_safely(ep: Endpoint) -> str | None:
    if not ep.is_stream and ep.method != "GET":
        return (
            f"valid requests to {ep.method} {ep.path} would change the target (make or "
            "remove what other cases use): only invalid ones are sent"
        )
    return _has_input_schema(ep)


def _harmless_when_refused(ep: Endpoint) -> str | None:
    if ep.method == "DELETE":
        return (
            f"an invalid request to DELETE {ep.path} is not sent: a lenient server could "
            "act on it (delete all where a name is null)"
        )
    return _breakable_input(ep)


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
    title="Invalid requests are refused",
    requirement="""A request that breaks the endpoint's documented request schema (wrong
        types, missing fields, values out of range, unknown enum values, malformed or
        non-JSON bodies; drawn at random, and the spec's own request with each constraint
        broken in turn) is refused with a 4xx, 400 or 422 as a rule, with a JSON error:
        never a 5xx, never a stream.""",
    reference=RFC9110_400,
    applies=_harmless_when_refused,
    needs_stream=False,
    scenarios=lambda ep: [INVALID],
    any_endpoint=True,
)
def invalid_refused(t: BadInput, ep: Endpoint) -> Iterator[Finding]:
    _prepared(t)
    if not t.probes:
        raise Untestable("the schemas allow no invalid request to be generated")
    kept: dict[str, int] = {}  # findings kept per basis: the documented ones must show
    for probe in t.probes:
        refused = probe.status is not None and 400 <= probe.status < 500
        refused = refused and probe.status not in _AUTH
        if refused and _is_json(probe.content_type):
            continue  # 400 and 422 are the rule, but any client error refuses
        # refused without a JSON error: the body is the spec's word (its error schema);
        # anything else breaks the element of the schema the request broke
        basis = "error_schema" if refused else probe.where
        kept[basis] = kept.get(basis, 0) + 1
        if kept[basis] > _FINDINGS_KEPT:
            continue
        if probe.status is None:
            actual = f"no answer ({probe.error})"
        elif refused:
            actual = f"{probe.status} with {probe.content_type or 'no content type'}"
        else:
            # a probe's body is already redacted whole and bounded
            actual = f"status {probe.status} {probe.content_type} {probe.body!r}"
        broke = f" (it breaks {probe.breaks})" if probe.breaks else ""
        yield Finding(
            "a refusal (4xx; 400 or 422 as a rule) with a JSON error",
            f"{actual}{broke}; replay: {probe.curl}",
            basis=basis,
        )


@check(
    id="input.valid.accepted",
    suite="bad-input",
    level=Level.MUST,
    title="Valid requests start the stream or get a documented answer",
    requirement="""A request the documented schema allows either starts the stream or gets
        one of the endpoint's documented answers (an unknown resource's 404, say); never
        a 5xx, never a refusal the documentation does not list.""",
    reference=RFC9110_400,
    applies=_accepts_safely,
    needs_stream=False,
    scenarios=lambda ep: [VALID],
    any_endpoint=True,
)
def valid_accepted(t: BadInput, ep: Endpoint) -> Iterator[Finding]:
    _prepared(t)
    if not t.probes:
        raise Untestable("no valid request could be generated")
    # a drawn value may well name nothing that exists: its 404 is the right answer
    allowed = set(ep.success) | {e.status for e in ep.errors} | {404}
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
        yield Finding(
            f"one of {sorted(allowed)}", f"{actual}; replay: {probe.curl}", basis=probe.where
        )
