"""Compressed time: a documented duration in a run's time scale, with a floor."""

from __future__ import annotations

__all__ = ["MIN_BOUND", "scaled"]

# Compressed time never shrinks a bound below this: a loaded two-core machine can stall
# any process for a second, and a bound that small would turn stalls into verdicts.
MIN_BOUND = 2.0


def scaled(seconds: float, scale: float, floor: float = MIN_BOUND) -> float:
    """A documented duration in the run's time scale, never below `floor`."""
    return max(seconds * scale, floor)
