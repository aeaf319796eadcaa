"""Target profiles: variables and endpoint overrides where a target departs from a spec's
assumptions, shown against a real server that starts Prism runs somewhere else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from streamconform.core.outcome import Outcome
from streamconform.engine.run import ConformanceRun, RunConfig
from streamconform.errors import SpecError
from streamconform.model import load_spec, resolve_variables
from streamconform.servers import BackgroundServer, reference_app_for

ROOT = Path(__file__).resolve().parents[1]
PRISM = ROOT / "specs" / "prism-agents.yaml"
KEYS = {"api_key": "prism-ref-key-full-scope", "unscoped_api_key": "prism-ref-key-no-read-scope"}


class StartsRunsElsewhere:
    """The reference Prism server, but runs start at POST /agents/{id}/start."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if path.endswith("/runs"):
            path = "/not-here"
        elif path.startswith("/agents/") and path.endswith("/start"):
            path = "/v1/deployments/" + path.split("/")[2] + "/runs"
        await self.app({**scope, "path": path, "raw_path": path.encode()}, receive, send)


@pytest.fixture(scope="module")
def elsewhere() -> BackgroundServer:
    spec = load_spec(PRISM)
    variables = resolve_variables(spec, overrides={}, profile={}, environ={})
    app = StartsRunsElsewhere(reference_app_for(spec, variables, spec.reference.time_scale))
    with BackgroundServer(app) as server:
        yield server


def outcomes(profile: Path | None, target: str) -> dict[str, Outcome]:
    run = ConformanceRun(
        RunConfig(specs=[PRISM], target=target, profile=profile, variables=KEYS, time_scale=0.004),
        environ={},
    )
    try:
        return {r.check: r.outcome for r in run.judge_all(run.cases("framing"))}
    finally:
        run.close()


def test_the_spec_assumption_fails_on_a_target_that_differs(elsewhere: BackgroundServer) -> None:
    result = outcomes(None, elsewhere.url)
    assert result["http.status.success"] is Outcome.FAIL  # the trigger flow got a 404


def test_an_endpoint_override_in_the_profile_fits_the_target(
    elsewhere: BackgroundServer, tmp_path: Path
) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text(
        "specs:\n"
        "  prism-agents:\n"
        "    endpoints:\n"
        "      start_run: {path: '/agents/{deployment_id}/start', success: [201]}\n"
    )
    result = outcomes(profile, elsewhere.url)
    assert set(result.values()) == {Outcome.PASS}, result


@pytest.mark.parametrize(
    ("override", "message"),
    [
        pytest.param(
            "nope: {path: /x}", "prism-agents has no endpoint 'nope'", id="unknown-endpoint"
        ),
        pytest.param(
            "start_run: {path: '/x/{who}'}", "path parameter {who}", id="unknown-path-param"
        ),
        pytest.param(
            "start_run: {body: {input: '${who}'}}", "${who} is not a variable", id="unknown-var"
        ),
        pytest.param("start_run: {verb: GET}", "unknown key", id="unknown-field"),
    ],
)
def test_a_bad_override_names_the_profile_and_endpoint(
    tmp_path: Path, override: str, message: str
) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text(f"specs:\n  prism-agents:\n    endpoints:\n      {override}\n")
    with pytest.raises(SpecError, match=r"profile\.yaml") as err:
        ConformanceRun(RunConfig(specs=[PRISM], profile=profile), environ={})
    assert message in str(err.value)


@pytest.fixture(scope="module")
def prism_target() -> BackgroundServer:
    spec = load_spec(PRISM)
    variables = resolve_variables(spec, overrides={}, profile={}, environ={})
    with BackgroundServer(reference_app_for(spec, variables, spec.reference.time_scale)) as server:
        yield server


def failure_outcome(profile: Path | None, target: str) -> tuple[Outcome, str]:
    run = ConformanceRun(
        RunConfig(
            specs=[PRISM],
            target=target,
            profile=profile,
            variables=KEYS,
            time_scale=0.004,
            select=["prism-agents::events::terminal.failure.reported"],
        ),
        environ={},
    )
    try:
        (case,) = run.cases()
        result = run.judge(case)
        return result.outcome, result.message
    finally:
        run.close()


def test_a_reference_only_failure_is_untestable_on_a_target(prism_target: BackgroundServer) -> None:
    outcome, message = failure_outcome(None, prism_target.url)
    assert outcome is Outcome.UNTESTABLE
    assert "reference server" in message


def test_a_profile_can_say_how_to_provoke_a_failure_on_its_target(
    prism_target: BackgroundServer, tmp_path: Path
) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text(
        "specs:\n"
        "  prism-agents:\n"
        "    endpoints:\n"
        "      events:\n"
        "        provoke:\n"
        "          failure:run_status.error: {variables: {run_input: '[[fail]] please'}}\n"
    )
    outcome, message = failure_outcome(profile, prism_target.url)
    assert outcome is Outcome.PASS, message


def test_a_profile_cannot_provoke_what_the_spec_does_not_document(tmp_path: Path) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text(
        "specs:\n  prism-agents:\n    endpoints:\n      events:\n"
        "        provoke: {'error:418': {omit_auth: true}}\n"
    )
    with pytest.raises(SpecError, match="'error:418' is not one of"):
        ConformanceRun(RunConfig(specs=[PRISM], profile=profile), environ={})


def test_credentials_in_a_target_url_never_reach_a_report(prism_target: BackgroundServer) -> None:
    url = prism_target.url.replace("http://", "http://scott:tiger-secret@")
    run = ConformanceRun(
        RunConfig(
            specs=[PRISM],
            target=url,
            variables=KEYS,
            time_scale=0.004,
            select=["prism-agents::events::http.status.success"],
        ),
        environ={},
    )
    try:
        (case,) = run.cases()
        result = run.judge(case)
    finally:
        run.close()
    assert result.target == prism_target.url.replace("http://", "http://[REDACTED]@")
    assert "tiger-secret" not in json.dumps(result.to_json())


WORKFLOW = ROOT / "specs" / "workflow-stream.yaml"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        pytest.param("nope: {expiry: 30}", "has no auth scheme 'nope'", id="unknown-scheme"),
        pytest.param(
            "api_key: {expiry: 30}", "expiry applies to issued tokens", id="expiry-of-a-key"
        ),
        pytest.param("stream_token: {expiry: 0}", "less than or equal", id="expiry-not-positive"),
        pytest.param("stream_token: {lifetime: 30}", "unknown key", id="unknown-field"),
    ],
)
def test_a_bad_auth_override_is_a_spec_error(tmp_path: Path, override: str, message: str) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text(f"specs:\n  workflow-stream:\n    auth:\n      {override}\n")
    with pytest.raises(SpecError, match=r"profile\.yaml") as err:
        ConformanceRun(RunConfig(specs=[WORKFLOW], profile=profile), environ={})
    assert message in str(err.value)


def test_a_profile_expiry_makes_the_assumed_lifetime_the_targets(tmp_path: Path) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text("specs:\n  workflow-stream:\n    auth:\n      stream_token: {expiry: 30}\n")
    run = ConformanceRun(RunConfig(specs=[WORKFLOW], profile=profile), environ={})
    stream = run.specs[0].endpoints["run_stream"]
    assert stream.credentials is not None
    assert stream.credentials.scheme.expiry == 30
    assert not stream.credentials.scheme.expiry_reference_only
