"""Where a verdict comes from: a finding that rests only on what a spec assumed warns, tagged
with the assumption, and fails only under --strict or a profile's `strict`; a target
profile can restate what was assumed, and then it is the target's contract."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from evidence_builders import line, recorded
from one_endpoint import spec_of

from streamconform.capture.requests import new_client
from streamconform.checks.registry import REGISTRY
from streamconform.core.outcome import Outcome, Result
from streamconform.core.redact import Redactor
from streamconform.engine.verdict import judge
from streamconform.errors import SpecError
from streamconform.model import load_spec
from streamconform.model.profile import load_profile
from streamconform.model.spec import (
    Assumption,
    Endpoint,
    ErrorCase,
    EventsSpec,
    EventType,
    Framing,
    Spec,
)
from streamconform.model.variables import resolve_variables

SCHEMA = {
    "type": "object",
    "required": ["type", "n", "text"],
    "properties": {"n": {"type": "integer"}, "text": {"type": "string"}},
}
TICK_N = Assumption(
    "tick-n", "the document names n but not its type", covers=("endpoints.e.events.types.tick.n",)
)
ENDPOINT = Endpoint(
    "e",
    "GET",
    "/e",
    framing=Framing.NDJSON,
    content_types=("application/x-ndjson",),
    events=EventsSpec(type_from="json-field", types={"tick": EventType("tick", SCHEMA)}),
    errors=(ErrorCase(401, "no key"),),
)


def spec_assuming(*assumptions: Assumption, restated: frozenset[str] = frozenset()) -> Spec:
    return replace(spec_of(ENDPOINT), assumptions=assumptions, restated=restated)


def grade(spec: Spec, *events: dict[str, object], strict: bool = False) -> Result:
    stream = recorded(ENDPOINT, [line(e) for e in events])
    return judge(
        REGISTRY["schema.event.valid"],
        spec,
        ENDPOINT,
        stream,
        target="unit",
        strict=strict,
        redactor=Redactor(),
        strict_assumptions=strict,
    )


def test_a_finding_on_an_assumed_field_warns_and_names_the_assumption() -> None:
    result = grade(spec_assuming(TICK_N), {"type": "tick", "n": "5", "text": "a"})
    assert result.outcome is Outcome.WARN
    assert result.assumptions == ("tick-n",)
    first = result.message.splitlines()[0]
    assert first == (
        "schema.event.valid (MUST, on the spec's assumption tick-n): Every event matches its schema"
    )
    assert "--strict makes it fail" in result.message
    assert result.to_json()["assumptions"] == ["tick-n"]


def test_strict_makes_an_assumed_finding_fail() -> None:
    result = grade(spec_assuming(TICK_N), {"type": "tick", "n": "5", "text": "a"}, strict=True)
    assert result.outcome is Outcome.FAIL
    assert result.assumptions == ("tick-n",)


def test_a_documented_field_still_fails_beside_an_assumed_one() -> None:
    # n is assumed, text is the document's: the text finding fails the case, and comes first
    result = grade(spec_assuming(TICK_N), {"type": "tick", "n": "5"}, {"type": "tick", "n": 1})
    assert result.outcome is Outcome.FAIL
    assert result.assumptions == ()
    assert "'text' is a required property" in result.message.split("Also:")[0]


def test_without_an_assumption_the_same_finding_fails() -> None:
    result = grade(spec_assuming(), {"type": "tick", "n": "5", "text": "a"})
    assert result.outcome is Outcome.FAIL


def test_a_restated_element_is_the_targets_contract_and_fails() -> None:
    spec = spec_assuming(TICK_N, restated=frozenset({"endpoints.e.events.types.tick"}))
    assert grade(spec, {"type": "tick", "n": "5", "text": "a"}).outcome is Outcome.FAIL


def test_a_waived_assumption_drops_its_findings_and_keeps_the_documents() -> None:
    spec = replace(spec_assuming(TICK_N), waived=frozenset({"tick-n"}))
    waived = grade(spec, {"type": "tick", "n": "5", "text": "a"})
    assert waived.outcome is Outcome.SKIP
    assert waived.assumptions == ("tick-n",)
    assert "does not follow the spec's assumption tick-n" in waived.message
    # text is the document's: waiving n does not excuse it, even under strict
    documented = grade(spec, {"type": "tick", "n": "5"}, strict=True)
    assert documented.outcome is Outcome.FAIL
    assert "'5' is not of type 'integer'" not in documented.message
    assert grade(spec, {"type": "tick", "n": 5, "text": "a"}).outcome is Outcome.PASS


def test_a_profile_waives_only_assumptions_the_spec_has(tmp_path: Path) -> None:
    spec = load_spec("specs/prism-agents.yaml")
    (tmp_path / "p.yaml").write_text(
        "specs:\n  prism-agents:\n    waive: [unknown-last-event-id]\n"
    )
    assert load_profile(tmp_path / "p.yaml").apply(spec).waived == {"unknown-last-event-id"}
    (tmp_path / "p.yaml").write_text("specs:\n  prism-agents:\n    waive: [error-bodies]\n")
    with pytest.raises(SpecError, match="'error-bodies' is not an assumption of prism-agents"):
        load_profile(tmp_path / "p.yaml").apply(spec)


def test_an_assumption_covers_by_prefix_and_by_wildcard() -> None:
    every = Assumption("a", "t", covers=("endpoints.*.error_schema", "endpoints.e.timing"))
    assert every.covers_element("endpoints.x.error_schema")
    assert every.covers_element("endpoints.e.timing.idle_timeout")
    assert not every.covers_element("endpoints.e.errors.401")
    assert not every.covers_element("endpoints.e.error_schemas")


def test_an_assumption_that_names_no_endpoint_is_a_spec_error(tmp_path: Path) -> None:
    text = Path("specs/workflow-stream.yaml").read_text()
    broken = text.replace("covers: [endpoints.token]", "covers: [endpoints.tokens]")
    assert broken != text
    (tmp_path / "w.yaml").write_text(broken)
    with pytest.raises(SpecError, match="no endpoint 'tokens' in this spec"):
        load_spec(tmp_path / "w.yaml")


PROFILE = """\
strict: false
limits: {event_bytes: 4194304}
specs:
  workflow-stream:
    strict: true
    endpoints:
      run_stream:
        error_schema: {type: object, required: [error], properties: {error: {type: object}}}
        body_schema: {type: object}
        timing: {idle_timeout: 200}
        limits: {body_bytes: 1000}
      token:
        response_schema: {type: object, required: [token]}
  prism-agents:
    endpoints:
      events:
        errors: {"401": {error: not_authorised}}
        events:
          ids: {ordered: true}
          types:
            filesystem: {schema: {type: object}}
