"""Unit tests of the token checks (token.*) over hand-built token trials: no server.

The workflow stream is opened with a single-use token that GET /api/v1/token issues. A
trial's primary transcript is the request that should have been refused (or the token
answer); its legs are every request of the trial, in order, as the token scenarios
build them. Streams are recorded from chosen bytes; answers are built as the exchange
records them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from evidence_builders import (
    answer,
    bundled,
    endpoint_of,
    findings,
    grade,
    no_answer,
    opened_stream,
    recorded,
    said,
    scenario_names,
    unprepared,
    untestable,
)

from streamconform.checks import REGISTRY
from streamconform.core.evidence import TokenTrial
from streamconform.core.outcome import Outcome
from streamconform.core.transcript import End, Transcript
from streamconform.model.spec import Endpoint

ISSUE, NO_STORE = "token.issue.answer", "token.issue.no-store"
AFTER_END, WHILE = "token.single-use.after-end", "token.single-use.while-streaming"
RACE, EXPIRY = "token.single-use.race", "token.expiry"
FORGED, API_KEY = "token.forged.refused", "token.api-key.refused"
BINDING, ECHO = "token.binding", "token.not-echoed"
REFUSED_ONCE = (AFTER_END, WHILE, EXPIRY, FORGED, API_KEY)  # a lone refusal with 401

SPEC = bundled("workflow-stream")
STREAM = endpoint_of("workflow-stream", "run_stream")
TOKEN_EP = endpoint_of("workflow-stream", "token")
PRISM = endpoint_of("prism-agents", "events")
CREDENTIALS = STREAM.credentials
assert CREDENTIALS is not None and CREDENTIALS.issue_step is not None
SCHEME = CREDENTIALS.scheme.name  # "stream_token"

TOKEN = "st_9f8e7d6c5b4a3210"
PIECES = (b"Photosynthesis ", b"turns light ", b"into chemical energy.")
SPENT = {"error": "token_used", "message": "this token was already used"}


def bound(ep: Endpoint = STREAM) -> Endpoint:
    """The endpoint with tokens bound to their workflow (binding.elsewhere)."""
    assert ep.credentials is not None
    scheme = replace(ep.credentials.scheme, elsewhere={"workflow_id": "wf_other456"})
    return replace(ep, credentials=replace(ep.credentials, scheme=scheme))


def reusable() -> Endpoint:
    """The endpoint with tokens that are not single-use."""
    assert CREDENTIALS is not None
    scheme = replace(CREDENTIALS.scheme, single_use=False)
    return replace(STREAM, credentials=replace(CREDENTIALS, scheme=scheme))


def issuer(*, response_schema: Any = ..., capture: dict[str, str] | None = None) -> Endpoint:
    """The stream endpoint with its token issuer's schema, or what the issuing step
    captures, changed."""
    assert CREDENTIALS is not None and CREDENTIALS.issuer is not None
    step = CREDENTIALS.issue_step
    assert step is not None
    schema = CREDENTIALS.issuer.response_schema if response_schema is ... else response_schema
    credentials = replace(
        CREDENTIALS,
        issuer=replace(CREDENTIALS.issuer, response_schema=schema),
        issue_step=replace(step, capture=capture) if capture else step,
    )
    return replace(STREAM, credentials=credentials)


def first_stream(**kw: Any) -> Transcript:
    return recorded(STREAM, PIECES, variant="token:reuse-after-end", **kw)


def refusal(status: int = 401, body: Any = SPENT, **kw: Any) -> Transcript:
    return answer(STREAM, status, body, **kw)


def reuse(
    second: Transcript, *, overlap: bool | None = None, first: Transcript | None = None
) -> TokenTrial:
    """A token used twice: its stream, then the use that should have been refused."""
    leg = first_stream() if first is None else first
    return TokenTrial(primary=second, legs=(leg, second), overlap=overlap)


def token_answer(status: int = 200, body: Any = None, **kw: Any) -> TokenTrial:
    if body is None:
        body = {"token": TOKEN, "expires_in": 60}
    kw.setdefault("headers", [("cache-control", "no-store")])
    return TokenTrial(primary=answer(TOKEN_EP, status, body, variant="token:issue", **kw))


# -- token.issue.answer ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"token": TOKEN, "expires_in": 60}, "application/json"),
        ({"token": TOKEN}, "application/json; charset=utf-8"),
        ({"token": TOKEN, "expires_in": 59.5, "token_type": "stream", "scope": "run"}, None),
    ],
    ids=["documented", "charset-no-expiry", "extra-fields-no-content-type"],
)
def test_issue_answer_in_the_documented_shape_passes(body: object, content_type: str) -> None:
    ev = token_answer(body=body, content_type=content_type)
    assert findings(ISSUE, ev, STREAM) == []


def test_issue_answer_refused_fails() -> None:
    ev = token_answer(401, {"error": "invalid_api_key"})
    (found,) = findings(ISSUE, ev, STREAM)
    assert found.expected == "GET /api/v1/token: status 200"
    assert found.actual == 'status 401: \'{"error": "invalid_api_key"}\''


def test_issue_answer_missing_fails() -> None:
    ev = TokenTrial(primary=no_answer(TOKEN_EP, variant="token:issue"))
    (found,) = findings(ISSUE, ev, STREAM)
    assert found.actual == "status None: 'no response: no complete answer within 30.0 s'"


def test_issue_answer_that_is_not_json_fails() -> None:
    ev = token_answer(body=b"token=" + TOKEN.encode(), content_type="text/plain")
    (found,) = findings(ISSUE, ev, STREAM)
    assert (found.expected, found.actual) == ("a JSON body", f"'token={TOKEN}'")


@pytest.mark.parametrize(
    ("body", "broken", "token_found"),
    [
        ({"access_token": TOKEN}, "'token' is a required property", "nothing"),
        ({"token": ""}, "$.token: '' should be non-empty", "''"),
        ({"token": 12345}, "$.token: 12345 is not of type 'string'", "12345"),
        ({"token": None}, "$.token: None is not of type 'string'", "nothing"),
    ],
    ids=["no-token-field", "empty-token", "number", "null"],
)
def test_issue_answer_without_a_usable_token_fails(
    body: object, broken: str, token_found: str
) -> None:
    """Both the schema finding and the token finding, each saying what broke."""
    found = findings(ISSUE, token_answer(body=body), STREAM)
    assert [f.expected for f in found] == [
        "a body valid against the documented schema",
        "a token (a non-empty string) at /token",
    ]
    assert broken in found[0].actual
    assert found[1].actual == token_found


def test_issue_answer_breaking_only_the_schema_fails() -> None:
    ev = token_answer(body={"token": TOKEN, "expires_in": "soon"})
    (found,) = findings(ISSUE, ev, STREAM)
    assert found.expected == "a body valid against the documented schema"
    assert found.actual == "$.expires_in: 'soon' is not of type 'number'"


def test_issue_answer_without_a_schema_judges_the_token_alone() -> None:
    ep = issuer(response_schema=None)
    assert findings(ISSUE, token_answer(body={"token": TOKEN, "odd": [1]}), ep) == []
    (found,) = findings(ISSUE, token_answer(body={"token": ""}), ep)
    assert (found.expected, found.actual) == ("a token (a non-empty string) at /token", "''")


def test_issue_answer_with_the_token_in_a_header() -> None:
    """A flow that captures the token from a header: the body need not be JSON."""
    ep = issuer(capture={"stream_token": "header:X-Stream-Token"})
    ok = token_answer(body=b"ok", content_type="text/plain", headers=[("X-Stream-Token", TOKEN)])
    assert findings(ISSUE, ok, ep) == []
    bare = token_answer(body=b"ok", content_type="text/plain")
    (found,) = findings(ISSUE, bare, ep)
    assert (found.expected, found.actual) == (
        "a token (a non-empty string) at header:X-Stream-Token",
        "nothing",
    )


def test_issue_answer_setup_failed_is_untestable() -> None:
    ev = TokenTrial(primary=unprepared(TOKEN_EP, "token:issue", "missing variable api_key"))
    assert untestable(ISSUE, ev, STREAM) == (
        "the request could not be prepared: missing variable api_key"
    )


# -- token.issue.no-store --------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        [("cache-control", "no-store")],
        [("Cache-Control", "private, No-Store, max-age=0")],
        [("cache-control", "private"), ("cache-control", "no-store")],
    ],
    ids=["no-store", "among-others-any-case", "over-two-headers"],
)
def test_no_store_passes(headers: list[tuple[str, str]]) -> None:
    assert findings(NO_STORE, token_answer(headers=headers), STREAM) == []


@pytest.mark.parametrize(
    ("headers", "shown"),
    [
        ([], "no Cache-Control header"),
        ([("cache-control", "no-cache")], "Cache-Control: no-cache"),
        ([("cache-control", "private, max-age=60")], "Cache-Control: private, max-age=60"),
        ([("pragma", "no-cache")], "no Cache-Control header"),
    ],
    ids=["none", "no-cache-only", "cacheable", "pragma-only"],
)
def test_token_answer_a_cache_may_keep_fails(headers: list[tuple[str, str]], shown: str) -> None:
    (found,) = findings(NO_STORE, token_answer(headers=headers), STREAM)
    assert (found.expected, found.actual) == ("Cache-Control: no-store", shown)


def test_no_store_without_a_token_is_untestable() -> None:
    ev = token_answer(401, {"error": "invalid_api_key"})
    assert untestable(NO_STORE, ev, STREAM) == "the token endpoint issued no token (status 401)"
    gone = TokenTrial(primary=no_answer(TOKEN_EP))
    assert untestable(NO_STORE, gone, STREAM) == "the token endpoint issued no token (status None)"


# -- Refused once: after-end, while-streaming, expiry, forged, api-key ----------------------


def trial_for(chk: str, second: Transcript) -> TokenTrial:
    """The trial each check judges, with `second` as the request due to be refused."""
    if chk in (AFTER_END, WHILE):
        return reuse(second, overlap=True if chk == WHILE else None)
    if chk == EXPIRY:
        return TokenTrial(primary=second, waited=66.25)
    return TokenTrial(primary=second)


def variant_of(chk: str) -> str:
    return scenario_names(chk, STREAM)[0]


@pytest.mark.parametrize("chk", REFUSED_ONCE)
def test_documented_401_passes(chk: str) -> None:
    second = refusal(variant=variant_of(chk))
    assert findings(chk, trial_for(chk, second), STREAM) == []


@pytest.mark.parametrize("chk", REFUSED_ONCE)
def test_unusual_but_correct_401_passes(chk: str) -> None:
    second = refusal(
        body={"error": "invalid_token", "message": "spent", "trace": "t-81"},
        content_type="application/json;charset=UTF-8",
        headers=[("www-authenticate", 'Bearer error="invalid_token"')],
        variant=variant_of(chk),
    )
    assert findings(chk, trial_for(chk, second), STREAM) == []


@pytest.mark.parametrize("chk", REFUSED_ONCE)
def test_a_stream_opened_with_the_token_fails(chk: str) -> None:
    second = opened_stream(STREAM, b"Photosynthesis", variant=variant_of(chk))
    (found,) = findings(chk, trial_for(chk, second), STREAM)
    assert found.expected.startswith("status 401 (")
    assert found.expected.endswith(") with the documented JSON error body, before any stream")
    assert found.actual == "status 200, a stream: 'Photosynthesis'"


@pytest.mark.parametrize("status", [403, 404, 500])
@pytest.mark.parametrize("chk", REFUSED_ONCE)
def test_another_status_fails(chk: str, status: int) -> None:
    second = refusal(status, variant=variant_of(chk))
    (found,) = findings(chk, trial_for(chk, second), STREAM)
    assert found.actual.startswith(f"status {status}, an error: ")


@pytest.mark.parametrize(
    ("second", "broken"),
    [
        (
            lambda v: answer(STREAM, 401, SPENT, content_type="text/event-stream", variant=v),
            "an error status with a stream content type text/event-stream",
        ),
        (
            lambda v: answer(STREAM, 401, b"Unauthorized", content_type="text/plain", variant=v),
            "a body that is not JSON: 'Unauthorized'",
        ),
        (
            lambda v: answer(STREAM, 401, {"message": "spent"}, variant=v),
            "'error' is a required property",
        ),
        (lambda v: no_answer(STREAM, variant=v), "no response (response-timeout)"),
    ],
    ids=["stream-type", "not-json", "schema", "no-answer"],
)
@pytest.mark.parametrize("chk", REFUSED_ONCE)
def test_a_401_not_as_documented_fails(
    chk: str, second: Callable[[str], Transcript], broken: str
) -> None:
    ev = trial_for(chk, second(variant_of(chk)))
    (found,) = findings(chk, ev, STREAM)
    assert broken in found.actual


@pytest.mark.parametrize("chk", REFUSED_ONCE)
def test_setup_failed_is_untestable(chk: str) -> None:
    second = unprepared(STREAM, variant_of(chk), "flow issue_token: status 500")
    why = untestable(chk, trial_for(chk, second), STREAM)
    assert why == "the request could not be prepared: flow issue_token: status 500"


def test_reuse_names_how_the_first_stream_ended() -> None:
    first = first_stream(end=End.IDLE_TIMEOUT)
    ev = reuse(opened_stream(STREAM, variant="token:reuse-after-end"), first=first)
    (found,) = findings(AFTER_END, ev, STREAM)
    assert "(the token already opened a stream, which ended by idle-timeout)" in found.expected
    (found,) = findings(WHILE, replace(ev, overlap=True), STREAM)
    assert "(the token's first stream is still open)" in found.expected


@pytest.mark.parametrize("chk", (AFTER_END, WHILE))
def test_reuse_when_the_fresh_token_opened_no_stream_is_untestable(chk: str) -> None:
    refused_first = answer(STREAM, 401, SPENT)
    ev = reuse(refusal(), first=refused_first, overlap=True)
    assert untestable(chk, ev, STREAM) == "a fresh token opened no stream (status 401)"
    failed = unprepared(STREAM, variant_of(chk), "flow issue_token: status 500")
    ev = TokenTrial(primary=failed)
    # the whole trial failed before any stream (the reason shown leaves the setup's out)
    assert untestable(chk, ev, STREAM).startswith("a fresh token opened no stream")


@pytest.mark.parametrize("overlap", [False, None])
def test_while_streaming_without_overlap_is_untestable(overlap: bool | None) -> None:
    """The first stream ended before the second use was answered: even a 200 proves nothing
    about a token still streaming."""
    ev = reuse(opened_stream(STREAM), overlap=overlap)
    assert untestable(WHILE, ev, STREAM) == (
        "the first stream ended before the second use was answered (3 tries)"
    )


def test_expiry_names_the_wait_and_the_lifetime() -> None:
    ev = TokenTrial(primary=opened_stream(STREAM, variant="token:expired"), waited=66.25)
    (found,) = findings(EXPIRY, ev, STREAM)
    assert "(the token was sent 66.25 s after issue; its lifetime is 60 s, scaled)" in (
        found.expected
    )


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("token:made-up", "a look-alike token nobody issued"),
        ("token:empty", "an empty token"),
        ("token:missing", "no token"),
    ],
)
def test_forged_names_each_kind_of_token(name: str, why: str) -> None:
    assert name in scenario_names(FORGED, STREAM)
    ok = TokenTrial(primary=refusal(variant=name))
    assert findings(FORGED, ok, STREAM) == []
    bad = TokenTrial(primary=opened_stream(STREAM, variant=name))
    (found,) = findings(FORGED, bad, STREAM)
    assert found.expected.startswith(f"status 401 ({why}) with")


def test_api_key_in_the_tokens_place_names_it() -> None:
    bad = TokenTrial(primary=opened_stream(STREAM, variant="token:api-key"))
    (found,) = findings(API_KEY, bad, STREAM)
    assert found.expected.startswith("status 401 (the API key in the token's place) with")


# -- token.single-use.race -------------------------------------------------------------------


def race(*legs: Transcript) -> TokenTrial:
    """Requests sent together with one token, the accepted one (if any) as primary."""
    accepted = [leg for leg in legs if 200 <= (leg.status or 0) < 300]
    return TokenTrial(primary=(accepted or legs)[0], legs=legs, race=len(legs))


def refusals(n: int) -> list[Transcript]:
    return [refusal(variant="token:race") for _ in range(n)]


def test_race_with_exactly_one_stream_passes() -> None:
    ev = race(opened_stream(STREAM, variant="token:race"), *refusals(19))
    assert findings(RACE, ev, STREAM) == []


def test_race_won_by_a_later_request_passes() -> None:
    """Which connection wins does not matter; a refusal's body is not judged here."""
    plain = answer(STREAM, 401, b"spent", content_type="text/plain")
    ev = race(*refusals(7), opened_stream(STREAM), plain, *refusals(3))
    assert findings(RACE, ev, STREAM) == []


