"""summary.json: the stable, versioned interface other tools read.

{"version": 1,
 "runs": [{"spec", "target", "results": [{"id", "check", "suite", "endpoint", "level",
                                          "outcome", "message", "requirement",
                                          "assumptions"}],
           "timing": {endpoint: {"first_event", "duration", "gaps"}}}],
 "totals": {"pass", "fail", "warn", "skip", "untestable", "error"}}

Still version 1: "error" came later, and a reader takes a summary without it as one with
no error (nothing here reads the totals back); so did "assumptions" (the ids of the spec's
assumptions a warn rests on; empty where a finding is the document's), read as empty
where it is missing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from streamconform.core.outcome import Outcome, Result
from streamconform.errors import SpecError

__all__ = [
    "SUMMARY_VERSION",
    "build_summary",
    "load_summary",
    "results_in",
    "write_atomically",
    "write_summary",
]

SUMMARY_VERSION = 1
_RESULT_FIELDS = (
    "id",
    "check",
    "suite",
    "endpoint",
    "level",
    "outcome",
    "message",
    "requirement",
    "assumptions",
)


def build_summary(results: Iterable[Result]) -> dict[str, Any]:
    """Group results by (spec, target), in the order they ran, and count outcomes."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    timings: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    totals = {outcome.value: 0 for outcome in Outcome}
    for result in results:
        data = result.to_json()
        runs.setdefault((result.spec, result.target), []).append(
            {name: data[name] for name in _RESULT_FIELDS}
        )
        if result.timing:
            timings.setdefault((result.spec, result.target), {}).setdefault(
                result.endpoint, result.timing
            )
        totals[result.outcome.value] += 1
    return {
        "version": SUMMARY_VERSION,
        "runs": [
            {
                "spec": spec,
                "target": target,
                "results": items,
                "timing": timings.get((spec, target), {}),
            }
            for (spec, target), items in runs.items()
        ],
        "totals": totals,
    }


def write_atomically(report_dir: Path, name: str, text: str) -> Path:
    """Write report_dir/name through a temporary file, so a reader never sees half a file."""
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / name
    fd, tmp = tempfile.mkstemp(dir=report_dir, prefix=f".{name}-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path


def write_summary(summary: dict[str, Any], report_dir: Path) -> Path:
    """Write report_dir/summary.json (a build_summary result)."""
    text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    return write_atomically(report_dir, "summary.json", text)


def load_summary(path: str | Path) -> dict[str, Any]:
    """A summary.json read back (for baseline and compare); a SpecError when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file (streamconform run writes one)") from None
    except ValueError as err:
        raise SpecError(f"{path}: not JSON ({err})") from None
    if not isinstance(data, dict) or data.get("version") != SUMMARY_VERSION or "runs" not in data:
        raise SpecError(f"{path}: not a summary.json of version {SUMMARY_VERSION}")
    return data


def results_in(summary: dict[str, Any]) -> list[Result]:
    """The results a summary holds (KeyError, TypeError or ValueError where it is malformed)."""
    return [
        Result.from_json({**r, "spec": run["spec"], "target": run["target"]})
        for run in summary["runs"]
        for r in run["results"]
    ]
