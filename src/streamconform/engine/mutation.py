"""Proof of detection: run the suite against every fault of the catalogue and every benign
variant, and count what was caught and what was wrongly blamed.

A fault is caught when at least one of the checks named for it fails or warns; a benign
variant must leave every check of its suites without a fail or a warn.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamconform.core.outcome import Outcome
from streamconform.engine.run import ConformanceRun, RunConfig, spec_files
from streamconform.errors import SpecError
from streamconform.model import load_spec
from streamconform.servers.faults import Fault, faults_for

__all__ = [
    "DEFAULT_PARALLEL",
    "FaultResult",
    "Score",
    "catalogue",
    "score",
    "try_fault",
    "try_faults",
]

_BLAMED = (Outcome.FAIL, Outcome.WARN)
DEFAULT_PARALLEL = 4  # faults tried at once


@dataclass(frozen=True, slots=True)
class FaultResult:
    """What the suite said about one fault (or benign variant)."""

    name: str
    spec: str
    benign: bool
    breaks: str
    expected: tuple[str, ...]
    caught_by: tuple[str, ...]  # case ids of expected checks that failed or warned
    false_alarms: tuple[str, ...]  # benign: case ids that failed or warned
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.false_alarms if self.benign else bool(self.caught_by)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "spec": self.spec,
            "kind": "benign" if self.benign else "fault",
            "breaks": self.breaks,
            "expected": list(self.expected),
            "caught_by": list(self.caught_by),
            "false_alarms": list(self.false_alarms),
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True, slots=True)
class Score:
    results: tuple[FaultResult, ...]

    @property
    def faults(self) -> list[FaultResult]:
        return [r for r in self.results if not r.benign]

    @property
    def caught(self) -> int:
        return sum(1 for r in self.faults if r.ok)

    @property
    def false_alarms(self) -> int:
        return sum(1 for r in self.results if r.benign and not r.ok)

    @property
    def perfect(self) -> bool:
        return self.caught == len(self.faults) and self.false_alarms == 0

    def to_json(self) -> dict[str, Any]:
        total = len(self.faults)
        return {
            "version": 1,
            "faults": total,
            "caught": self.caught,
            "score": round(self.caught / total, 4) if total else 1.0,
            "benign": len(self.results) - total,
            "false_alarms": self.false_alarms,
            "results": [r.to_json() for r in self.results],
        }


def catalogue(specs: Sequence[str | Path] = ()) -> list[Fault]:
    """The faults and benign variants of the given (default: bundled) specs."""
    loaded = [load_spec(p) for p in spec_files(specs)]
    return faults_for({s.name: s for s in loaded})


@functools.cache
def _named(specs: tuple[str, ...]) -> tuple[tuple[str, Path], ...]:
    """Each spec file with its spec's name, read once per process for every fault tried."""
    return tuple((load_spec(path).name, path) for path in spec_files(specs))


def try_fault(fault: Fault, specs: Sequence[str | Path] = ()) -> FaultResult:
    """Run the checks that must catch the fault (all checks of a benign variant's suites)
    against the spec's reference server with the fault in."""
    started = time.monotonic()
    paths = [path for name, path in _named(tuple(map(str, specs))) if name == fault.spec]
    select = list(fault.caught_by)
    run = ConformanceRun(RunConfig(specs=paths, fault=fault.name, select=select))
    try:
        cases = [c for c in run.cases() if fault.caught_by or c.check.suite in fault.suites]
        results = run.judge_all(cases)
    finally:
        run.close()
    blamed = tuple(r.id for r in results if r.outcome in _BLAMED)
    return FaultResult(
        name=fault.name,
        spec=fault.spec,
        benign=fault.benign,
        breaks=fault.breaks,
        expected=fault.caught_by,
        caught_by=() if fault.benign else blamed,
        false_alarms=blamed if fault.benign else (),
        seconds=time.monotonic() - started,
    )


def try_faults(
    faults: Sequence[Fault], specs: Sequence[str | Path] = (), parallel: int = DEFAULT_PARALLEL
) -> Iterator[FaultResult]:
    """Each fault's result, in order, with up to `parallel` faults tried at once: each has
    a reference server and a run of its own, and most of a run is spent waiting out
    compressed-time bounds."""
    if parallel < 1:
        raise SpecError(f"--parallel {parallel}: give 1 or more")
    with ThreadPoolExecutor(parallel, thread_name_prefix="streamconform-fault") as pool:
        yield from pool.map(lambda fault: try_fault(fault, specs), faults)


def score(
    faults: Sequence[Fault], specs: Sequence[str | Path] = (), parallel: int = DEFAULT_PARALLEL
) -> Score:
    return Score(tuple(try_faults(faults, specs, parallel)))
