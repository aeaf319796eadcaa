"""Proof of detection: the suite against every fault of the catalogue and every benign
variant of the reference servers.

Each fault must be caught (a fail or a warn) by at least one of the checks named for it;
no benign variant may get a fail or a warn from any check of its suites. The verdicts
come from the real pipeline: an embedded server on loopback, broken in one way.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from streamconform.checks import REGISTRY
from streamconform.engine.mutation import FaultResult, Score, catalogue, try_faults
from streamconform.errors import SpecError

CATALOGUE = catalogue()
FAULTS = [f for f in CATALOGUE if not f.benign]
BENIGN = [f for f in CATALOGUE if f.benign]
SPECS = {"miniapp-studio", "prism-agents", "promptfloe", "workflow-stream"}


def test_the_catalogue_covers_every_api_and_suite_with_real_check_ids() -> None:
    assert len(FAULTS) >= 60
    assert len(BENIGN) >= 15
    assert len({f.name for f in CATALOGUE}) == len(CATALOGUE)
    assert {f.spec for f in FAULTS} == SPECS
    named = {check for f in FAULTS for check in f.caught_by}
    assert named <= set(REGISTRY), sorted(named - set(REGISTRY))
    suites = {REGISTRY[check].suite for check in named}
    assert suites >= {"framing", "ordering", "terminal", "bad-input", "reconnection", "auth"}
    assert "tokens" in suites
    for variant in BENIGN:
        assert variant.suites, variant.name
        assert set(variant.suites) <= {c.suite for c in REGISTRY.values()}, variant.name


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_each_fault_is_caught_by_a_check_named_for_it(spec: str) -> None:
    """A spec's faults, several at once (each with a server of its own); every miss is
    named with what the fault breaks and the checks that should have caught it."""
    chosen = [f for f in FAULTS if f.spec == spec]
    missed = [
        f"{fault.name} ({fault.breaks}) passed every one of {', '.join(fault.caught_by)}"
        for fault, result in zip(chosen, try_faults(chosen), strict=True)
        if not result.caught_by
    ]
    assert not missed, "\n".join(missed)


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_no_benign_variant_gets_a_fail_or_a_warn(spec: str) -> None:
    chosen = [f for f in BENIGN if f.spec == spec]
    # two at a time: variants like one-byte chunks load the machine more than any fault,
    # and a run starved of CPU for longer than a compressed bound proves nothing
    blamed = [
        f"{variant.name} ({variant.breaks}): {', '.join(result.false_alarms)}"
        for variant, result in zip(chosen, try_faults(chosen, parallel=2), strict=True)
        if result.false_alarms
    ]
    assert not blamed, "\n".join(blamed)


def test_faults_are_tried_in_order_and_a_bad_parallel_is_a_usage_error() -> None:
    chosen = [f for f in BENIGN if f.spec == "workflow-stream"][:2]
    names = [r.name for r in try_faults(chosen, parallel=2)]
    assert names == [f.name for f in chosen]
    with pytest.raises(SpecError, match="--parallel 0: give 1 or more"):
        list(try_faults(chosen, parallel=0))


def test_the_score_command_prints_and_writes_the_score(tmp_path: Path) -> None:
    out = tmp_path / "score.json"
    chosen = ["workflow-stream/token.racy", "workflow-stream/benign.one-byte-chunks"]
    args = ["faults", "--score", "--json", str(out)]
    for name in chosen:
        args += ["--select", name]
    result = subprocess.run(
        [sys.executable, "-m", "streamconform.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mutation score: 1/1 faults caught (100.0%), 0 false alarms in 1 benign" in result.stdout
    written = json.loads(out.read_text())
    assert (written["faults"], written["caught"], written["false_alarms"]) == (1, 1, 0)
    assert {r["name"] for r in written["results"]} == set(chosen)
    caught = next(r for r in written["results"] if r["kind"] == "fault")["caught_by"]
    assert caught == ["workflow-stream::run_stream::token.single-use.race"]


def test_a_score_with_a_miss_or_a_false_alarm_is_not_perfect() -> None:
    missed = FaultResult("a/fault", "a", False, "breaks", ("x.y",), (), (), 0.0)
    blamed = FaultResult("a/benign", "a", True, "varies", (), (), ("a::b::x.y",), 0.0)
    assert not Score((missed,)).perfect
    assert not Score((blamed,)).perfect
    assert Score((missed, blamed)).to_json()["score"] == 0.0


def test_the_catalogue_is_listed_and_a_server_refuses_an_unknown_fault(tmp_path: Path) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "streamconform.cli", "faults"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert len(lines) == len(CATALOGUE)
    assert any("token.single-use.race" in line for line in lines)
    spec = Path(__file__).resolve().parents[1] / "specs" / "workflow-stream.yaml"
    served = subprocess.run(
        [sys.executable, "-m", "streamconform.cli", "serve", str(spec), "--fault", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode == 2
    assert "not a fault of workflow-stream" in served.stderr
    assert "Traceback" not in served.stderr