def test_race_letting_several_through_fails() -> None:
    ev = race(*[opened_stream(STREAM) for _ in range(3)], *refusals(17))
    (found,) = findings(RACE, ev, STREAM)
    assert found.expected == "exactly one of 20 requests with the same token opens a stream"
    assert found.actual == "3 opened (200 x3, 401 x17)"


def test_race_letting_none_through_fails() -> None:
    ev = race(*refusals(5))
    (found,) = findings(RACE, ev, STREAM)
    assert found.actual == "0 opened (401 x5)"


def test_race_with_others_answered_otherwise_fails() -> None:
    busy = answer(STREAM, 429, {"error": "slow_down"})
    lost = no_answer(STREAM, end=End.READ_ERROR, detail="connection reset")
    ev = race(opened_stream(STREAM), *refusals(2), busy, lost)
    (found,) = findings(RACE, ev, STREAM)
    assert found.expected == "the other 4 refused with 401"
    assert found.actual == (
        "2 answered otherwise (200 x1, 401 x2, 429 x1, none x1); "
        'the first: 429 \'{"error": "slow_down"}\''
    )
    ev = race(opened_stream(STREAM), lost, *refusals(2))
    (found,) = findings(RACE, ev, STREAM)
    assert found.actual.endswith("the first: None connection reset")


