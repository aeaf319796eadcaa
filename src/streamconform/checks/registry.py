"""The one registry of checks, filled by the `@check` decorator.

A check is a pure function `(evidence, endpoint) -> findings`: no I/O, no clock, no
raising for target misbehaviour. No findings means pass. A check that cannot judge
this evidence raises Untestable with the reason. A check judges the endpoint's plain
stream (a Transcript) unless it names the scenarios it judges, by their objects; it then
gets each scenario's evidence in turn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from streamconform.core.finding import Finding, Untestable
from streamconform.core.transcript import Transcript
from streamconform.model.spec import Endpoint, Framing, Level
from streamconform.scenarios.registry import Scenario

__all__ = [
    "ALL_FRAMINGS",
    "EVENT_STREAMS",
    "REGISTRY",
    "Check",
    "Finding",
    "Untestable",
    "check",
    "from_notes",
    "not_applicable",
]

ALL_FRAMINGS = frozenset(Framing)
EVENT_STREAMS = frozenset({Framing.SSE, Framing.NDJSON})  # a text stream has no events
WHATWG_SSE = "https://html.spec.whatwg.org/multipage/server-sent-events.html"


def from_notes(t: Transcript, kind: str, expected: str) -> Iterator[Finding]:
    """One finding per decoder note of a kind: the note says what arrived and where."""
    for note in t.notes_of(kind):
        yield Finding(expected, note.detail, note.offset, note.event_index)


# the evidence type is the one its scenarios yield: a Transcript unless it names scenarios
CheckFunc = Callable[[Any, Endpoint], Iterable[Finding]]
Scenarios = Callable[[Endpoint], Sequence[Scenario]]


@dataclass(frozen=True, slots=True)
class Check:
    """A rule with its id, level, normative text and where it applies."""

    id: str
    suite: str
    level: Level
    title: str
    requirement: str
    reference: str
    framings: frozenset[Framing]
    func: CheckFunc
    applies: Callable[[Endpoint], str | None] | None = None
    needs_stream: bool = True
    level_for: Callable[[Endpoint], Level] | None = None
    scenarios: Scenarios | None = None
    any_endpoint: bool = False  # judged on endpoints that do not stream, too

    def level_at(self, endpoint: Endpoint) -> Level:
        """The check's level on an endpoint (a spec can soften some, e.g. open types)."""
        return self.level_for(endpoint) if self.level_for else self.level

    def run(self, evidence: object, endpoint: Endpoint) -> list[Finding]:
        return list(self.func(evidence, endpoint))


REGISTRY: dict[str, Check] = {}


def check(
    *,
    id: str,
    suite: str,
    level: Level,
    title: str,
    requirement: str,
    reference: str,
    framings: Iterable[Framing] = ALL_FRAMINGS,
    applies: Callable[[Endpoint], str | None] | None = None,
    needs_stream: bool = True,
    level_for: Callable[[Endpoint], Level] | None = None,
    scenarios: Scenarios | None = None,
    any_endpoint: bool = False,
) -> Callable[[CheckFunc], CheckFunc]:
    """Register a check function under a rule id; a duplicate id is an import-time error.

    `scenarios` names the scenarios the check judges, one by one, instead of the plain
    capture.
    """

    def register(func: CheckFunc) -> CheckFunc:
        if id in REGISTRY:
            raise ValueError(f"check id {id!r} registered twice")
        REGISTRY[id] = Check(
            id=id,
            suite=suite,
            level=level,
            title=title,
            requirement=" ".join(requirement.split()),
            reference=reference,
            framings=frozenset(framings),
            func=func,
            applies=applies,
            needs_stream=needs_stream,
            level_for=level_for,
            scenarios=scenarios,
            any_endpoint=any_endpoint,
        )
        return func

    return register


def not_applicable(chk: Check, endpoint: Endpoint) -> str | None:
    """Why a check does not apply to an endpoint by its spec, or None when it does."""
    if endpoint.framing is None:
        if not chk.any_endpoint:
            return "applies to streams; this endpoint does not stream"
    elif endpoint.framing not in chk.framings:
        kinds = ", ".join(sorted(f.value for f in chk.framings))
        return f"applies to {kinds} streams; this endpoint streams {endpoint.framing}"
    return chk.applies(endpoint) if chk.applies else None
