"""The tokens suite: a stream opened with single-use tokens from a token endpoint.

Most tests run the whole pipeline (a real server on loopback, real httpx, the token
scenarios, the checks, the verdicts) against a small fake of the workflow API whose
flags each break one rule, or do something unusual but correct. The last part feeds
the pure helpers (echo finding, expiry waits, why a scenario cannot be tried) directly.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from streamconform.checks import REGISTRY
from streamconform.core.echoes import Echo, find_echoes
from streamconform.core.outcome import Outcome, Result
from streamconform.engine.run import ConformanceRun, RunConfig
from streamconform.model.load import load_spec
from streamconform.model.profile import load_profile
from streamconform.scenarios.token import EXPIRED, MADE_UP, expiry_wait, unavailable
from streamconform.servers import BackgroundServer

SPEC = Path(__file__).resolve().parents[1] / "specs" / "workflow-stream.yaml"
API_KEY = "k-test-key-2f9c1a"
BROKE_KEY = "k-broke-key-77d0e4"
WORKFLOW = "wf_abc123"
OTHER_WORKFLOW = "wf_other456"
VARIABLES = {"api_key": API_KEY, "no_credit_api_key": BROKE_KEY, "workflow_id": WORKFLOW}

# On a target the spec's durations are multiplied by SCALE: every bound floors at 2 s.
SCALE = 0.01
LIFETIME = 2.0  # seconds the fake honours a token (the floor of scaled bounds), if at all
DOCUMENTED_EXPIRY = LIFETIME / SCALE  # what a profile says, in the spec's (unscaled) time
PIECES = (b"Photosynthesis ", b"turns light ", b"into chemical ", b"energy.")
GAP = 0.08  # between the pieces of a stream: the first arrives at once, the rest follow
RACE_WINDOW = 0.05  # the racy fake's pause between checking a token and spending it

PASS, FAIL, WARN, SKIP = Outcome.PASS, Outcome.FAIL, Outcome.WARN, Outcome.SKIP
UNTESTABLE = Outcome.UNTESTABLE
TOKEN_CHECKS = {c.id for c in REGISTRY.values() if c.suite == "tokens"}


def never(token: str | None) -> bool:
    return False


def hex_token() -> str:
    return "st_" + secrets.token_hex(16)


TOKEN_LENGTH = len(hex_token())


@dataclass
class Fake:
    """How the fake workflow API behaves; the defaults are a correct server."""

    # when a token is spent: "on-open", "never", "at-end" (of its stream), or "racy"
    # (checked, then a pause, then marked)
    spend: str = "on-open"
    lifetime: float | None = LIFETIME  # None: a token never expires
    accept_unknown: Callable[[str | None], bool] = never  # a token nobody issued, let in
    echo_header: bool = False  # the stream carries its token in X-Stream-Token
    echo_refusal: str = ""  # whose 401 names the token: "spent" or "unknown"
    issue_needs_key: bool = True
    token_field: str = "token"
    no_store: bool = True
    refusal: str = "json"  # "json", "text" (not JSON), "schema" (no "error"), "403"
    www_authenticate: bool = False  # 401 with WWW-Authenticate and extra JSON fields
    bound: bool = False  # a token works only on the workflow it was issued for
    make_token: Callable[[], str] = hex_token
    issue_delay: float = 0.0


@dataclass
class Seen:
    """What the fake saw: the tokens it issued, and stream requests per token sent."""

    issued: list[str] = field(default_factory=list)
    uses: Counter[str | None] = field(default_factory=Counter)


def fake_app(fake: Fake, seen: Seen) -> Starlette:
    tokens: dict[str, tuple[float, str | None]] = {}  # token -> (issued at, workflow)
    spent: set[str] = set()

    def refuse(message: str, status: int = 401) -> Response:
        body: dict[str, Any] = {"error": "unauthorized", "message": message}
        headers = {}
        if fake.www_authenticate:
            headers["WWW-Authenticate"] = 'Bearer realm="workflows", error="invalid_token"'
            body.update(request_id="req_81c2", docs="https://example.test/errors#401")
        if fake.refusal == "text":
            return PlainTextResponse(f"Unauthorized: {message}", status, headers=headers)
        if fake.refusal == "schema":
            return JSONResponse({"message": message}, status, headers=headers)
        if fake.refusal == "403":
            status = 403
        return JSONResponse(body, status, headers=headers)

    async def issue(request: Request) -> Response:
        if fake.issue_delay:
            await asyncio.sleep(fake.issue_delay)
        if fake.issue_needs_key and request.headers.get("authorization") != f"Bearer {API_KEY}":
            return JSONResponse({"error": "unauthorized", "message": "bad API key"}, 401)
        token = fake.make_token()
        tokens[token] = (time.monotonic(), request.query_params.get("workflow"))
        seen.issued.append(token)
        headers = {"Cache-Control": "no-store"} if fake.no_store else {}
        return JSONResponse({fake.token_field: token, "expires_in": 60}, headers=headers)

    async def run_stream(request: Request) -> Response:
        token = request.query_params.get("token")
        workflow = request.path_params["workflow_id"]
        seen.uses[token] += 1
        if workflow not in (WORKFLOW, OTHER_WORKFLOW):
            return JSONResponse({"error": "not_found", "message": "no such workflow"}, 404)
        if token in tokens:
            issued_at, issued_for = tokens[token]
            if token in spent:
                spent_one = fake.echo_refusal == "spent"
                return refuse(f"token {token} already used" if spent_one else "token used")
            if fake.lifetime is not None and time.monotonic() - issued_at > fake.lifetime:
                return refuse("token expired")
            if fake.bound and issued_for is not None and issued_for != workflow:
                return refuse("token issued for another workflow", 403)
            if fake.spend == "on-open":
                spent.add(token)
            elif fake.spend == "racy":
                await asyncio.sleep(RACE_WINDOW)  # the check-then-act gap under test
                spent.add(token)
        elif not fake.accept_unknown(token):
            unknown_one = fake.echo_refusal == "unknown"
            return refuse(f"unknown token {token}" if unknown_one else "token missing or invalid")
        await request.body()

        async def body() -> AsyncIterator[bytes]:
            try:
                for i, piece in enumerate(PIECES):
                    if i:
                        await asyncio.sleep(GAP)
                    yield piece
            finally:
                if fake.spend == "at-end" and token is not None:
                    spent.add(token)

        headers = {"Cache-Control": "no-cache"}
        if fake.echo_header and token:
            headers["X-Stream-Token"] = token
        return StreamingResponse(body(), media_type="text/plain; charset=utf-8", headers=headers)

    return Starlette(
        routes=[
            Route("/api/v1/token", issue, methods=["GET"]),
            Route("/api/v1/run/{workflow_id}/stream", run_stream, methods=["POST"]),
        ]
    )


def write_profile(tmp_path: Path, expiry: float = DOCUMENTED_EXPIRY) -> Path:
    path = tmp_path / "profile.yaml"
    auth = {"stream_token": {"expiry": expiry}}
    path.write_text(yaml.safe_dump({"specs": {"workflow-stream": {"auth": auth}}}))
    return path


class Switch:
    """The one loopback server of this module serves whichever fake app the test set."""

    def __init__(self) -> None:
        self.app: ASGIApp = Starlette()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@dataclass
class Live:
    url: str
    switch: Switch


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    switch = Switch()
    with BackgroundServer(switch) as server:
        yield Live(server.url, switch)


def run_tokens(
    live: Live,
    fake: Fake | None = None,
    *,
    select: tuple[str, ...] = ("token.",),
    profile: Path | None = None,
    spec: Path = SPEC,
    race: int | None = None,
) -> tuple[dict[str, Result], Seen]:
    """Every selected token case against a fresh fake on loopback: check id -> result."""
    seen = Seen()
    live.switch.app = fake_app(fake or Fake(), seen)
    extra = {"token_race": race} if race is not None else {}
    config = RunConfig(
        specs=[spec],
        target=live.url,
        variables=VARIABLES,
        select=list(select),
        time_scale=SCALE,
        profile=profile,
        **extra,
    )
    run = ConformanceRun(config, environ={})
    try:
        results = {r.check: r for r in run.judge_all(run.cases("tokens"))}
    finally:
        run.close()
    return results, seen


def outcomes(results: dict[str, Result]) -> dict[str, Outcome]:
    return {check: result.outcome for check, result in results.items()}


def spec_copy(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """The bundled spec, changed by `change`, written next to the test."""
    raw = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "workflow-stream.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def bind_to_workflow(raw: dict[str, Any]) -> None:
    """Tokens are asked for one workflow, and must not open another."""
    raw["variables"]["other_workflow_id"] = {"default": OTHER_WORKFLOW}
    raw["auth"]["stream_token"]["binding"] = {"elsewhere": {"workflow_id": "${other_workflow_id}"}}
    raw["flows"]["issue_token"]["steps"][0]["query"] = {"workflow": "${workflow_id}"}


# -- Correct servers ------------------------------------------------------------------------


def test_a_correct_server_passes_every_token_check(live: Live, tmp_path: Path) -> None:
    results, seen = run_tokens(live, profile=write_profile(tmp_path))
    assert set(results) == TOKEN_CHECKS
    assert outcomes(results) == {
        **dict.fromkeys(TOKEN_CHECKS, PASS),
        "token.binding": SKIP,  # the bundled spec binds tokens to nothing
    }, {c: r.message for c, r in results.items() if r.outcome is not PASS}
    assert "binding.elsewhere" in results["token.binding"].message
    assert seen.uses[None] == 1 and seen.uses[""] == 1  # token:missing and token:empty sent


def test_the_embedded_reference_server_passes_every_token_check() -> None:
    run = ConformanceRun(RunConfig(specs=[SPEC], select=["token."]), environ={})
    try:
        results = {r.check: r.outcome for r in run.judge_all(run.cases("tokens"))}
    finally:
        run.close()
    assert results == {**dict.fromkeys(TOKEN_CHECKS, PASS), "token.binding": SKIP}


def test_url_unsafe_tokens_are_sent_intact_and_pass(live: Live, tmp_path: Path) -> None:
    def unsafe() -> str:
        return f"st_{secrets.token_hex(8)}+a/b+c=="

    results, seen = run_tokens(live, Fake(make_token=unsafe), profile=write_profile(tmp_path))
    assert outcomes(results) == {**dict.fromkeys(TOKEN_CHECKS, PASS), "token.binding": SKIP}
    # each token came back exactly as issued ("+", "/" and "=" intact), but two: the one
    # token:issue only looks at, and the one token:made-up forges a look-alike of
    unused = [token for token in seen.issued if seen.uses[token] == 0]
    assert len(seen.issued) == 6 and len(unused) == 2, seen


def test_a_refusal_with_www_authenticate_and_extra_fields_passes(live: Live) -> None:
    results, _ = run_tokens(
        live,
        Fake(www_authenticate=True),
        select=("token.single-use", "token.forged", "token.api-key", "token.not-echoed"),
    )
    assert set(outcomes(results).values()) == {PASS}, results
    assert len(results) == 6


def test_a_slow_token_endpoint_passes(live: Live) -> None:
    results, seen = run_tokens(
        live, Fake(issue_delay=0.2), select=("token.issue", "token.single-use.after-end")
    )
    assert outcomes(results) == {
        "token.issue.answer": PASS,
        "token.issue.no-store": PASS,
        "token.single-use.after-end": PASS,
    }
    assert len(seen.issued) == 2


# -- Single use -----------------------------------------------------------------------------

SINGLE_USE = ("token.single-use",)


def test_a_reusable_token_fails_every_single_use_check(live: Live) -> None:
    results, _ = run_tokens(live, Fake(spend="never"), select=SINGLE_USE)
    assert outcomes(results) == {
        "token.single-use.after-end": FAIL,
        "token.single-use.while-streaming": FAIL,
        "token.single-use.race": FAIL,
    }
    assert "Actual: status 200" in results["token.single-use.after-end"].message
    assert "20 opened" in results["token.single-use.race"].message


def test_a_token_spent_when_its_stream_ends_fails_while_streaming_and_race(live: Live) -> None:
    results, _ = run_tokens(live, Fake(spend="at-end"), select=SINGLE_USE)
    assert outcomes(results) == {
        "token.single-use.after-end": PASS,
        "token.single-use.while-streaming": FAIL,
        "token.single-use.race": FAIL,
    }
    assert "still open" in results["token.single-use.while-streaming"].message


def test_a_check_then_spend_server_fails_the_race_only(live: Live) -> None:
    results, _ = run_tokens(live, Fake(spend="racy"), select=SINGLE_USE)
    assert outcomes(results) == {
        "token.single-use.after-end": PASS,
        "token.single-use.while-streaming": PASS,
        "token.single-use.race": FAIL,
    }
    message = results["token.single-use.race"].message
    assert "exactly one of 20 requests" in message
    opened = re.search(r"(\d+) opened \(", message)
    assert opened is not None and int(opened.group(1)) >= 2, message


@pytest.mark.parametrize(("spend", "outcome"), [("racy", FAIL), ("on-open", PASS)])
def test_the_race_sends_exactly_token_race_requests(
    live: Live, spend: str, outcome: Outcome
) -> None:
    results, seen = run_tokens(live, Fake(spend=spend), select=("token.single-use.race",), race=5)
    assert len(seen.issued) == 1
    assert seen.uses == Counter({seen.issued[0]: 5})
    result = results["token.single-use.race"]
    assert result.outcome is outcome
    if outcome is FAIL:
        assert "exactly one of 5 requests" in result.message
        opened = re.search(r"(\d+) opened \((.*)\)", result.message)
        assert opened is not None and 2 <= int(opened.group(1)) <= 5, result.message
        assert f"200 x{opened.group(1)}" in opened.group(2)


# -- Expiry ---------------------------------------------------------------------------------


def test_a_token_that_never_expires_fails_expiry_given_a_profile(
    live: Live, tmp_path: Path
) -> None:
    started = time.monotonic()
    results, seen = run_tokens(
        live, Fake(lifetime=None), select=("token.expiry",), profile=write_profile(tmp_path)
    )
    waited = time.monotonic() - started
    result = results["token.expiry"]
    assert result.outcome is FAIL
    assert "Actual: status 200" in result.message
    assert f"its lifetime is {DOCUMENTED_EXPIRY:g} s" in result.message
    assert waited >= LIFETIME  # the token was really held past its lifetime
    assert len(seen.issued) == 1


def test_expiry_is_untestable_on_a_target_without_a_profile(live: Live) -> None:
    results, seen = run_tokens(live, Fake(lifetime=None), select=("token.expiry",))
    result = results["token.expiry"]
    assert result.outcome is UNTESTABLE
    assert "specs.workflow-stream.auth.stream_token.expiry" in result.message
    assert seen.issued == []  # nothing was even tried


def test_a_server_that_enforces_the_lifetime_passes_expiry(live: Live, tmp_path: Path) -> None:
    results, _ = run_tokens(live, Fake(), select=("token.expiry",), profile=write_profile(tmp_path))
    assert results["token.expiry"].outcome is PASS, results["token.expiry"].message


# -- Forged tokens and the API key ----------------------------------------------------------


def test_the_api_key_accepted_as_a_token_fails(live: Live) -> None:
    results, seen = run_tokens(
        live,
        Fake(accept_unknown=lambda token: token == API_KEY),
        select=("token.api-key", "token.forged"),
    )
    assert outcomes(results) == {"token.api-key.refused": FAIL, "token.forged.refused": PASS}
    assert seen.uses[API_KEY] == 1
    assert API_KEY not in results["token.api-key.refused"].message


def format_only(token: str | None) -> bool:
    return token is not None and token.startswith("st_") and len(token) == TOKEN_LENGTH


@pytest.mark.parametrize(
    ("accept", "failed"),
    [
        pytest.param(format_only, "token:made-up", id="format-only"),
        pytest.param(lambda token: bool(token), "token:made-up", id="refuses-missing-empty-only"),
        pytest.param(lambda token: token == "", "token:empty", id="empty-accepted"),
    ],
)
def test_tokens_nobody_issued_fail_forged_refused(
    live: Live, accept: Callable[[str | None], bool], failed: str
) -> None:
    results, _ = run_tokens(live, Fake(accept_unknown=accept), select=("token.forged",))
    result = results["token.forged.refused"]
    assert result.outcome is FAIL
    assert result.message.startswith(f"{failed}: ")
    verdicts = dict(
        part.split(": ") for part in result.message.rsplit("(all: ", 1)[1][:-1].split("; ")
    )
    expected = {"token:made-up": "pass", "token:empty": "pass", "token:missing": "pass"}
    assert verdicts == {**expected, failed: "fail"}


@pytest.mark.parametrize(
    ("refusal", "shown", "outcome"),
    [
        ("text", "a body that is not JSON", WARN),
        ("schema", "'error' is a required property", WARN),
        ("403", "Actual: status 403", FAIL),
    ],
)
def test_a_refusal_in_the_wrong_shape_fails(
    live: Live, refusal: str, shown: str, outcome: Outcome
) -> None:
    """The document says 401; the error body is the spec's assumption (error-body)."""
    results, _ = run_tokens(live, Fake(refusal=refusal), select=("token.forged",))
    result = results["token.forged.refused"]
    assert result.outcome is outcome
    assert result.assumptions == (("error-body",) if outcome is WARN else ())
    assert shown in result.message