def test_race_with_two_through_and_a_5xx_says_both() -> None:
    ev = race(opened_stream(STREAM), opened_stream(STREAM), answer(STREAM, 500, b"boom"))
    text = said(findings(RACE, ev, STREAM))
    assert "2 opened (200 x2, 500 x1)" in text
    assert "the other 2 refused with 401 | 1 answered otherwise" in text


def test_race_not_prepared_is_untestable() -> None:
    ev = TokenTrial(primary=unprepared(STREAM, "token:race", "flow issue_token: status 500"))
    assert untestable(RACE, ev, STREAM) == (
        "the race could not be prepared: flow issue_token: status 500"
    )


# -- token.binding ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_binding_refused_with_401_or_403_passes(status: int) -> None:
    ev = TokenTrial(
        primary=refusal(status, {"error": "wrong_workflow"}, variant="token:elsewhere"),
        elsewhere=("workflow_id",),
    )
    assert findings(BINDING, ev, bound()) == []


@pytest.mark.parametrize(
    ("second", "actual"),
    [
        (
            lambda: opened_stream(STREAM, b"Other workflow"),
            "status 200, a stream: 'Other workflow'",
        ),
        (lambda: answer(STREAM, 404, {"error": "no_workflow"}), "status 404, an error: "),
        (lambda: answer(STREAM, 403, b"<html>", content_type="text/html"), "not JSON: '<html>'"),
    ],
    ids=["stream", "404", "403-not-json"],
)
def test_binding_not_refused_fails(second: Callable[[], Transcript], actual: str) -> None:
    ev = TokenTrial(primary=second(), elsewhere=("workflow_id",))
    (found,) = findings(BINDING, ev, bound())
    assert found.expected == (
        "status 401 or 403 (a fresh token sent with another workflow_id) with the documented "
        "JSON error body, before any stream"
    )
    assert actual in found.actual


