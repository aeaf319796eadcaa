"""Scenario objects and the families that play them.

A family knows how to play its scenarios against a target session: several at once where
they share a setup (key probes, token trials) or overlap in time (resumes). A scenario is
one member: a name for reports, its family, and the spec entry it exercises, if any.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from streamconform.capture.session import TargetSession
from streamconform.core.evidence import Evidence

__all__ = ["FAMILIES", "Family", "Scenario", "always", "family"]

Play = Callable[[TargetSession, Sequence["Scenario"]], Coroutine[Any, Any, dict[str, Evidence]]]


def always(session: TargetSession, scenario: Scenario) -> str:
    """Playable everywhere: no reason against."""
    return ""


@dataclass(frozen=True, slots=True, eq=False)
class Family:
    """Scenarios played together: one setup, one event loop, one call.

    `unavailable` says why a scenario cannot be played on this session ("" when it can);
    `after_plain` families need the endpoint's plain capture first (it sizes them);
    `batched` families play every scenario of theirs an endpoint's checks want in one call
    (they share one setup); the others play a check's own scenarios together.
    """

    name: str
    play: Play
    unavailable: Callable[[TargetSession, Scenario], str] = always
    after_plain: bool = False
    batched: bool = True


FAMILIES: dict[str, Family] = {}


def family(
    name: str,
    *,
    unavailable: Callable[[TargetSession, Scenario], str] = always,
    after_plain: bool = False,
    batched: bool = True,
) -> Callable[[Play], Family]:
    """Register a family by the function that plays its scenarios; a duplicate name is an
    import-time error."""

    def register(play: Play) -> Family:
        if name in FAMILIES:
            raise ValueError(f"scenario family {name!r} registered twice")
        FAMILIES[name] = made = Family(name, play, unavailable, after_plain, batched)
        return made

    return register


@dataclass(frozen=True, slots=True, eq=False)
class Scenario:
    """One way to exercise an endpoint. `name` is what reports call it and is unique on an
    endpoint; `subject` is the spec entry it exercises (a filter, a failure), if any."""

    name: str
    family: Family
    subject: Any = None

    def unavailable(self, session: TargetSession) -> str:
        return self.family.unavailable(session, self)
