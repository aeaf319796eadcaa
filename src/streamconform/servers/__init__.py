"""Embedded reference servers: one faithful implementation of each spec'd API."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.types import ASGIApp

from streamconform.errors import SpecError
from streamconform.model.spec import Spec
from streamconform.servers import miniapp_studio, prism_agents, promptfloe, workflow_stream
from streamconform.servers.common import Clock
from streamconform.servers.faults import Fault
from streamconform.servers.runner import LOOPBACK, BackgroundServer, serve_forever

__all__ = ["LOOPBACK", "SERVERS", "BackgroundServer", "reference_app_for", "serve_forever"]

AppFactory = Callable[[Spec, Mapping[str, Any], Clock], ASGIApp]

SERVERS: dict[str, AppFactory] = {
    "miniapp_studio": miniapp_studio.build_app,
    "promptfloe": promptfloe.build_app,
    "workflow_stream": workflow_stream.build_app,
    "prism_agents": prism_agents.build_app,
}


def reference_app_for(
    spec: Spec, variables: Mapping[str, Any], scale: float, fault: Fault | None = None
) -> ASGIApp:
    """The ASGI app of the spec's reference server, configured with the run's variables;
    broken (or varied) the way `fault` says, when one is given."""
    if spec.reference is None:
        raise SpecError(f"{spec.name}: the spec names no reference server; give --target")
    factory = SERVERS.get(spec.reference.server)
    if factory is None:
        raise SpecError(
            f"unknown reference server {spec.reference.server!r} "
            f"(known: {', '.join(sorted(SERVERS))})",
            location=spec.where("reference", "server"),
        )
    clock = Clock(scale)
    if fault is None:
        return factory(spec, variables, clock)
    if fault.flags:
        app = workflow_stream.build_app(spec, variables, clock, faults=fault.flags)
    else:
        app = factory(spec, variables, clock)
    return fault.wrap(app, spec, variables, clock) if fault.wrap else app
