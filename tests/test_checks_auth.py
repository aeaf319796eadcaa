"""The auth suite: an API key that is missing, malformed or wrong is refused with 401 and
the documented body before any stream, and a key sent in the URL is not accepted.

Every run goes through the whole pipeline (a real server on loopback, real httpx, the key
probes of engine.keys, the checks of checks.auth, the verdicts) with a small spec written
for the test or a bundled one, against a server built to get one thing right or wrong.
One loopback server serves the whole module; each test puts its own app behind it. The
last part tests look_alike, the key nobody issued, on its own.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import random
import string
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from streamconform.core.outcome import Outcome, Result
from streamconform.engine.run import ConformanceRun, RunConfig
from streamconform.resources import bundled_dir
from streamconform.scenarios.auth import PROBES, QUERY_NAMES, look_alike
from streamconform.servers import BackgroundServer

MISSING = "auth.key.missing"
MALFORMED = "auth.key.malformed"
WRONG = "auth.key.wrong"
IN_QUERY = "auth.key.in-query"
CHECKS = (MISSING, MALFORMED, WRONG, IN_QUERY)
REFUSED = (MISSING, MALFORMED, WRONG)  # the MUST checks: a documented 401

PASS, FAIL, WARN, UNTESTABLE = Outcome.PASS, Outcome.FAIL, Outcome.WARN, Outcome.UNTESTABLE
ALL_PASS = dict.fromkeys(CHECKS, PASS)

KEY = "sk-4fG7hJ2kL9mN3pQ8rS1tUv"
# a key with the characters that change under URL, form and JSON encoding
ODD_KEY = "sk-Ab3+cD/9eF=gH1+zZ/Q=="
GARBLED = "not a key"  # what engine.keys sends as the garbled key

BEARER = {"type": "bearer", "token": "${api_key}"}
HEADER = {"type": "header", "name": "x-api-key", "value": "${api_key}"}
SCHEMES = [pytest.param(BEARER, id="bearer"), pytest.param(HEADER, id="x-api-key")]

UNAUTHORIZED = {"error": "unauthorized", "message": "invalid or missing API key"}
DOCUMENTED_401 = (
    "Expected: status 401 (GET /events with {why}) with the documented JSON error body, "
    "before any stream"
)

# -- The server ------------------------------------------------------------------------------


class Swappable:
    """An ASGI app that hands every request to whichever app a test put behind it."""

    def __init__(self) -> None:
        self.app: ASGIApp = Starlette()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@dataclass
class Target:
    url: str
    front: Swappable

    def serve(self, app: ASGIApp) -> str:
        self.front.app = app
        return self.url


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    front = Swappable()
    with BackgroundServer(front) as server:
        yield Target(server.url, front)


# -- Specs -----------------------------------------------------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}


def spec_tree(scheme: Mapping[str, str], *, setup: bool = False) -> dict[str, Any]:
    """One SSE endpoint taking an API key; with `setup`, its path names a session that a
    setup flow creates (with the key) and a teardown flow deletes."""
    events: dict[str, Any] = {
        "method": "GET",
        "path": "/sessions/{session_id}/events" if setup else "/events",
        "framing": "sse",
        "content_types": ["text/event-stream"],
        "auth": "key",
        "errors": [{"status": 401, "when": "API key missing or invalid", "error": "unauthorized"}],
        "error_schema": ERROR_SCHEMA,
        "timing": {"response_timeout": 2, "idle_timeout": 1, "max_duration": 1},
    }
    tree: dict[str, Any] = {
        "streamconform": 1,
        "name": "keyed",
        "title": "A one-endpoint API that takes an API key",
        "source": {"document": "test"},
        "variables": {"api_key": {"secret": True, "env": "KEYED_API_KEY"}},
        "auth": {"key": dict(scheme)},
        "endpoints": {"events": events},
        "requirements": [
            {"id": "r", "quote": "q", "level": "MUST", "checks": ["http.status.success"]}
        ],
    }
    if setup:
        events["setup"] = ["open_session"]
        events["teardown"] = ["close_session"]
        tree["endpoints"]["sessions"] = {
            "method": "POST",
            "path": "/sessions",
            "auth": "key",
            "success": [201],
            "timing": {"response_timeout": 2},
        }
        tree["endpoints"]["session"] = {
            "method": "DELETE",
            "path": "/sessions/{session_id}",
            "auth": "key",
            "success": [204],
            "timing": {"response_timeout": 2},
        }
        tree["flows"] = {
            "open_session": {"steps": [{"endpoint": "sessions", "capture": {"session_id": "/id"}}]},
            "close_session": {"steps": [{"endpoint": "session"}]},
        }
    return tree


def write_spec(tmp_path: Path, scheme: Mapping[str, str], *, setup: bool = False) -> Path:
    path = tmp_path / "keyed.yaml"
    path.write_text(yaml.safe_dump(spec_tree(scheme, setup=setup), sort_keys=False))
    return path


def bundled(name: str) -> Path:
    return bundled_dir("specs") / f"{name}.yaml"


# -- Runs ------------------------------------------------------------------------------------


def run_auth(
    target: Target,
    app: ASGIApp,
    specs: Sequence[Path],
    variables: Mapping[str, str],
    *,
    select: Sequence[str] = ("auth.",),
    strict: bool = False,
) -> dict[str, Result]:
    """Every selected auth case against the app; case id -> result."""
    config = RunConfig(
        specs=list(specs),
        target=target.serve(app),
        variables=dict(variables),
        select=list(select),
        strict=strict,
    )
    run = ConformanceRun(config, environ={})
    try:
        return {r.id: r for r in run.judge_all(run.cases("auth"))}
    finally:
        run.close()


def judge_keyed(
    tmp_path: Path,
    target: Target,
    app: ASGIApp,
    scheme: Mapping[str, str] = BEARER,
    *,
    key: str = KEY,
    setup: bool = False,
    strict: bool = False,
) -> dict[str, Result]:
    """The four auth checks on the one-endpoint spec; check id -> result."""
    spec = write_spec(tmp_path, scheme, setup=setup)
    results = run_auth(target, app, [spec], {"api_key": key}, strict=strict)
    by_check = {r.check: r for r in results.values()}
    assert sorted(by_check) == sorted(CHECKS)
    assert all(r.id == f"keyed::events::{r.check}" for r in by_check.values())
    return by_check


def outcomes(results: Mapping[str, Result]) -> dict[str, Outcome]:
    return {name: r.outcome for name, r in results.items()}


def line(message: str, label: str) -> str:
    """The line of a verdict message that starts with `label` ("Expected:", "Actual:")."""
    found = [row for row in message.splitlines() if row.startswith(label)]
    assert found, message
    return found[0]


# -- Apps ------------------------------------------------------------------------------------


def sent_key(request: Request, scheme: Mapping[str, str]) -> str | None:
    """The key as the request carries it in its header; None when there is no header.

    A bearer header's scheme name is read case-insensitively (RFC 9110 11.1), so
    "bearer <key>" is taken as well; "Bearer" with no token is an empty key.
    """
    if scheme["type"] == "header":
        return request.headers.get(scheme["name"])
    value = request.headers.get("authorization")
    if value is None:
        return None
    kind, _, token = value.partition(" ")
    return token.strip() if kind.lower() == "bearer" else None


def whole(key: str) -> Callable[[str | None], bool]:
    """The correct rule: the whole key, compared in constant time."""
    return lambda sent: sent is not None and hmac.compare_digest(sent.encode(), key.encode())


def unauthorized(request: Request) -> Response:
    return JSONResponse(UNAUTHORIZED, status_code=401)


async def ticks() -> AsyncIterator[bytes]:
    yield b'data: {"type":"tick"}\n\n'
    yield b'data: {"type":"done"}\n\n'


def stream() -> Response:
    return StreamingResponse(ticks(), media_type="text/event-stream")


@dataclass
class Seen:
    """What a server was asked: (method, path, key as sent or None, query parameters)."""

    requests: list[tuple[str, str, str | None, dict[str, str]]] = field(default_factory=list)

    def note(self, request: Request, key: str | None) -> None:
        self.requests.append(
            (request.method, request.url.path, key, dict(request.query_params.items()))
        )

    def calls(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _, _ in self.requests]


def keyed_app(
    accepts: Callable[[str | None], bool],
    scheme: Mapping[str, str] = BEARER,
    *,
    refuse: Callable[[Request], Response] = unauthorized,
    accept: Callable[[], Response] = stream,
    query_names: Sequence[str] = (),
    seen: Seen | None = None,
) -> Starlette:
    """GET /events: `accept` when `accepts` the key (from the header, or from one of
    `query_names` when the header is absent), else `refuse`."""
    seen = seen if seen is not None else Seen()

    async def events(request: Request) -> Response:
        key = sent_key(request, scheme)
        if key is None:
            names = [n for n in query_names if n in request.query_params]
            key = request.query_params[names[0]] if names else None
        seen.note(request, key)
        return accept() if accepts(key) else refuse(request)

    return Starlette(routes=[Route("/events", events)])


# -- 1. A correct server ---------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_server_comparing_the_whole_key_passes(
    tmp_path: Path, target: Target, scheme: Mapping[str, str]
) -> None:
    seen = Seen()
    results = judge_keyed(tmp_path, target, keyed_app(whole(KEY), scheme, seen=seen), scheme)
    assert outcomes(results) == ALL_PASS, {c: r.message for c, r in results.items()}
    assert results[MISSING].message == "key:missing: pass"
    assert results[MALFORMED].message == "key:empty: pass; key:garbled: pass"
    assert results[WRONG].message == "key:look-alike: pass; key:truncated: pass; key:extended: pass"
    assert results[IN_QUERY].message == "key:in-query: pass"
    # one request per probe, each with the key wrong in its own way; the real key never
    # in the header, and in the query only under every name a key is looked for there
    assert seen.calls() == [("GET", "/events")] * len(PROBES)
    keys = sorted(str(k) for _, _, k, _ in seen.requests)
    wrong = ["None", "None", "", GARBLED, look_alike(KEY), KEY[:-1], KEY + "x"]
    assert keys == sorted(wrong)
    in_query = [q for _, _, _, q in seen.requests if q]
    names = set(QUERY_NAMES) | ({"x-api-key"} if scheme["type"] == "header" else set())
    assert in_query == [dict.fromkeys(names, KEY)]


def test_the_reference_servers_pass_every_auth_check() -> None:
    run = ConformanceRun(RunConfig(select=["auth."]), environ={})
    try:
        results = run.judge_all(run.cases("auth"))
    finally:
        run.close()
    specs = {"promptfloe", "prism-agents", "miniapp-studio", "workflow-stream"}
    assert {(r.spec, r.check) for r in results} == {(s, c) for s in specs for c in CHECKS}
    assert [(r.id, r.message) for r in results if r.outcome is not PASS] == []


PRISM_KEYS = {"api_key": KEY, "unscoped_api_key": "prism-live-no-read-scope"}


def prism_app(refusal: Mapping[str, str]) -> Starlette:
    """The Prism Agents event stream of the bundled spec, taking a bearer key."""

    async def events(request: Request) -> Response:
        assert request.path_params["deployment_id"] == "dep_7xK9s2"
        if whole(KEY)(sent_key(request, BEARER)):
            return stream()
        return JSONResponse(dict(refusal), status_code=401)

    return Starlette(routes=[Route("/v1/deployments/{deployment_id}/events", events)])


def test_a_bundled_spec_passes_against_a_correct_server(target: Target) -> None:
    app = prism_app({"error": "unauthorized"})
    results = run_auth(target, app, [bundled("prism-agents")], PRISM_KEYS)
    assert outcomes(results) == {f"prism-agents::events::{c}": PASS for c in CHECKS}


def test_a_refusal_with_another_error_code_warns_on_the_specs_assumption(target: Target) -> None:
    # prism-agents documents the code "unauthorized" for its 401; that it comes as
    # {"error": ...} is the spec's assumption error-body, so another code only warns
    app = prism_app({"error": "invalid_api_key", "message": "no"})
    results = run_auth(target, app, [bundled("prism-agents")], PRISM_KEYS)
    by_check = {r.check: r for r in results.values()}
    assert outcomes(by_check) == {MISSING: WARN, MALFORMED: WARN, WRONG: WARN, IN_QUERY: PASS}
    for check in REFUSED:
        assert by_check[check].assumptions == ("error-body",)
        message = by_check[check].message
        assert line(message, "Expected:") == "Expected: error code 'unauthorized'"
        assert line(message, "Actual:") == "Actual: error 'invalid_api_key'"


# -- 2. No auth at all -----------------------------------------------------------------------


async def heartbeats() -> AsyncIterator[bytes]:
    while True:  # a stream that would never end: the probes must drop it
        yield b": heartbeat\n\n"
        await asyncio.sleep(0.05)


def endless() -> Response:
    return StreamingResponse(heartbeats(), media_type="text/event-stream")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_server_without_auth_fails_every_key_check(
    tmp_path: Path, target: Target, scheme: Mapping[str, str]
) -> None:
    app = keyed_app(lambda sent: True, scheme, accept=endless)
    results = judge_keyed(tmp_path, target, app, scheme)
    assert outcomes(results) == {MISSING: FAIL, MALFORMED: FAIL, WRONG: FAIL, IN_QUERY: WARN}
    missing = results[MISSING].message
    assert line(missing, "Expected:") == DOCUMENTED_401.format(why="no API key")
    assert line(missing, "Actual:").startswith("Actual: status 200")
    assert ": heartbeat" in line(missing, "Actual:")
    assert results[MALFORMED].message.startswith("key:empty: auth.key.malformed (MUST)")
    assert results[MALFORMED].message.endswith("(all: key:empty: fail; key:garbled: fail)")
    assert results[WRONG].message.startswith("key:look-alike: auth.key.wrong (MUST)")
    assert results[WRONG].message.endswith(
        "(all: key:look-alike: fail; key:truncated: fail; key:extended: fail)"
    )
    in_query = results[IN_QUERY].message
    assert in_query.startswith("key:in-query: auth.key.in-query (SHOULD)")
    assert line(in_query, "Actual:").startswith("Actual: status 200")


# -- 3. A prefix comparison ------------------------------------------------------------------


def key_starts_with_sent(sent: str | None) -> bool:
    return bool(sent) and KEY.startswith(sent)


def sent_starts_with_key(sent: str | None) -> bool:
    return sent is not None and sent.startswith(KEY)


@pytest.mark.parametrize(
    ("scheme", "accepts", "variant", "why"),
    [
        pytest.param(
            BEARER,
            key_starts_with_sent,
            "key:truncated",
            "the key less its last character",
            id="key-starts-with-sent",
        ),
        pytest.param(
            HEADER,
            sent_starts_with_key,
            "key:extended",
            "the key with one more character",
            id="sent-starts-with-key",
        ),
    ],
)
def test_a_prefix_comparison_fails_the_wrong_key_naming_the_variant(
    tmp_path: Path,
    target: Target,
    scheme: Mapping[str, str],
    accepts: Callable[[str | None], bool],
    variant: str,
    why: str,
) -> None:
    results = judge_keyed(tmp_path, target, keyed_app(accepts, scheme), scheme)
    assert outcomes(results) == {MISSING: PASS, MALFORMED: PASS, WRONG: FAIL, IN_QUERY: PASS}
    message = results[WRONG].message
    assert message.startswith(f"{variant}: auth.key.wrong (MUST)")
    assert line(message, "Expected:") == DOCUMENTED_401.format(why=why)
    assert line(message, "Actual:").startswith("Actual: status 200")
    summary = {"key:look-alike": "pass", "key:truncated": "pass", "key:extended": "pass"}
    summary[variant] = "fail"
    assert message.endswith("(all: " + "; ".join(f"{k}: {v}" for k, v in summary.items()) + ")")


# -- 4. A format check -----------------------------------------------------------------------


def test_a_format_check_fails_the_wrong_key_by_the_look_alike(
    tmp_path: Path, target: Target
) -> None:
    def plausible(sent: str | None) -> bool:  # "sk-" and the right length: never compared
        return sent is not None and sent.startswith("sk-") and len(sent) == len(KEY)

    results = judge_keyed(tmp_path, target, keyed_app(plausible))
    assert outcomes(results) == {MISSING: PASS, MALFORMED: PASS, WRONG: FAIL, IN_QUERY: PASS}
    message = results[WRONG].message
    assert message.startswith("key:look-alike: auth.key.wrong (MUST)")
    assert line(message, "Expected:") == DOCUMENTED_401.format(why="a look-alike key nobody issued")
    assert line(message, "Actual:").startswith("Actual: status 200")
    assert message.endswith("(all: key:look-alike: fail; key:truncated: pass; key:extended: pass)")


# -- 5. An empty key accepted ----------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_server_accepting_an_empty_key_fails_malformed(
    tmp_path: Path, target: Target, scheme: Mapping[str, str]
) -> None:
    # "Authorization: Bearer" alone, or an x-api-key header with nothing in it, goes through
    seen = Seen()
    app = keyed_app(lambda sent: sent == "" or whole(KEY)(sent), scheme, seen=seen)
    results = judge_keyed(tmp_path, target, app, scheme)
    assert outcomes(results) == {MISSING: PASS, MALFORMED: FAIL, WRONG: PASS, IN_QUERY: PASS}
    message = results[MALFORMED].message
    assert message.startswith("key:empty: auth.key.malformed (MUST)")
    assert line(message, "Expected:") == DOCUMENTED_401.format(why="an empty API key")
    assert line(message, "Actual:").startswith("Actual: status 200")
    assert message.endswith("(all: key:empty: fail; key:garbled: pass)")
    assert [k for _, _, k, _ in seen.requests].count("") == 1


# -- 6. The key taken from the URL -----------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "name"),
    [
        pytest.param(BEARER, "api_key", id="api_key"),
        pytest.param(BEARER, QUERY_NAMES[-1], id=QUERY_NAMES[-1]),
        pytest.param(HEADER, "x-api-key", id="the-header-name"),
    ],
)
def test_a_key_taken_from_the_query_string_warns(
    tmp_path: Path, target: Target, scheme: Mapping[str, str], name: str
) -> None:
    app = keyed_app(whole(KEY), scheme, query_names=[name])
    results = judge_keyed(tmp_path, target, app, scheme)
    assert outcomes(results) == {**ALL_PASS, IN_QUERY: WARN}
    message = results[IN_QUERY].message
    assert message.startswith("key:in-query: auth.key.in-query (SHOULD)")
    assert line(message, "Expected:") == (
        "Expected: GET /events with the key in the query string refused (4xx)"
    )
    assert line(message, "Actual:").startswith("Actual: status 200")


def test_a_key_taken_from_the_query_string_fails_when_strict(
    tmp_path: Path, target: Target
) -> None:
    app = keyed_app(whole(KEY), query_names=["apikey"])
    results = judge_keyed(tmp_path, target, app, strict=True)
    assert outcomes(results) == {**ALL_PASS, IN_QUERY: FAIL}
    assert results[IN_QUERY].level == "SHOULD"


def test_a_query_key_answered_with_a_server_error_warns(tmp_path: Path, target: Target) -> None:
    def refuse(request: Request) -> Response:
        if request.query_params:
            return PlainTextResponse("boom", status_code=500)
        return unauthorized(request)

    results = judge_keyed(tmp_path, target, keyed_app(whole(KEY), refuse=refuse))
    assert outcomes(results) == {**ALL_PASS, IN_QUERY: WARN}
    actual = line(results[IN_QUERY].message, "Actual:")
    assert actual.startswith("Actual: status 500") and "boom" in actual


# -- 7. Refusals in the wrong form -----------------------------------------------------------


def refusing(status: int, body: bytes, media_type: str) -> Callable[[Request], Response]:
    return lambda request: Response(body, status_code=status, media_type=media_type)


WELL_FORMED = json.dumps(UNAUTHORIZED).encode()
STATUS_401 = DOCUMENTED_401.format(why="no API key")


@pytest.mark.parametrize(
    ("refuse", "expected", "actual"),
    [
        pytest.param(
            refusing(403, WELL_FORMED, "application/json"),
            STATUS_401,
            "Actual: status 403",
            id="403-instead-of-401",
        ),
        pytest.param(
            refusing(401, b"Unauthorized", "text/plain"),
            STATUS_401,
            "Actual: a body that is not JSON: 'Unauthorized'",
            id="text-plain-body",
        ),
        pytest.param(
            refusing(401, b'{"error": "unauthorized"}', "application/json"),
            STATUS_401,
            "Actual: $: 'message' is a required property",
            id="documented-field-missing",
        ),
        pytest.param(
            refusing(401, b'{"error": "bad_key", "message": "no"}', "application/json"),
            "Expected: error code 'unauthorized'",
            "Actual: error 'bad_key'",
            id="wrong-error-code",
        ),
        pytest.param(
            refusing(401, WELL_FORMED, "text/event-stream"),
            STATUS_401,
            "Actual: an error status with a stream content type text/event-stream",
            id="stream-content-type",
        ),
    ],
)
def test_a_refusal_in_the_wrong_form_fails(
    tmp_path: Path,
    target: Target,
    refuse: Callable[[Request], Response],
    expected: str,
    actual: str,
) -> None:
    results = judge_keyed(tmp_path, target, keyed_app(whole(KEY), refuse=refuse))
    # the query probe only needs a 4xx, which each of these is
    assert outcomes(results) == {MISSING: FAIL, MALFORMED: FAIL, WRONG: FAIL, IN_QUERY: PASS}
    assert line(results[MISSING].message, "Expected:") == expected
    for check in REFUSED:
        assert line(results[check].message, "Actual:").startswith(actual)


def test_a_server_error_for_a_garbled_key_fails_malformed(tmp_path: Path, target: Target) -> None:
    def refuse(request: Request) -> Response:
        if sent_key(request, BEARER) == GARBLED:  # "not a key" breaks its key parser
            return PlainTextResponse("Internal Server Error", status_code=500)
        return unauthorized(request)

    results = judge_keyed(tmp_path, target, keyed_app(whole(KEY), refuse=refuse))
    assert outcomes(results) == {**ALL_PASS, MALFORMED: FAIL}
    message = results[MALFORMED].message
    assert message.startswith("key:garbled: auth.key.malformed (MUST)")
    assert line(message, "Expected:") == DOCUMENTED_401.format(why="a garbled API key")
    actual = line(message, "Actual:")
    assert actual.startswith("Actual: status 500") and "Internal Server Error" in actual
    assert message.endswith("(all: key:empty: pass; key:garbled: fail)")


def test_the_garbled_probe_is_not_hidden_as_a_secret(tmp_path: Path, target: Target) -> None:
    # "not a key" is sent to every target alike: it is no secret, and masking it garbles
    # the requirement the message quotes and what the server said about it
    def refuse(request: Request) -> Response:
        sent = sent_key(request, BEARER)
        if sent == GARBLED:
            return PlainTextResponse(f"cannot parse API key {sent!r}", status_code=500)
        return unauthorized(request)

    results = judge_keyed(tmp_path, target, keyed_app(whole(KEY), refuse=refuse))
    assert outcomes(results) == {**ALL_PASS, MALFORMED: FAIL}
    message = results[MALFORMED].message
    assert 'is no key at all ("not a key")' in line(message, "Requirement:")
    assert "cannot parse API key 'not a key'" in line(message, "Actual:")


# -- 8. Setup flows --------------------------------------------------------------------------


def session_app(seen: Seen, *, create_status: int = 201) -> Starlette:
    """POST /sessions makes s-1, s-2, ... (with the real key only); the stream and the
    DELETE of a session need the real key and a session that exists."""
    made = itertools.count(1)
    live: set[str] = set()
    check = whole(KEY)

    def refused(request: Request) -> Response | None:
        key = sent_key(request, BEARER)
        seen.note(request, key)
        return None if check(key) else unauthorized(request)

    async def create(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        if create_status != 201:
            return JSONResponse({"error": "busy", "message": "try later"}, create_status)
        sid = f"s-{next(made)}"
        live.add(sid)
        return JSONResponse({"id": sid}, status_code=201)

    async def events(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        if request.path_params["sid"] not in live:
            return JSONResponse({"error": "not_found", "message": "no such session"}, 404)
        return stream()

    async def delete(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        live.discard(request.path_params["sid"])
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/sessions", create, methods=["POST"]),
            Route("/sessions/{sid}/events", events),
            Route("/sessions/{sid}", delete, methods=["DELETE"]),
        ]
    )


def test_the_setup_runs_once_with_the_real_key_and_the_probes_hit_its_resource(
    tmp_path: Path, target: Target
) -> None:
    seen = Seen()
    results = judge_keyed(tmp_path, target, session_app(seen), setup=True)
    assert outcomes(results) == ALL_PASS, {c: r.message for c, r in results.items()}
    # the setup first, once for all seven probes and with the real key; the teardown last
    assert seen.calls() == [
        ("POST", "/sessions"),
        *[("GET", "/sessions/s-1/events")] * len(PROBES),
        ("DELETE", "/sessions/s-1"),
    ]
    assert seen.requests[0][2] == KEY and seen.requests[-1][2] == KEY
    assert KEY not in [key for _, _, key, _ in seen.requests[1:-1]]


def test_a_failed_setup_leaves_the_key_checks_untestable(tmp_path: Path, target: Target) -> None:
    seen = Seen()
    results = judge_keyed(tmp_path, target, session_app(seen, create_status=503), setup=True)
    assert outcomes(results) == dict.fromkeys(CHECKS, UNTESTABLE)
    for result in results.values():
        assert result.message.startswith("key:"), result.message
        assert "the request could not be prepared" in result.message
        assert "expected status 201, got 503" in result.message
        assert KEY not in result.message
    # the setup was tried once, and no probe was sent without a resource to probe
    assert seen.calls() == [("POST", "/sessions")]


def miniapp_app(seen: Seen) -> Starlette:
    """Miniapp Studio: create a deployment (ready at the first poll), stream prompts to
    it, delete it; every request needs the x-api-key."""
    check = whole(KEY)
    deployment = {"created_at": "2025-01-01T00:00:00Z", "namespace": "ns", "name": "dep-1"}

    def refused(request: Request) -> Response | None:
        key = sent_key(request, HEADER)
        seen.note(request, key)
        return None if check(key) else unauthorized(request)

    async def deployments(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        if request.method == "DELETE":
            return JSONResponse({"deleted": 1})
        return JSONResponse({**deployment, "isReady": False})

    async def by_name(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        assert request.query_params["name"] == "dep-1"
        return JSONResponse({**deployment, "isReady": True})

    async def prompt_stream(request: Request) -> Response:
        body = await request.json()
        assert body["name"] == "dep-1"  # the deployment the setup made, for every probe
        if (no := refused(request)) is not None:
            return no
        return stream()

    return Starlette(
        routes=[
            Route("/v2/studio/deployment/", deployments, methods=["POST", "DELETE"]),
            Route("/v2/studio/deployment/by-name-and-fid", by_name),
            Route("/v2/studio/deployment/prompt/stream", prompt_stream, methods=["POST"]),
        ]
    )


def test_a_bundled_header_key_spec_runs_its_setup_once_and_passes(target: Target) -> None:
    seen = Seen()
    variables = {"api_key": KEY, "signature": "JFS-live-signature"}
    results = run_auth(target, miniapp_app(seen), [bundled("miniapp-studio")], variables)
    assert outcomes(results) == {f"miniapp-studio::prompt_stream::{c}": PASS for c in CHECKS}, [
        r.message for r in results.values()
    ]
    assert seen.calls() == [
        ("POST", "/v2/studio/deployment/"),
        ("GET", "/v2/studio/deployment/by-name-and-fid"),
        *[("POST", "/v2/studio/deployment/prompt/stream")] * len(PROBES),
        ("DELETE", "/v2/studio/deployment/"),
    ]
    keys = [key for _, _, key, _ in seen.requests]
    assert keys[:2] == [KEY, KEY] and keys[-1] == KEY  # setup and teardown
    assert KEY not in keys[2:-1]  # never a probe


# -- 9. A stream opened with an issued token -------------------------------------------------

WF_KEY = "wf-live-8Hk2Lm4Nq6Rs"
WF_KEYS = {"api_key": WF_KEY, "no_credit_api_key": "wf-live-no-credits-1"}
WF = "workflow-stream::run_stream::"


def workflow_app(seen: Seen, *, checks_key: bool) -> Starlette:
    """GET /api/v1/token issues single-use tokens (checking the key, or not); the stream
    takes one as ?token=."""
    issued: set[str] = set()
    made = itertools.count(1)

    async def token(request: Request) -> Response:
        key = sent_key(request, BEARER)
        seen.note(request, key)
        if checks_key and not whole(WF_KEY)(key):
            return JSONResponse({"error": "unauthorized", "message": "bad key"}, 401)
        value = f"st_{next(made)}_issued"
        issued.add(value)
        return JSONResponse({"token": value, "expires_in": 60})

    async def run_stream(request: Request) -> Response:
        seen.note(request, None)
        value = request.query_params.get("token", "")
        if value not in issued:
            return JSONResponse({"error": "unauthorized", "message": "bad token"}, 401)
        issued.discard(value)
        return PlainTextResponse("hello")

    return Starlette(
        routes=[
            Route("/api/v1/token", token),
            Route("/api/v1/run/{workflow_id}/stream", run_stream, methods=["POST"]),
        ]
    )


def test_key_probes_of_a_token_stream_go_to_an_open_token_endpoint(target: Target) -> None:
    seen = Seen()
    app = workflow_app(seen, checks_key=False)
    results = run_auth(target, app, [bundled("workflow-stream")], WF_KEYS, select=[f"{WF}auth."])
    assert outcomes(results) == {
        f"{WF}{MISSING}": FAIL,
        f"{WF}{MALFORMED}": FAIL,
        f"{WF}{WRONG}": FAIL,
        f"{WF}{IN_QUERY}": WARN,
    }
    missing = results[f"{WF}{MISSING}"]
    assert missing.id == "workflow-stream::run_stream::auth.key.missing"
    assert line(missing.message, "Expected:").startswith(
        "Expected: status 401 (GET /api/v1/token with no API key)"
    )
    assert line(missing.message, "Actual:").startswith("Actual: status 200")
    assert (
        "GET /api/v1/token with the key in the query string" in results[f"{WF}{IN_QUERY}"].message
    )
    # every probe asked for a token; none went to the stream
    assert seen.calls() == [("GET", "/api/v1/token")] * len(PROBES)


def test_key_probes_of_a_token_stream_pass_a_token_endpoint_that_checks_the_key(
    target: Target,
) -> None:
    seen = Seen()
    app = workflow_app(seen, checks_key=True)
    results = run_auth(target, app, [bundled("workflow-stream")], WF_KEYS, select=[f"{WF}auth."])
    assert outcomes(results) == {f"{WF}{c}": PASS for c in CHECKS}
    assert seen.calls() == [("GET", "/api/v1/token")] * len(PROBES)


# -- 10. Secrets -----------------------------------------------------------------------------


def php_json(document: Mapping[str, str]) -> bytes:
    """JSON as PHP's json_encode writes it by default: every / escaped as \\/."""
    return json.dumps(document).replace("/", "\\/").encode()