def test_binding_setup_failed_is_untestable() -> None:
    ev = TokenTrial(primary=unprepared(STREAM, "token:elsewhere", "no such variable"))
    assert untestable(BINDING, ev, bound()).endswith("no such variable")


def test_binding_is_skipped_where_the_spec_binds_nothing() -> None:
    result = grade(BINDING, SPEC, STREAM, None)
    assert result.outcome is Outcome.SKIP
    assert result.message == "the spec does not bind tokens to a resource (binding.elsewhere)"


# -- token.not-echoed ------------------------------------------------------------------------

CREDENTIAL = (SCHEME, TOKEN)


def test_no_echo_passes() -> None:
    first = first_stream(credential=CREDENTIAL)
    second = refusal(credential=CREDENTIAL, variant="token:reuse-after-end")
    assert findings(ECHO, reuse(second, first=first), STREAM) == []
    made_up = TokenTrial(primary=refusal(credential=CREDENTIAL, variant="token:made-up"))
    assert findings(ECHO, made_up, STREAM) == []


def test_part_of_the_token_or_the_api_key_sent_back_passes() -> None:
    """A refusal quoting the token's first characters gives nothing away; an echo of the
    API key (another scheme) is not this check's to judge."""
    partial = {"error": "token_used", "message": f"token {TOKEN[:5]}… was used"}
    second = answer(STREAM, 401, partial, credential=CREDENTIAL)
    assert findings(ECHO, reuse(second, first=first_stream(credential=CREDENTIAL)), STREAM) == []
    key = "k-api-key-2f9c"
    key_echo = answer(STREAM, 401, SPENT, headers=[("x-key", key)], credential=("api_key", key))
    assert key_echo.echoes  # the API key did come back
    assert findings(ECHO, reuse(key_echo), STREAM) == []


