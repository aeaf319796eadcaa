"""Where the bundled specs and suites are: inside the installed package, or in a checkout."""

from __future__ import annotations

from pathlib import Path

from streamconform.errors import InternalError

__all__ = ["bundled_dir"]


def bundled_dir(name: str) -> Path:
    """`specs` or `suites`: packaged beside the code in a wheel, at the top of a source tree."""
    here = Path(__file__).resolve().parent
    for candidate in (here / name, here.parents[1] / name):
        if candidate.is_dir():
            return candidate
    raise InternalError(f"the bundled {name}/ folder is missing from this installation")