def echo_app(scheme: Mapping[str, str], key: str, failing: Sequence[str]) -> Starlette:
    """A server repeating whatever key it got. A wrong key named in `failing` (as the
    probe names it) gets a 403 whose body and headers repeat the key; another wrong key
    a 401 that does the same; no key a 401 with the wrong error code; the key in the
    query a 500 repeating it."""
    probes = {
        look_alike(key): "key:look-alike",
        key[:-1]: "key:truncated",
        key + "x": "key:extended",
    }

    async def events(request: Request) -> Response:
        sent = sent_key(request, scheme)
        if sent is None and "api_key" in request.query_params:
            echoed = request.query_params["api_key"]
            body = php_json({"error": "internal", "message": f"cannot use {echoed}"})
            return Response(body, 500, {"x-echo": echoed}, media_type="application/json")
        if sent is None:
            return JSONResponse({"error": "no_key", "message": "no key"}, 401)
        headers = {
            "x-echo": sent,
            "www-authenticate": f'Bearer error="invalid_token", error_description="{sent}"',
        }
        document = {"error": "unauthorized", "message": f"unknown key {sent}", "key": sent}
        if probes.get(sent) in failing:
            return Response(php_json(document), 403, headers, media_type="application/json")
        return JSONResponse(document, 401, headers)

    return Starlette(routes=[Route("/events", events)])


