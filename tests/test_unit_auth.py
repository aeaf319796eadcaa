"""Unit tests of the auth checks (auth.key.*) over hand-built answers: no server.

Each key probe's answer is a Transcript as the exchange records it. The refusal checks
(missing, malformed, wrong) want 401, before any stream, with the documented JSON error
body (and the documented error code where the spec names one); the key in the query
string wants any 4xx. A stream opened with an issued token is judged where its key is
sent: the token endpoint.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from evidence_builders import (
    answer,
    bundled,
    endpoint_of,
    findings,
    grade,
    no_answer,
    opened_stream,
    said,
    scenario_names,
    sse,
    unprepared,
    untestable,
)

from streamconform.checks import REGISTRY
from streamconform.core.outcome import Outcome
from streamconform.core.transcript import End

MISSING, MALFORMED, WRONG = "auth.key.missing", "auth.key.malformed", "auth.key.wrong"
IN_QUERY = "auth.key.in-query"
REFUSALS = (MISSING, MALFORMED, WRONG)

PRISM = endpoint_of("prism-agents", "events")  # bearer key; 401 documented as "unauthorized"
MINIAPP = endpoint_of("miniapp-studio", "prompt_stream")  # x-api-key; error and message
WORKFLOW = endpoint_of("workflow-stream", "run_stream")  # an issued token: key on /token
TOKEN = endpoint_of("workflow-stream", "token")

UNAUTHORIZED = {"error": "unauthorized", "message": "invalid or missing API key"}

# what each probe's finding calls the request
WHY = {
    "key:missing": "with no API key",
    "key:empty": "with an empty API key",
    "key:garbled": "with a garbled API key",
    "key:look-alike": "with a look-alike key nobody issued",
    "key:truncated": "with the key less its last character",
    "key:extended": "with the key with one more character",
}
PROBES = [(chk, name) for chk in REFUSALS for name in scenario_names(chk, PRISM)]
PROBE_IDS = [f"{chk}:{name}" for chk, name in PROBES]


def test_each_refusal_check_judges_its_own_probes() -> None:
    """The scenarios named by each check: a missing key, a malformed one, a wrong one."""
    assert scenario_names(MISSING, PRISM) == ["key:missing"]
    assert scenario_names(MALFORMED, PRISM) == ["key:empty", "key:garbled"]
    assert scenario_names(WRONG, PRISM) == ["key:look-alike", "key:truncated", "key:extended"]
    assert scenario_names(IN_QUERY, PRISM) == ["key:in-query"]


# -- auth.key.missing, auth.key.malformed, auth.key.wrong: passes ---------------------------


@pytest.mark.parametrize(("chk", "name"), PROBES, ids=PROBE_IDS)
def test_documented_401_passes(chk: str, name: str) -> None:
    t = answer(PRISM, 401, UNAUTHORIZED, variant=name)
    assert findings(chk, t, PRISM) == []


@pytest.mark.parametrize(("chk", "name"), PROBES, ids=PROBE_IDS)
def test_unusual_but_correct_401_passes(chk: str, name: str) -> None:
    """A charset in the content type, a WWW-Authenticate challenge and fields the error
    schema does not name are all fine."""
    t = answer(
        PRISM,
        401,
        {**UNAUTHORIZED, "request_id": "req_81", "docs": "https://example.test/auth"},
        content_type="application/json; charset=utf-8",
        headers=[("www-authenticate", 'Bearer realm="api", error="invalid_token"')],
        variant=name,
    )
    assert findings(chk, t, PRISM) == []


@pytest.mark.parametrize("content_type", ["application/problem+json", "text/plain", None])
def test_401_json_body_in_any_non_stream_type_passes(content_type: str | None) -> None:
    t = answer(MINIAPP, 401, UNAUTHORIZED, content_type=content_type, variant="key:missing")
    assert findings(MISSING, t, MINIAPP) == []


def test_without_a_documented_error_code_any_error_string_passes() -> None:
    """miniapp documents no code for its 401: the schema (error and message) is enough."""
    t = answer(MINIAPP, 401, {"error": "bad_key", "message": "no"}, variant="key:garbled")
    assert findings(MALFORMED, t, MINIAPP) == []


@pytest.mark.parametrize("chk", REFUSALS)
def test_issued_token_stream_is_judged_on_the_token_endpoint(chk: str) -> None:
    """For the workflow stream the key goes to GET /api/v1/token: its refusal is judged,
    with the token endpoint's error schema."""
    name = scenario_names(chk, WORKFLOW)[0]
    good = answer(TOKEN, 401, {"error": "invalid_api_key"}, variant=name)
    assert findings(chk, good, WORKFLOW) == []
    bad = answer(TOKEN, 401, {"message": "no error field"}, variant=name)
    found = findings(chk, bad, WORKFLOW)
    assert len(found) == 1
    assert found[0].expected.startswith(f"status 401 (GET /api/v1/token {WHY[name]})")
    assert "'error' is a required property" in found[0].actual


