"""Compare two runs (summary.json files): a release candidate against the last release.

What newly fails (a regression: it did not fail before, or did not exist), every
internal error of the newer run (a regression too: its verdict cannot be trusted), what
got fixed, and how each endpoint's time to first event and total duration moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Comparison", "compare"]


@dataclass(frozen=True, slots=True)
class Comparison:
    newly_failing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # cases whose check raised in the new run
    fixed: list[str] = field(default_factory=list)
    # (spec, endpoint, metric, old seconds or None, new seconds or None)
    timing: list[tuple[str, str, str, float | None, float | None]] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return bool(self.newly_failing or self.errors)

    def lines(self) -> list[str]:
        out = [f"newly failing: {len(self.newly_failing)}"]
        out += [f"  FAIL   {case}" for case in self.newly_failing]
        out.append(f"internal errors: {len(self.errors)}")
        out += [f"  ERROR  {case}" for case in self.errors]
        out.append(f"fixed: {len(self.fixed)}")
        out += [f"  FIXED  {case}" for case in self.fixed]
        out.append("timing per endpoint (old -> new):")
        for spec, endpoint, metric, old, new in self.timing:
            out.append(
                f"  {spec}::{endpoint} {metric}: {_seconds(old)} -> {_seconds(new)}"
                f"{_change(old, new)}"
            )
        return out


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def _change(old: float | None, new: float | None) -> str:
    if old is None or new is None or old == 0:
        return ""
    return f" ({(new - old) / old:+.0%})"


def _outcomes(summary: dict[str, Any]) -> dict[str, str]:
    return {r["id"]: r["outcome"] for run in summary["runs"] for r in run["results"]}


def _timings(summary: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (run["spec"], endpoint): values
        for run in summary["runs"]
        for endpoint, values in run.get("timing", {}).items()
    }


def compare(old: dict[str, Any], new: dict[str, Any]) -> Comparison:
    before, after = _outcomes(old), _outcomes(new)
    newly = sorted(c for c, o in after.items() if o == "fail" and before.get(c) != "fail")
    errors = sorted(c for c, o in after.items() if o == "error")
    fixed = sorted(c for c, o in before.items() if o == "fail" and after.get(c) == "pass")
    was, now = _timings(old), _timings(new)
    timing = [
        (
            spec,
            endpoint,
            metric,
            was.get((spec, endpoint), {}).get(metric),
            now.get((spec, endpoint), {}).get(metric),
        )
        for spec, endpoint in sorted(set(was) | set(now))
        for metric in ("first_event", "duration")
    ]
    return Comparison(newly, errors, fixed, timing)