def shows(message: str, secret: str) -> bool:
    """Whether the message shows the secret in any recognisable form: as it is, encoded
    for a URL or a form, or with its characters escaped by a backslash (JSON, repr)."""
    views = {message, message.replace("\\", ""), unquote(message)}
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    return any(f in v for f in forms for v in views)


WRONG_KEYS = ("key:look-alike", "key:truncated", "key:extended")


@pytest.mark.parametrize(
    ("scheme", "key", "shown"),
    [
        pytest.param(BEARER, KEY, "key:truncated", id="bearer-plain-key-truncated"),
        pytest.param(BEARER, ODD_KEY, "key:look-alike", id="bearer-odd-key-look-alike"),
        pytest.param(BEARER, ODD_KEY, "key:truncated", id="bearer-odd-key-truncated"),
        pytest.param(HEADER, ODD_KEY, "key:extended", id="header-odd-key-extended"),
    ],
)
def test_no_message_shows_the_key_or_a_near_miss(
    tmp_path: Path, target: Target, scheme: Mapping[str, str], key: str, shown: str
) -> None:
    # the wrong keys from `shown` on fail, so the message shows `shown`'s answer
    failing = WRONG_KEYS[WRONG_KEYS.index(shown) :]
    app = echo_app(scheme, key, failing)
    results = judge_keyed(tmp_path, target, app, scheme, key=key)
    assert outcomes(results) == {MISSING: FAIL, MALFORMED: PASS, WRONG: FAIL, IN_QUERY: WARN}
    assert results[WRONG].message.startswith(f"{shown}: ")
    assert line(results[WRONG].message, "Actual:").startswith("Actual: status 403")
    assert line(results[IN_QUERY].message, "Actual:").startswith("Actual: status 500")
    secrets = {key, key[:-1], key + "x", look_alike(key)}
    leaks = [
        (result.check, secret)
        for result in results.values()
        for secret in secrets
        if shows(result.message, secret)
    ]
    assert leaks == [], "\n\n".join(r.message for r in results.values())