# -- Echoes ---------------------------------------------------------------------------------


REFUSAL = "the 401 answer carries it in response body at byte"


@pytest.mark.parametrize(
    ("fake", "variant", "where"),
    [
        pytest.param(
            Fake(echo_header=True),
            "token:reuse-after-end",
            "the stream carries it in response header x-stream-token",
            id="stream-header",
        ),
        pytest.param(
            Fake(echo_refusal="spent"), "token:reuse-after-end", REFUSAL, id="spent-refusal"
        ),
        pytest.param(Fake(echo_refusal="unknown"), "token:made-up", REFUSAL, id="made-up-refusal"),
    ],
)
def test_an_echoed_token_fails_and_is_not_shown(
    live: Live, fake: Fake, variant: str, where: str
) -> None:
    results, seen = run_tokens(live, fake, select=("token.not-echoed",))
    result = results["token.not-echoed"]
    assert result.outcome is FAIL
    assert result.message.startswith(f"{variant}: ")
    assert where in result.message.lower()
    forged = [t for t in seen.uses if t and t.startswith("st_") and t not in seen.issued]
    assert len(seen.issued) == 2 and len(forged) == 1
    for token in [*seen.issued, *forged]:
        assert token not in result.message
        assert token.removeprefix("st_") not in result.message


