"""Expected failures: gate on "no new failures" while a server does not pass yet.

A baseline file names failing cases (ids or globs), each with a reason. A failure no
entry names fails the run; so does an entry whose cases ran and none failed (stale):
the baseline can only shrink. An entry that names no case of the run is listed, not
failed: it may be a typo, or name a spec this job does not run (one baseline can serve
several jobs). An error (a check that raised) is streamconform's, not the server's: no
entry covers it, and none is written for it.

    version: 1
    expected_failures:
      - id: "prism-agents::events::sse.retry.digits-only"
        reason: the server sends retry: 1s; fixed in 2.4
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import yaml

from streamconform.core.outcome import Outcome, Result
from streamconform.model.load import load_yaml, validate_tree

__all__ = ["Baseline", "Entry", "Gate", "load_baseline", "render_baseline"]

_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["expected_failures"],
    "properties": {
        "version": {"const": 1},
        "expected_failures": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "reason"],
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "reason": {"type": "string", "minLength": 1},
                },
            },
        },
    },
}
# a skip, untestable or error case says nothing of the server
_JUDGED = (Outcome.PASS, Outcome.WARN, Outcome.FAIL)


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    reason: str
    where: str

    def names(self, case_id: str) -> bool:
        return case_id == self.id or fnmatchcase(case_id, self.id)


@dataclass(frozen=True, slots=True)
class Gate:
    """What a baseline says of a run's results."""

    new_failures: list[Result] = field(default_factory=list)
    expected: list[tuple[Result, Entry]] = field(default_factory=list)
    stale: list[Entry] = field(default_factory=list)
    # entries that name no case of the run: a typo, a renamed check, or a spec not run
    unmatched: list[Entry] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.new_failures and not self.stale


@dataclass(frozen=True, slots=True)
class Baseline:
    path: str
    entries: tuple[Entry, ...]

    def covering(self, case_id: str) -> Entry | None:
        return next((e for e in self.entries if e.names(case_id)), None)

    def judge(self, results: Sequence[Result]) -> Gate:
        gate = Gate()
        for result in results:
            if result.outcome is Outcome.FAIL:
                entry = self.covering(result.id)
                if entry is None:
                    gate.new_failures.append(result)
                else:
                    gate.expected.append((result, entry))
        for entry in self.entries:
            named = [r for r in results if entry.names(r.id)]
            judged = [r for r in named if r.outcome in _JUDGED]
            if judged and all(r.outcome is not Outcome.FAIL for r in judged):
                gate.stale.append(entry)
            if not named:
                gate.unmatched.append(entry)
        return gate


def load_baseline(path: str | Path) -> Baseline:
    """Read and validate a baseline file (a SpecError with file and line when malformed)."""
    path = Path(path)
    raw, lines = load_yaml(path)
    validate_tree(raw, _SCHEMA, path, lines)
    entries = tuple(
        Entry(item["id"], item["reason"], f"{path}:{lines.get(('expected_failures', i), '?')}")
        for i, item in enumerate(raw["expected_failures"])
    )
    return Baseline(str(path), entries)


def render_baseline(results: Iterable[Result], reason: str = "") -> str:
    """A baseline naming every failing case of a run, each with a reason to fill in."""
    today = datetime.date.today().isoformat()
    failing = sorted({r.id for r in results if r.outcome is Outcome.FAIL})
    note = reason or f"failing when the baseline was written ({today}); say why"
    document = {
        "version": 1,
        "expected_failures": [{"id": case, "reason": note} for case in failing],
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