# -- auth.key.missing, auth.key.malformed, auth.key.wrong: fails ----------------------------


@pytest.mark.parametrize(("chk", "name"), PROBES, ids=PROBE_IDS)
def test_stream_opened_for_a_bad_key_fails(chk: str, name: str) -> None:
    t = opened_stream(PRISM, sse("token", {"run_id": "r1", "delta": "hi"}), variant=name)
    (found,) = findings(chk, t, PRISM)
    path = "GET /v1/deployments/{deployment_id}/events"
    assert found.expected == (
        f"status 401 ({path} {WHY[name]}) with the documented JSON error body, before any stream"
    )
    assert found.actual.startswith("status 200, a stream: 'event: token")
    assert found.offset == 0


@pytest.mark.parametrize("chk", REFUSALS)
def test_token_endpoint_answering_a_bad_key_fails(chk: str) -> None:
    """The token endpoint is no stream: accepting the key is "the request was accepted"."""
    name = scenario_names(chk, WORKFLOW)[0]
    t = answer(TOKEN, 200, {"token": "st_123456"}, variant=name)
    (found,) = findings(chk, t, WORKFLOW)
    assert found.actual.startswith("status 200, the request was accepted: ")


@pytest.mark.parametrize("status", [400, 403, 404, 500])
@pytest.mark.parametrize("chk", REFUSALS)
def test_another_error_status_fails(chk: str, status: int) -> None:
    name = scenario_names(chk, PRISM)[-1]
    t = answer(PRISM, status, {"error": "unauthorized"}, variant=name)
    (found,) = findings(chk, t, PRISM)
    assert found.actual.startswith(f"status {status}, an error: ")


@pytest.mark.parametrize("chk", REFUSALS)
def test_no_response_fails(chk: str) -> None:
    name = scenario_names(chk, PRISM)[0]
    (found,) = findings(chk, no_answer(PRISM, variant=name), PRISM)
    assert found.actual == "no response (response-timeout): no complete answer within 30.0 s"


@pytest.mark.parametrize("chk", REFUSALS)
def test_broken_connection_fails(chk: str) -> None:
    name = scenario_names(chk, PRISM)[0]
    t = no_answer(PRISM, end=End.READ_ERROR, detail="connection reset", variant=name)
    (found,) = findings(chk, t, PRISM)
    assert found.actual == "no response (read-error): connection reset"


@pytest.mark.parametrize(
    "content_type",
    ["text/event-stream", "Text/Event-Stream; charset=utf-8", "application/x-ndjson"],
)
@pytest.mark.parametrize("chk", REFUSALS)
def test_401_in_a_stream_media_type_fails(chk: str, content_type: str) -> None:
    name = scenario_names(chk, PRISM)[0]
    t = answer(PRISM, 401, UNAUTHORIZED, content_type=content_type, variant=name)
    (found,) = findings(chk, t, PRISM)
    bare = content_type.split(";")[0].lower()
    assert found.actual == f"an error status with a stream content type {bare}"


