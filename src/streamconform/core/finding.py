"""What a check says about evidence: each way the target broke a rule, or why nothing
could be judged."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding", "Untestable"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One way the target broke a check: what was acceptable, what arrived, and where.

    `basis` names the element of the endpoint's spec the finding rests on beyond the
    check's own rule (`error_schema`, `errors.401`, `events.types.delta`, `events.ids`,
    `timing.idle_timeout`): where the spec marks that element as an assumption, the
    finding is the assumption's, not the document's, and warns instead of failing.
    """

    expected: str
    actual: str
    offset: int | None = None
    event_index: int | None = None
    basis: str = ""


class Untestable(Exception):
    """The transcript holds nothing this check can judge (reported, never passed)."""
