"""The fault catalogue: each reference server broken on purpose in one way, with the checks
that must catch it, and benign variants (correct but unusual) that must pass untouched.

A fault wraps the correct server (servers.rewrite): a request rewritten on its way in,
a stream edited on its way out; the token faults of the workflow server are built in.
"""

from __future__ import annotations

from collections.abc import Mapping

from streamconform.model.spec import Spec
from streamconform.servers.faults.apis import miniapp, prism, promptfloe, workflow
from streamconform.servers.faults.benign import benign
from streamconform.servers.faults.fault import Fault

__all__ = ["Fault", "fault_named", "faults_for"]


def faults_for(specs: Mapping[str, Spec]) -> list[Fault]:
    """Every fault and benign variant of the specs that have a reference server here."""
    makers = {
        "miniapp-studio": miniapp,
        "prism-agents": prism,
        "promptfloe": promptfloe,
        "workflow-stream": workflow,
    }
    out = [f for name, make in makers.items() if name in specs for f in make(specs[name])]
    return out + [f for f in benign() if f.spec in specs]


def fault_named(specs: Mapping[str, Spec], name: str) -> Fault | None:
    """The fault (or benign variant) of these specs called `name`, if there is one."""
    return next((f for f in faults_for(specs) if f.name == name), None)
