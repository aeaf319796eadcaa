"""What a run decides about a case: its outcome, and the result reports carry."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Outcome", "Result", "case_id"]


class Outcome(StrEnum):
    """pass; fail (a MUST broken); warn (a SHOULD broken); skip (not applicable by the spec);
    untestable (applicable, but nothing could be judged); error (the check raised: a bug of
    streamconform's own, never the server's)."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"
    UNTESTABLE = "untestable"
    ERROR = "error"

    @property
    def gravity(self) -> int:
        """Its weight where several outcomes become one (a case judged on several captures,
        a cell of the report's matrix): skip < pass < warn < untestable < fail < error. An
        error is gravest: whatever else was judged, the verdict cannot be trusted."""
        return _GRAVITY.index(self)


_GRAVITY = (
    Outcome.SKIP,
    Outcome.PASS,
    Outcome.WARN,
    Outcome.UNTESTABLE,
    Outcome.FAIL,
    Outcome.ERROR,
)


@dataclass(frozen=True, slots=True)
class Result:
    """The verdict of one check on one endpoint of one spec against one target."""

    id: str
    check: str
    suite: str
    spec: str
    endpoint: str
    target: str
    level: str
    outcome: Outcome
    message: str
    requirement: str
    # the endpoint's plain stream: seconds to the first event and in all (for comparisons)
    timing: dict[str, Any] | None = None
    # the spec's assumptions the only findings rest on (the document says none of it)
    assumptions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["assumptions"] = list(self.assumptions)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        assumptions = tuple(data.get("assumptions", ()))
        return cls(**{**data, "outcome": Outcome(data["outcome"]), "assumptions": assumptions})


def case_id(spec: str, endpoint: str, check: str) -> str:
    """The stable id of a case: spec, endpoint and rule, never a position."""
    return f"{spec}::{endpoint}::{check}"