def test_stream_carrying_the_token_fails() -> None:
    body = (b"Photosynthesis ", b"token=" + TOKEN.encode(), b" energy.")
    first = recorded(STREAM, body, credential=CREDENTIAL, variant="token:reuse-after-end")
    second = refusal(credential=CREDENTIAL)
    (found,) = findings(ECHO, reuse(second, first=first), STREAM)
    assert found.expected == "the token never sent back"
    assert found.actual == "the stream carries it in response body at byte 21"
    assert found.offset is None  # not in the transcript findings point into


def test_refusal_carrying_the_token_in_a_header_and_the_body_fails() -> None:
    echoing = answer(
        STREAM,
        401,
        {"error": "token_used", "token": TOKEN},
        headers=[("x-debug-token", TOKEN)],
        credential=CREDENTIAL,
        variant="token:reuse-after-end",
    )
    found = findings(ECHO, reuse(echoing, first=first_stream(credential=CREDENTIAL)), STREAM)
    assert [f.actual for f in found] == [
        "the 401 answer carries it in response header x-debug-token",
        "the 401 answer carries it in response body at byte 34",
    ]
    assert [f.offset for f in found] == [None, 34]


def test_made_up_token_sent_back_url_encoded_fails() -> None:
    forged = "st_ab+cd/ef=="
    body = b'{"error": "unknown token st_ab%2Bcd%2Fef%3D%3D"}'
    t = answer(STREAM, 401, body, credential=(SCHEME, forged), variant="token:made-up")
    (found,) = findings(ECHO, TokenTrial(primary=t), STREAM)
    assert found.actual == "the 401 answer carries it in response body at byte 25"
    assert found.offset == 25