# -- The token endpoint ---------------------------------------------------------------------


def test_a_token_endpoint_without_the_key_still_answers_in_shape(live: Live) -> None:
    results, _ = run_tokens(live, Fake(issue_needs_key=False), select=("token.issue",))
    assert outcomes(results) == {"token.issue.answer": PASS, "token.issue.no-store": PASS}


def test_a_token_answer_without_a_token_fails(live: Live) -> None:
    results, _ = run_tokens(live, Fake(token_field="tok"), select=("token.issue",))
    answer = results["token.issue.answer"]
    # the document shows no token answer: its shape is the spec's token-endpoint
    assert (answer.outcome, answer.assumptions) == (WARN, ("token-endpoint",))
    assert "'token' is a required property" in answer.message
    assert "object object at 0x" not in answer.message  # the missing value, said plainly
    assert results["token.issue.no-store"].outcome is PASS


def test_a_token_answer_that_caches_may_store_warns(live: Live) -> None:
    results, _ = run_tokens(live, Fake(no_store=False), select=("token.issue",))
    assert outcomes(results) == {"token.issue.answer": PASS, "token.issue.no-store": WARN}
    assert "no Cache-Control header" in results["token.issue.no-store"].message


# -- Binding --------------------------------------------------------------------------------


@pytest.mark.parametrize(("bound", "outcome"), [(True, PASS), (False, FAIL)])
def test_binding_to_the_workflow_issued_for(
    live: Live, tmp_path: Path, bound: bool, outcome: Outcome
) -> None:
    spec = spec_copy(tmp_path, bind_to_workflow)
    results, seen = run_tokens(live, Fake(bound=bound), select=("token.binding",), spec=spec)
    result = results["token.binding"]
    assert result.outcome is outcome, result.message
    assert len(seen.issued) == 1 and seen.uses[seen.issued[0]] == 1
    if outcome is FAIL:
        assert "a fresh token sent with another workflow_id" in result.message


