"""The whole suite against servers that are not ours.

Each of the four seed APIs has a second implementation in tests/independent/, written on
another stack (stdlib http.server, h11 over sockets, raw asyncio streams) and sharing no
code with the reference servers, making its own choices wherever the document is silent
(other error bodies, key formats, ids, real time). With its target profile, each passes:
no fail, no warn. Each carries planted bugs, one or more per family, and each is caught
by the check that names it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

from streamconform.checks.registry import REGISTRY
from streamconform.core.outcome import Outcome, Result
from streamconform.engine.run import ConformanceRun, RunConfig

ROOT = Path(__file__).resolve().parent.parent
SERVERS = {  # module in tests/independent -> the spec it implements
    "promptfloe": "promptfloe",
    "workflow_stream": "workflow-stream",
    "miniapp_studio": "miniapp-studio",
    "prism_agents": "prism-agents",
}

# (server, planted bug) -> (endpoint, the check that must fail)
CAUGHT_BY = {
    ("promptfloe", "framing"): ("build", "ndjson.line.terminated"),
    ("promptfloe", "ordering"): ("build", "order.grammar.viable"),
    ("promptfloe", "terminal"): ("build", "terminal.event.once"),
    ("promptfloe", "reconnection"): ("build", "resume.stitched.complete"),
    ("promptfloe", "auth"): ("build", "auth.key.wrong"),
    ("promptfloe", "input"): ("build", "input.invalid.refused"),
    ("workflow_stream", "framing"): ("run_stream", "encoding.utf8.valid"),
    ("workflow_stream", "buffered"): ("run_stream", "stream.delivery.incremental"),
    ("workflow_stream", "terminal"): ("run_stream", "http.error.documented"),
    ("workflow_stream", "tokens"): ("run_stream", "token.single-use.race"),
    ("workflow_stream", "auth"): ("run_stream", "auth.key.wrong"),
    ("workflow_stream", "input"): ("run_stream", "input.invalid.refused"),
    ("miniapp_studio", "framing"): ("prompt_stream", "sse.field.name-exact"),
    ("miniapp_studio", "ordering"): ("prompt_stream", "order.grammar.viable"),
    ("miniapp_studio", "terminal"): ("prompt_stream", "terminal.event.once"),
    ("miniapp_studio", "auth"): ("prompt_stream", "auth.key.wrong"),
    ("miniapp_studio", "input"): ("prompt_stream", "input.invalid.refused"),
    ("prism_agents", "framing"): ("events", "sse.data.json"),
    ("prism_agents", "ordering"): ("events", "event.id.unique"),
    ("prism_agents", "filter"): ("events", "filter.only-matching"),
    ("prism_agents", "terminal"): ("events", "terminal.event.once"),
    ("prism_agents", "reconnection"): ("events", "resume.stitched.complete"),
    ("prism_agents", "reconnection-log"): ("events", "resume.stitched.complete"),
    ("prism_agents", "auth"): ("events", "auth.key.wrong"),
    ("prism_agents", "input"): ("start_run", "input.invalid.refused"),
}
BLIND = {
    ("prism_agents", "reconnection-log"): (
        "the replay skips the deployment log's next event, which belongs to another run "
        "than the one the resume scenarios follow: they compare that run's events only"
    ),
}


def server(name: str) -> ModuleType:
    return importlib.import_module(f"tests.independent.{name}")


def run_against(name: str, bug: str | None, select: tuple[str, ...] = ()) -> list[Result]:
    with server(name).serve(bug=bug) as url:
        run = ConformanceRun(
            RunConfig(
                specs=[ROOT / "specs" / f"{SERVERS[name]}.yaml"],
                target=url,
                profile=ROOT / "tests" / "independent" / f"{name}.profile.yaml",
                select=select,
            ),
            environ={},
        )
        try:
            return run.judge_all(run.cases())
        finally:
            run.close()


def test_every_planted_bug_has_its_catching_check() -> None:
    planted = {(name, bug) for name in SERVERS for bug in server(name).BUGS}
    assert planted == set(CAUGHT_BY)
    assert {check for _, check in CAUGHT_BY.values()} <= set(REGISTRY)


@pytest.mark.parametrize("name", SERVERS)
def test_a_correct_independent_server_gets_no_fail_and_no_warn(name: str) -> None:
    results = run_against(name, None)
    judged = [r for r in results if r.outcome in (Outcome.PASS, Outcome.UNTESTABLE)]
    wrong = [
        f"{r.id}: {r.outcome.value}: {r.message.splitlines()[0]}"
        for r in results
        if r.outcome in (Outcome.FAIL, Outcome.WARN, Outcome.ERROR)
    ]
    assert not wrong, "\n".join(wrong)
    passed = sum(r.outcome is Outcome.PASS for r in results)
    assert passed >= 0.9 * len(judged), "most applicable checks were not judged"


@pytest.mark.parametrize(
    ("name", "bug"),
    [
        pytest.param(*key, marks=pytest.mark.xfail(strict=True, reason=BLIND[key]))
        if key in BLIND
        else key
        for key in sorted(CAUGHT_BY)
    ],
)
def test_a_planted_bug_is_caught_by_its_check(name: str, bug: str) -> None:
    endpoint, check = CAUGHT_BY[name, bug]
    results = run_against(name, bug, select=(f"suite:{REGISTRY[check].suite}",))
    outcome = {(r.endpoint, r.check): r for r in results}[endpoint, check]
    assert outcome.outcome is Outcome.FAIL, outcome.message
    errors = [r.id for r in results if r.outcome is Outcome.ERROR]
    assert not errors, errors
