"""A spec of one endpoint, built in code, for unit tests that judge a check on it."""

from __future__ import annotations

from streamconform.model.spec import Endpoint, Requirement, Spec


def spec_of(ep: Endpoint, *requirements: Requirement) -> Spec:
    """A spec holding one endpoint; with no requirement traced, each check keeps its level."""
    return Spec(
        name="spec",
        title="t",
        path="spec.yaml",
        source_document="test",
        variables={},
        auth={},
        endpoints={ep.name: ep},
        flows={},
        requirements=requirements,
        assumptions=(),
        reference=None,
    )