# -- Pure helpers ---------------------------------------------------------------------------


def test_find_echoes_in_a_header() -> None:
    headers = [("content-type", "text/plain"), ("X-Stream-Token", "st_abcdef")]
    assert find_echoes("stream_token", "st_abcdef", headers, b"") == (
        Echo("stream_token", "response header X-Stream-Token"),
    )


def test_find_echoes_in_a_body_gives_the_first_offset() -> None:
    body = b'{"message": "token st_abcdef already used; st_abcdef"}'
    echoes = find_echoes("stream_token", "st_abcdef", [], body)
    at = body.index(b"st_abcdef")
    assert echoes == (Echo("stream_token", f"response body at byte {at}", at),)


def test_find_echoes_percent_encoded() -> None:
    value = "st_ab+cd/ef=="
    encoded = quote(value, safe="")
    body = b"see /run?token=" + encoded.encode()
    echoes = find_echoes("stream_token", value, [("Location", f"/run?token={encoded}")], body)
    assert echoes == (
        Echo("stream_token", "response header Location"),
        Echo("stream_token", f"response body at byte {body.index(b'st_ab')}", 15),
    )


def test_find_echoes_ignores_values_shorter_than_four_characters() -> None:
    assert find_echoes("k", "abc", [("X", "abc")], b"abcabc") == ()
    assert find_echoes("k", "", [("X", "")], b"") == ()
    assert find_echoes("k", "abcd", [("X", "abcd")], b"") == (Echo("k", "response header X"),)