def test_not_echoed_with_nothing_sent_is_untestable() -> None:
    ev = TokenTrial(primary=unprepared(STREAM, "token:made-up", "flow issue_token: status 500"))
    assert untestable(ECHO, ev, STREAM) == (
        "no request could be sent: flow issue_token: status 500"
    )


# -- Where the token checks apply ------------------------------------------------------------

TOKEN_CHECKS = sorted(c.id for c in REGISTRY.values() if c.id.startswith("token."))


def test_every_token_check_is_covered_here() -> None:
    covered = {ISSUE, NO_STORE, AFTER_END, WHILE, RACE, EXPIRY, FORGED, API_KEY, BINDING, ECHO}
    assert set(TOKEN_CHECKS) == covered


@pytest.mark.parametrize("chk", TOKEN_CHECKS)
def test_a_stream_opened_with_the_key_is_skipped(chk: str) -> None:
    result = grade(chk, bundled("prism-agents"), PRISM, None)
    assert result.outcome is Outcome.SKIP
    assert result.message == "the endpoint is not opened with an issued token"


@pytest.mark.parametrize("chk", (AFTER_END, WHILE, RACE))
def test_single_use_rules_skip_reusable_tokens(chk: str) -> None:
    result = grade(chk, SPEC, reusable(), None)
    assert result.outcome is Outcome.SKIP
    assert result.message == "the spec does not make tokens single-use"


