"""Which cases a run keeps: `--select` and `--deselect`, by id prefix, glob, suite or endpoint.

A selector is `suite:NAME`, `endpoint:NAME` (in any spec), a glob (`*`, `?`, `[...]`)
matched against the case id and the check id, or else a prefix of either. A case is kept
when some `--select` matches it (or none is given) and no `--deselect` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

__all__ = ["Selection", "matches"]

_GLOB = frozenset("*?[")


def matches(selector: str, case_id: str, check_id: str, suite: str) -> bool:
    """Whether one selector names a case (spec::endpoint::check, its check id and suite)."""
    kind, sep, name = selector.partition(":")
    if sep and kind == "suite" and not name.startswith(":"):
        return suite == name
    if sep and kind == "endpoint" and not name.startswith(":"):
        return case_id.split("::")[1:2] == [name]
    if _GLOB & set(selector):
        return fnmatchcase(case_id, selector) or fnmatchcase(check_id, selector)
    return case_id.startswith(selector) or check_id.startswith(selector)


@dataclass(frozen=True, slots=True)
class Selection:
    select: Sequence[str] = ()
    deselect: Sequence[str] = ()

    def keeps(self, case_id: str, check_id: str, suite: str) -> bool:
        chosen = not self.select or any(matches(s, case_id, check_id, suite) for s in self.select)
        return chosen and not any(matches(s, case_id, check_id, suite) for s in self.deselect)

    def describe(self) -> str:
        parts = [f"--select {s}" for s in self.select]
        parts += [f"--deselect {s}" for s in self.deselect]
        return " ".join(parts) or "(everything)"