@pytest.mark.parametrize("chk", REFUSALS)
def test_401_with_a_body_that_is_not_json_fails(chk: str) -> None:
    name = scenario_names(chk, MINIAPP)[0]
    t = answer(MINIAPP, 401, b"Unauthorized", content_type="text/plain", variant=name)
    (found,) = findings(chk, t, MINIAPP)
    assert found.actual == "a body that is not JSON: 'Unauthorized'"


@pytest.mark.parametrize("chk", REFUSALS)
def test_401_with_an_empty_body_fails(chk: str) -> None:
    name = scenario_names(chk, MINIAPP)[0]
    t = answer(MINIAPP, 401, b"", content_type=None, variant=name)
    (found,) = findings(chk, t, MINIAPP)
    assert found.actual == "a body that is not JSON: ''"


@pytest.mark.parametrize(
    ("body", "broken"),
    [
        ({"error": "unauthorized"}, "'message' is a required property"),
        ({"error": 401, "message": "no"}, "$.error: 401 is not of type 'string'"),
        (["unauthorized"], "is not of type 'object'"),
    ],
    ids=["field-missing", "field-of-another-type", "not-an-object"],
)
@pytest.mark.parametrize("chk", REFUSALS)
def test_401_body_against_the_error_schema_fails(chk: str, body: object, broken: str) -> None:
    name = scenario_names(chk, MINIAPP)[0]
    t = answer(MINIAPP, 401, body, variant=name)
    (found,) = findings(chk, t, MINIAPP)
    assert broken in found.actual
    assert found.expected.endswith("with the documented JSON error body, before any stream")


@pytest.mark.parametrize("chk", REFUSALS)
def test_401_with_another_error_code_than_documented_fails(chk: str) -> None:
    """prism documents its 401 as error "unauthorized"."""
    name = scenario_names(chk, PRISM)[0]
    t = answer(PRISM, 401, {"error": "invalid_key"}, variant=name)
    (found,) = findings(chk, t, PRISM)
    assert (found.expected, found.actual) == ("error code 'unauthorized'", "error 'invalid_key'")


# -- auth.key.missing, auth.key.malformed, auth.key.wrong: untestable and skip ----------------


@pytest.mark.parametrize("chk", REFUSALS)
def test_setup_failed_is_untestable(chk: str) -> None:
    name = scenario_names(chk, PRISM)[0]
    t = unprepared(PRISM, name, "flow start_run: status 500")
    assert untestable(chk, t, PRISM) == (
        "the request could not be prepared: flow start_run: status 500"
    )


@pytest.mark.parametrize("chk", (*REFUSALS, IN_QUERY))
def test_an_endpoint_taking_no_key_is_skipped(chk: str) -> None:
    keyless = replace(PRISM, credentials=None)
    result = grade(chk, bundled("prism-agents"), keyless, None)
    assert result.outcome is Outcome.SKIP
    assert result.message == "the endpoint takes no API key"


# -- auth.key.in-query -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_key_in_query_refused_with_any_4xx_passes(status: int) -> None:
    t = answer(PRISM, status, b"nope", content_type="text/plain", variant="key:in-query")
    assert findings(IN_QUERY, t, PRISM) == []


def test_key_in_query_taken_from_the_url_fails() -> None:
    t = opened_stream(PRISM, b": hello\n\n", variant="key:in-query")
    (found,) = findings(IN_QUERY, t, PRISM)
    assert found.expected == (
        "GET /v1/deployments/{deployment_id}/events with the key in the query string refused (4xx)"
    )
    assert found.actual == "status 200: the key was taken from the URL"


