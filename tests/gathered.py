"""Reach a scenario's evidence in a run by the name reports give the scenario."""

from __future__ import annotations

from typing import Any

from streamconform.checks import REGISTRY, Check, not_applicable
from streamconform.core.evidence import Evidence, Provoked
from streamconform.core.transcript import Transcript
from streamconform.engine.run import ConformanceRun
from streamconform.model.spec import Endpoint, Spec
from streamconform.scenarios.registry import Scenario


def scenario_named(endpoint: Endpoint, name: str) -> Scenario:
    """The scenario of this name that a registered check judges on the endpoint."""
    for chk in REGISTRY.values():
        if chk.scenarios is None or not_applicable(chk, endpoint) is not None:
            continue
        for scenario in chk.scenarios(endpoint):
            if scenario.name == name:
                return scenario
    raise LookupError(f"no check judges a scenario {name!r} on {endpoint.name}")


def gathered(run: ConformanceRun, spec: Spec, endpoint: Endpoint, name: str = "") -> Evidence:
    """The evidence of the scenario `name` ("" for the plain stream), gathered by the run."""
    if not name:
        return run.transcript(spec, endpoint)
    return run.evidence(spec, endpoint, scenario_named(endpoint, name))


def provoked_as(chk: Check, ep: Endpoint, t: Transcript) -> Any:
    """What a run hands a check that names its scenarios: the stream with the spec entry
    (a filter) its variant was opened with; any other check gets the transcript itself."""
    if chk.scenarios is None or not t.variant:
        return t
    (scenario,) = [s for s in chk.scenarios(ep) if s.name == t.variant]
    return Provoked(primary=t, subject=scenario.subject)