# -- 11. Correct but unusual -----------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
def test_an_unusual_but_correct_server_passes(
    tmp_path: Path, target: Target, scheme: Mapping[str, str]
) -> None:
    """Reads "bearer" in any case, refuses with WWW-Authenticate, a problem+json media type
    and more fields than documented, and takes a key full of +, / and =."""

    def refuse(request: Request) -> Response:
        document = {
            **UNAUTHORIZED,
            "request_id": "req_81f2",
            "docs": "https://example.com/errors#unauthorized",
            "retryable": False,
        }
        return Response(
            json.dumps(document).encode(),
            status_code=401,
            media_type="application/problem+json; charset=utf-8",
            headers={"www-authenticate": 'Bearer realm="api", error="invalid_token"'},
        )

    app = keyed_app(whole(ODD_KEY), scheme, refuse=refuse)
    results = judge_keyed(tmp_path, target, app, scheme, key=ODD_KEY)
    assert outcomes(results) == ALL_PASS, {c: r.message for c, r in results.items()}


def test_the_lower_case_bearer_server_takes_its_key_and_refuses_a_bare_scheme() -> None:
    # what the server of the tests above takes, seen directly
    def request(value: str) -> Request:
        scope = {"type": "http", "headers": [(b"authorization", value.encode())]}
        return Request(scope)

    assert whole(ODD_KEY)(sent_key(request(f"bearer {ODD_KEY}"), BEARER))
    assert whole(ODD_KEY)(sent_key(request(f"BEARER {ODD_KEY}"), BEARER))
    assert not whole(ODD_KEY)(sent_key(request("Bearer"), BEARER))
    assert not whole(ODD_KEY)(sent_key(request(f"Basic {ODD_KEY}"), BEARER))


