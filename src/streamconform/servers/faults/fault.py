"""A fault: one way a reference server is broken (or, benign, merely varied)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp

from streamconform.model.spec import Spec
from streamconform.servers.common import Clock

Wrap = Callable[[ASGIApp, Spec, Mapping[str, Any], Clock], ASGIApp]


@dataclass(frozen=True, slots=True)
class Fault:
    """One way to break (or, benign, merely to vary) a spec's reference server.

    `caught_by`: the check ids of which at least one must fail or warn; empty for a
    benign variant, on which no check of `suites` may fail or warn.
    """

    name: str
    spec: str
    breaks: str
    caught_by: tuple[str, ...] = ()
    wrap: Wrap | None = None
    flags: frozenset[str] = frozenset()
    suites: tuple[str, ...] = ()
    transport: str = ""  # "http/1.0": served through a front that answers in HTTP/1.0

    @property
    def benign(self) -> bool:
        return not self.caught_by
