"""The one registry of checks, filled by the `@check` decorator.

A check is a pure function `(transcript, endpoint) -> findings`: no I/O, no clock, no
raising for target misbehaviour. No findings means pass. A check that cannot judge
this transcript raises Untestable with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from streamconform.model.spec import Endpoint, Framing, Level
from streamconform.transcript import Transcript

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


@dataclass(frozen=True, slots=True)
class Finding:
    """One way the target broke a check: what was acceptable, what arrived, and where."""

    expected: str
    actual: str
    offset: int | None = None
    event_index: int | None = None


def from_notes(t: Transcript, kind: str, expected: str) -> Iterator[Finding]:
    """One finding per decoder note of a kind: the note says what arrived and where."""
    for note in t.notes_of(kind):
        yield Finding(expected, note.detail, note.offset, note.event_index)


class Untestable(Exception):
    """The transcript holds nothing this check can judge (reported, never passed)."""


CheckFunc = Callable[[Transcript, Endpoint], Iterable[Finding]]


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
    variants: Callable[[Endpoint], list[str]] | None = None

    def level_at(self, endpoint: Endpoint) -> Level:
        """The check's level on an endpoint (a spec can soften some, e.g. open types)."""
        return self.level_for(endpoint) if self.level_for else self.level

    def run(self, transcript: Transcript, endpoint: Endpoint) -> list[Finding]:
        return list(self.func(transcript, endpoint))


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
    variants: Callable[[Endpoint], list[str]] | None = None,
) -> Callable[[CheckFunc], CheckFunc]:
    """Register a check function under a rule id; a duplicate id is an import-time error.

    `variants` names extra captures of the endpoint (filters) the check judges, one by one,
    instead of the plain capture.
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
            variants=variants,
        )
        return func

    return register


def not_applicable(chk: Check, endpoint: Endpoint) -> str | None:
    """Why a check does not apply to an endpoint by its spec, or None when it does."""
    if endpoint.framing not in chk.framings:
        kinds = ", ".join(sorted(f.value for f in chk.framings))
        return f"applies to {kinds} streams; this endpoint streams {endpoint.framing}"
    return chk.applies(endpoint) if chk.applies else None