def test_find_echoes_none_when_absent() -> None:
    assert find_echoes("k", "st_abcdef", [("X", "st_abcde")], b"st_abcdeg") == ()


def without_expiry(raw: dict[str, Any]) -> None:
    del raw["auth"]["stream_token"]["expiry"]


def long_expiry(raw: dict[str, Any]) -> None:
    raw["auth"]["stream_token"]["expiry"] = {"after": 600}


def test_expiry_wait_is_the_scaled_lifetime_plus_a_margin(tmp_path: Path) -> None:
    stream = load_spec(SPEC).endpoints["run_stream"]
    assert expiry_wait(stream, 1.0) == pytest.approx(66.0)  # 60 s and 10 %
    # compressed below the 2 s floor of scaled bounds: the floor, plus at least 0.25 s
    assert expiry_wait(stream, 0.002) == pytest.approx(2.0 + 0.25)
    bare = load_spec(spec_copy(tmp_path, without_expiry)).endpoints["run_stream"]
    assert expiry_wait(bare, 1.0) is None


def test_unavailable_without_a_lifetime_names_the_profile_key(tmp_path: Path) -> None:
    spec = load_spec(spec_copy(tmp_path, without_expiry))
    stream = spec.endpoints["run_stream"]
    for on_target in (True, False):
        reason = unavailable(spec, stream, EXPIRED, on_target, 1.0)
        assert "gives no token lifetime" in reason
        assert "specs.workflow-stream.auth.stream_token.expiry" in reason
    assert unavailable(spec, stream, MADE_UP, True, 1.0) == ""