# -- 12. look_alike --------------------------------------------------------------------------


def kind(char: str) -> str:
    if char.isdigit():
        return "digit"
    if char.islower():
        return "lower"
    if char.isupper():
        return "upper"
    return char


SAMPLE_KEYS = [
    KEY,
    ODD_KEY,
    "pk_live_51HbX2eKq9ZyW",
    "prism-ref-key-full-scope",
    "ABCDEFGHIJ0123456789",
    "x7",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
]


@pytest.mark.parametrize("value", SAMPLE_KEYS)
def test_look_alike_has_the_same_length_and_shape(value: str) -> None:
    made = look_alike(value)
    assert made != value
    assert len(made) == len(value)
    assert [kind(c) for c in made] == [kind(c) for c in value]


@pytest.mark.parametrize(
    ("value", "prefix"),
    [(KEY, "sk-"), ("pk_live_51HbX2eKq9ZyW", "pk_"), ("prism-ref-key-full-scope", "prism-")],
)
def test_look_alike_keeps_a_short_letter_prefix(value: str, prefix: str) -> None:
    made = look_alike(value)
    assert made.startswith(prefix)
    # only the prefix is kept: every letter and digit after it is drawn anew
    rest, original = made[len(prefix) :], value[len(prefix) :]
    assert sum(a != b for a, b in zip(rest, original, strict=True)) > len(original) // 2


def test_look_alike_keeps_no_prefix_longer_than_seven_letters() -> None:
    value = "longprefix-abcdefghijklmnop"
    made = look_alike(value)
    assert not made.startswith("longprefix-")
    assert [kind(c) for c in made] == [kind(c) for c in value]


def test_look_alike_is_deterministic() -> None:
    for value in SAMPLE_KEYS:
        assert look_alike(value) == look_alike(value)
        assert look_alike(value, seed=3) == look_alike(value, seed=3)
    assert look_alike(KEY, seed=1) != look_alike(KEY, seed=2)


def test_look_alike_never_returns_its_input() -> None:
    rng = random.Random(0)
    alphabet = string.ascii_letters + string.digits + "-_+/=."
    values = ["0", "a", "Z", "-", "sk-", "sk-0", "----", ""] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(2000)
    ]
    for value in values:
        for seed in range(3):
            assert look_alike(value, seed) != value, (value, seed)