"""


def test_a_profile_restates_what_a_spec_assumed(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PROFILE)
    profile = load_profile(tmp_path / "p.yaml")
    workflow = profile.apply(load_spec("specs/workflow-stream.yaml"))
    stream = workflow.endpoints["run_stream"]
    assert stream.error_schema is not None and stream.error_schema["required"] == ["error"]
    assert stream.timing.idle_timeout == 200 and stream.timing.max_duration == 300
    assert (stream.sizes.event_bytes, stream.sizes.body_bytes) == (4194304, 1000)
    assert workflow.assumption_behind("run_stream", "error_schema") is None
    assert workflow.assumption_behind("run_stream", "timing.idle_timeout") is None
    behind = workflow.assumption_behind("run_stream", "timing.close_after_terminal")
    assert behind is not None and behind.id == "timing-bounds"
    assert profile.for_spec("workflow-stream").strict is True
    assert profile.for_spec("prism-agents").strict is False
    prism = profile.apply(load_spec("specs/prism-agents.yaml"))
    events = prism.endpoints["events"]
    assert [e.error for e in events.errors if e.status == 401] == ["not_authorised"]
    assert events.events is not None and events.events.ids.ordered and events.events.ids.required
    assert events.events.types["filesystem"].schema == {"type": "object"}
    assert prism.assumption_behind("events", "events.types.filesystem") is None
    assert prism.assumption_behind("events", "errors.401.error") is None
    still = prism.assumption_behind("events", "errors.403.error")
    assert still is not None and still.id == "error-body"


@pytest.mark.parametrize(
    ("endpoint", "change", "message"),
    [
        ("events", "errors: {'418': {error: x}}", "documents no error 418"),
        ("events", "events: {grammar: 'token+'}", "has no place in the grammar"),
        ("events", "events: {types: {other: {schema: {}}}}", "need a grammar that places"),
        ("events", "error_schema: {type: 12}", "invalid JSON Schema"),
        ("start_run", "events: {ids: {ordered: true}}", "declares no events to restate"),
        ("events", "timing: {idle_timeout: -1}", "idle_timeout"),
    ],
)
def test_a_bad_restatement_is_one_line(
    tmp_path: Path, endpoint: str, change: str, message: str
) -> None:
    (tmp_path / "p.yaml").write_text(
        f"specs:\n  prism-agents:\n    endpoints:\n      {endpoint}: {{{change}}}\n"
    )
    with pytest.raises(SpecError, match=message) as raised:
        load_profile(tmp_path / "p.yaml").apply(load_spec("specs/prism-agents.yaml"))
    assert "\n" not in str(raised.value)


def test_a_variable_declared_absent_gets_no_value_and_no_error() -> None:
    spec = load_spec("specs/workflow-stream.yaml")
    values = resolve_variables(
        spec,
        overrides={},
        profile={"api_key": "k", "no_credit_api_key": None},
        environ={},
        secret_defaults=False,
    )
    assert "no_credit_api_key" not in values
    with pytest.raises(SpecError, match="'no_credit_api_key: null' in the profile's vars"):
        resolve_variables(
            spec, overrides={}, profile={"api_key": "k"}, environ={}, secret_defaults=False
        )


def test_the_http_client_sets_no_read_timeout_under_the_specs_own_bounds() -> None:
    """Every wait after the connect is bounded by the endpoint's response, idle and
    duration bounds; a constant read timeout below them (30 s) would cut a stream whose
    documented silence is longer."""
    client = new_client()
    assert client.timeout.read is None and client.timeout.connect is not None


def test_the_readme_profile_example_loads_and_restates(tmp_path: Path) -> None:
    """Every profile key the README documents is in its example, and the example holds."""
    readme = Path("README.md").read_text()
    section = readme.split("### Target profiles", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "profile.yaml").write_text(example)
    profile = load_profile(tmp_path / "profile.yaml")
    prism = profile.apply(load_spec("specs/prism-agents.yaml"))
    assert prism.assumption_behind("events", "error_schema") is None
    events = prism.endpoints["events"]
    assert events.timing.idle_timeout == 60 and events.sizes.event_bytes == 8388608
    assert prism.endpoints["start_run"].path == "/agents/{deployment_id}/start"
    workflow = profile.apply(load_spec("specs/workflow-stream.yaml"))
    assert workflow.auth["stream_token"].expiry == 20
    assert workflow.endpoints["run_stream"].variant("overrun") is not None
    for key in ("strict", "limits", "vars", "auth", "provoke", "error_schema", "events"):
        assert f"{key}:" in example