def test_unavailable_for_an_assumed_lifetime_on_a_target(tmp_path: Path) -> None:
    spec = load_spec(SPEC)
    stream = spec.endpoints["run_stream"]
    reason = unavailable(spec, stream, EXPIRED, True, 0.002)
    assert "reference server only" in reason
    assert "specs.workflow-stream.auth.stream_token.expiry" in reason
    assert unavailable(spec, stream, EXPIRED, False, 0.002) == ""
    # a profile that gives the target's lifetime makes it testable there
    profiled = load_profile(write_profile(tmp_path, expiry=30)).apply(spec)
    assert unavailable(profiled, profiled.endpoints["run_stream"], EXPIRED, True, 0.01) == ""


def test_unavailable_when_the_wait_is_too_long(tmp_path: Path) -> None:
    spec = load_spec(spec_copy(tmp_path, long_expiry))
    stream = spec.endpoints["run_stream"]
    reason = unavailable(spec, stream, EXPIRED, True, 1.0)
    assert "660 s" in reason and "not attempted" in reason and "--time-scale" in reason
    assert unavailable(spec, stream, EXPIRED, True, 0.1) == ""  # 66 s is waited


def test_unavailable_on_an_endpoint_not_opened_with_a_token() -> None:
    spec = load_spec(SPEC)
    reason = unavailable(spec, spec.endpoints["run"], EXPIRED, False, 1.0)
    assert reason == "the endpoint is not opened with an issued token"


def test_a_profile_expiry_replaces_the_assumed_one(tmp_path: Path) -> None:
    spec = load_profile(write_profile(tmp_path, expiry=5)).apply(load_spec(SPEC))
    credentials = spec.endpoints["run_stream"].credentials
    assert credentials is not None
    assert credentials.scheme.expiry == 5
    assert credentials.scheme.expiry_reference_only is False