def test_key_in_query_taken_by_the_token_endpoint_fails() -> None:
    t = answer(TOKEN, 200, {"token": "st_1234"}, variant="key:in-query")
    (found,) = findings(IN_QUERY, t, WORKFLOW)
    assert found.expected.startswith("GET /api/v1/token with the key in the query string")
    assert found.actual == "status 200: the key was taken from the URL"


@pytest.mark.parametrize(
    ("status", "body"), [(500, b"boom"), (302, b""), (503, b"busy")], ids=["5xx", "3xx", "503"]
)
def test_key_in_query_answered_otherwise_fails(status: int, body: bytes) -> None:
    t = answer(PRISM, status, body, content_type="text/plain", variant="key:in-query")
    (found,) = findings(IN_QUERY, t, PRISM)
    assert found.actual == f"status {status}: {body.decode()!r}"


def test_key_in_query_without_an_answer_fails() -> None:
    (found,) = findings(IN_QUERY, no_answer(PRISM, variant="key:in-query"), PRISM)
    assert found.actual == "no response (response-timeout): no complete answer within 30.0 s"


def test_key_in_query_setup_failed_is_untestable() -> None:
    t = unprepared(PRISM, "key:in-query", "missing variable deployment_id")
    assert untestable(IN_QUERY, t, PRISM) == (
        "the request could not be prepared: missing variable deployment_id"
    )


# -- Through the verdict ---------------------------------------------------------------------


def test_verdict_of_a_wrong_key_that_opened_a_stream() -> None:
    """Graded fail (a MUST), its message naming the rule, what was due and what came, with
    the key redacted where the answer echoed it."""
    key = "sk-live-4fG7hJ2kL9mN3pQ8"
    t = opened_stream(PRISM, f"event: hello\ndata: {key}\n\n".encode(), variant="key:look-alike")
    result = grade(WRONG, bundled("prism-agents"), PRISM, t, secrets=[key])
    assert result.outcome is Outcome.FAIL
    assert result.level == "MUST"
    lines = result.message.splitlines()
    assert lines[0] == "auth.key.wrong (MUST): A wrong API key is refused"
    assert lines[1].startswith(f"Requirement: {REGISTRY[WRONG].requirement}")
    assert lines[2] == (
        "Expected: status 401 (GET /v1/deployments/{deployment_id}/events with a look-alike "
        "key nobody issued) with the documented JSON error body, before any stream"
    )
    assert lines[3].startswith("Actual: status 200, a stream: 'event: hello")
    assert key not in result.message
    assert "[REDACTED]" in result.message


def test_verdicts_pass_untestable_and_warn() -> None:
    spec = bundled("prism-agents")
    ok = grade(MISSING, spec, PRISM, answer(PRISM, 401, UNAUTHORIZED, variant="key:missing"))
    assert (ok.outcome, ok.message) == (Outcome.PASS, "")
    unknown = grade(MALFORMED, spec, PRISM, unprepared(PRISM, "key:empty", "setup broke"))
    assert unknown.outcome is Outcome.UNTESTABLE
    assert unknown.message == "the request could not be prepared: setup broke"
    leaked = opened_stream(PRISM, b"", variant="key:in-query")
    warned = grade(IN_QUERY, spec, PRISM, leaked)
    assert warned.outcome is Outcome.WARN  # a SHOULD
    assert "Actual: status 200: the key was taken from the URL" in warned.message
    assert grade(IN_QUERY, spec, PRISM, leaked, strict=True).outcome is Outcome.FAIL


def test_a_401_broken_two_ways_says_both() -> None:
    """A stream media type and a body against the schema: two findings, one each."""
    t = answer(MINIAPP, 401, {"error": "x"}, content_type="text/event-stream", variant="key:empty")
    found = findings(MALFORMED, t, MINIAPP)
    assert [f.actual for f in found] == [
        "an error status with a stream content type text/event-stream",
        "$: 'message' is a required property",
    ]
    assert "with the documented JSON error body, before any stream | $: 'message'" in said(found)
