"""A pytest plugin that breaks one check, for tests of a run in which a check raises.

`streamconform run ... -- -p crashing_check`, with this folder on PYTHONPATH (`crashing`
gives both), makes sse.data.json raise, quoting the data it choked on: where the echo
server of test_cli puts the key it was sent. Importing the module breaks nothing; the
run that loads it as a plugin does, at its start.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path

import pytest

from streamconform.checks import REGISTRY, Finding
from streamconform.core.transcript import Transcript
from streamconform.model.spec import Endpoint

BROKEN = "sse.data.json"


def choke(t: Transcript, ep: Endpoint) -> Iterable[Finding]:
    raise ValueError(f"cannot read {t.events[0].data!r}")


def pytest_configure(config: pytest.Config) -> None:
    REGISTRY[BROKEN] = dataclasses.replace(REGISTRY[BROKEN], func=choke)


def crashing(monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    """The `streamconform run` arguments that load this plugin, with this folder put on
    the path of the processes the test starts."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent), prepend=os.pathsep)
    return ("--", "-p", "crashing_check")