# -- Through the verdict ---------------------------------------------------------------------


def test_verdict_of_a_race_that_let_two_through() -> None:
    ev = race(opened_stream(STREAM, b"Photo"), opened_stream(STREAM, b"Photo"), *refusals(3))
    result = grade(RACE, SPEC, STREAM, ev)
    assert result.outcome is Outcome.FAIL
    lines = result.message.splitlines()
    assert lines[0] == (
        "token.single-use.race (MUST): Many requests racing with one token get exactly one stream"
    )
    assert lines[1].startswith(f"Requirement: {REGISTRY[RACE].requirement}")
    assert lines[2] == "Expected: exactly one of 5 requests with the same token opens a stream"
    assert lines[3] == "Actual: 2 opened (200 x2, 401 x3)"


def test_verdict_of_a_token_answer_redacts_the_token() -> None:
    ev = token_answer(headers=[("cache-control", "max-age=300")])
    result = grade(NO_STORE, SPEC, STREAM, ev, secrets=[TOKEN])
    assert result.outcome is Outcome.WARN  # a SHOULD
    assert "Expected: Cache-Control: no-store" in result.message
    assert "Actual: Cache-Control: max-age=300" in result.message
    assert TOKEN not in result.message
    echoed = TokenTrial(primary=answer(STREAM, 401, {"t": TOKEN}, credential=CREDENTIAL))
    failed = grade(ECHO, SPEC, STREAM, echoed, secrets=[TOKEN])
    assert failed.outcome is Outcome.FAIL
    assert "Actual: the 401 answer carries it in response body at byte 7" in failed.message
    assert TOKEN not in failed.message


def test_verdicts_pass_and_untestable() -> None:
    ok = grade(AFTER_END, SPEC, STREAM, reuse(refusal()))
    assert (ok.outcome, ok.message) == (Outcome.PASS, "")
    early = grade(WHILE, SPEC, STREAM, reuse(refusal(), overlap=False))
    assert early.outcome is Outcome.UNTESTABLE
    assert early.message == "the first stream ended before the second use was answered (3 tries)"
