"""The endpoint's stream: the plain capture every framing and ordering check judges, and
the provoked ones (a filter on, a documented error, a failed run, an overrun)."""

from __future__ import annotations

from collections.abc import Sequence

from streamconform.capture.session import TargetSession
from streamconform.capture.stream import capture_stream
from streamconform.core.evidence import Evidence, Provoked
from streamconform.model.spec import Endpoint, ErrorCase, Failure, Filter
from streamconform.scenarios.registry import Scenario, family

__all__ = ["OVERRUN", "PLAIN", "STREAMS", "errors", "failures", "filters", "provoked"]


def _unprovokable(session: TargetSession, scenario: Scenario) -> str:
    if scenario is PLAIN:
        return ""
    variant = session.endpoint.variant(scenario.name)
    if variant is None:
        return f"the spec gives no way to provoke {scenario.name} on this endpoint"
    if variant.reference_only and session.on_target:
        return (
            f"{scenario.name} is provoked only on the reference server; a target "
            "profile would need to say how"
        )
    return ""


@family("stream", unavailable=_unprovokable, batched=False)
async def STREAMS(session: TargetSession, scenarios: Sequence[Scenario]) -> dict[str, Evidence]:
    """Each stream captured on its own, one after another."""
    out: dict[str, Evidence] = {}
    for scenario in scenarios:
        if scenario is PLAIN:
            out[scenario.name] = await capture_stream(session)
            continue
        variant = session.endpoint.variant(scenario.name)
        captured = await capture_stream(session, variant=variant)
        out[scenario.name] = Provoked(primary=captured, subject=scenario.subject)
    return out


PLAIN = Scenario("", STREAMS)
OVERRUN = Scenario("overrun", STREAMS)  # a stream made to run past its maximum duration


def provoked(name: str, subject: Filter | Failure | ErrorCase | None = None) -> Scenario:
    """The stream requested the way the spec (or a target profile) says provokes `name`."""
    return Scenario(name, STREAMS, subject)


def filters(ep: Endpoint) -> list[Scenario]:
    """The stream opened with each of the endpoint's filters."""
    return [provoked(f.name, f) for f in ep.events.filters] if ep.events else []


def failures(ep: Endpoint) -> list[Scenario]:
    """A run made to fail each documented way."""
    return [provoked(f.name, f) for f in ep.events.failures] if ep.events else []


def errors(ep: Endpoint) -> list[Scenario]:
    """A request provoking each documented error status."""
    return [provoked(f"error:{e.status}", e) for e in ep.errors]
