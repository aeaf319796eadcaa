"""What a check says about evidence: each way the target broke a rule, or why nothing
could be judged."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding", "Untestable"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One way the target broke a check: what was acceptable, what arrived, and where."""

    expected: str
    actual: str
    offset: int | None = None
    event_index: int | None = None


class Untestable(Exception):
    """The transcript holds nothing this check can judge (reported, never passed)."""
