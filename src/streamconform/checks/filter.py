"""Filter checks (filter.*), in the ordering suite: a stream opened with a filter delivers
only the events that match it."""

from __future__ import annotations

from collections.abc import Iterator

from streamconform.checks.event_fields import payload_of
from streamconform.checks.registry import EVENT_STREAMS, Finding, Untestable, check
from streamconform.core.evidence import Provoked
from streamconform.model.spec import Endpoint, Filter, Level
from streamconform.scenarios.stream import filters


def _has_filters(ep: Endpoint) -> str | None:
    if ep.events is None or not ep.events.filters:
        return "the spec declares no filters for this endpoint"
    return None


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
        value = payload_of(event).get(flt.field)
        if value != wanted:
            yield Finding(
                f"{flt.field} {wanted!r} only ({flt.param} filter)",
                f"{flt.field} {value!r}",
                event.offset,
                event.index,
            )
