"""The bad-input suite: OpenAPI documents built from the spec's request schemas,
reproducible generated requests, and verdicts of `input.invalid.refused` and
`input.valid.accepted` against real servers on loopback, with replayable curl commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from gathered import gathered
from schemathesis.specs.openapi.definitions import OPENAPI_31
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from streamconform.capture.session import TargetSession
from streamconform.checks import REGISTRY
from streamconform.core.evidence import BadInput, Probe
from streamconform.core.outcome import Outcome, Result
from streamconform.engine.run import ConformanceRun, RunConfig
from streamconform.model import load_spec
from streamconform.model.spec import Endpoint, Spec
from streamconform.model.templates import path_params
from streamconform.scenarios.boundaries import broken_requests
from streamconform.scenarios.input import Drawn, draw_cases, openapi_for, send_probes
from streamconform.servers import BackgroundServer

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sk-gen-7f3a9c2e51d04b68"
BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["prompt"],
    "properties": {
        "prompt": {"type": "string", "minLength": 1},
        "action": {"enum": ["a", "b"]},
        "n": {"type": "integer", "minimum": 0},
    },
}
SPEC = """\
streamconform: 1
name: gen
title: A one-endpoint API whose requests are generated from its body schema
source: {document: test}
variables:
  api_key: {env: GEN_API_KEY, secret: true, default: unused-default}
auth:
  key: {type: header, name: x-api-key, value: "${api_key}"}
endpoints:
  chat:
    method: POST
    path: /chat
    framing: sse
    auth: key
    content_types: [text/event-stream]
    body: {prompt: hello}
    body_schema: BODY_SCHEMA
    errors:
      - status: 404
        when: The model named in the request does not exist
    events:
      type_from: json-field
      data: json
      types:
        tick: {schema: {type: object}}
        done: {schema: {type: object}}
      terminal: [done]
    timing: {response_timeout: 2, idle_timeout: 1, max_duration: 1, close_after_terminal: 1}
requirements:
  - id: input
    quote: Requests that break the schema are refused; valid ones are served.
    level: MUST
    checks: [input.invalid.refused, input.valid.accepted]
""".replace("BODY_SCHEMA", json.dumps(BODY_SCHEMA))
VALID_BODY = jsonschema.Draft202012Validator(BODY_SCHEMA)
INVALID = "input.invalid.refused"
VALID = "input.valid.accepted"


def without_case_id(case: Drawn) -> dict[str, Any]:
    """What a case sends, minus the per-case id schemathesis makes up on every draw."""
    sent = dict(case.sent)
    sent["headers"] = {k: v for k, v in sent["headers"].items() if k != "X-Schemathesis-TestCaseId"}
    return sent


def query_endpoint(properties: dict[str, Any], required: Sequence[str] = ()) -> Endpoint:
    return Endpoint(
        name="search",
        method="GET",
        path="/items/{item_id}/events",
        framing=None,
        query_schema={"type": "object", "required": list(required), "properties": properties},
    )


def query_names(document: dict[str, Any], path: str, method: str) -> list[str]:
    operation = document["paths"][path][method]
    return [p["name"] for p in operation.get("parameters", ()) if p["in"] == "query"]


def openapi_errors(document: dict[str, Any]) -> list[str]:
    """Where the document breaks the OpenAPI 3.1 meta-schema (the copy schemathesis ships)."""
    return [e.message for e in jsonschema.Draft202012Validator(OPENAPI_31).iter_errors(document)]


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "gen.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture
def chat(spec_file: Path) -> Endpoint:
    return load_spec(spec_file, known_checks=set(REGISTRY)).endpoints["chat"]


# --- the OpenAPI document -------------------------------------------------------------


def test_a_body_schema_becomes_a_required_json_request_body(chat: Endpoint) -> None:
    """schemathesis reads the body schema from an OpenAPI 3.1 requestBody."""
    document = openapi_for(chat)
    assert openapi_errors(document) == []
    assert openapi_errors({**document, "openapi": "3.0.3"})  # the validation is not vacuous
    assert document["openapi"].startswith("3.1.")
    operation = document["paths"]["/chat"]["post"]
    assert operation["requestBody"] == {
        "required": True,
        "content": {"application/json": {"schema": BODY_SCHEMA}},
    }
    assert "parameters" not in operation


def test_query_and_path_parameters_are_declared() -> None:
    """Every documented query parameter keeps its schema and required flag; path
    parameters are required strings."""
    endpoint = query_endpoint(
        {"since": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}},
        required=["since"],
    )
    document = openapi_for(endpoint, "positive")
    assert openapi_errors(document) == []
    assert document["paths"]["/items/{item_id}/events"]["get"]["parameters"] == [
        {"name": "since", "in": "query", "required": True, "schema": {"type": "string"}},
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1},
        },
        {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}},
    ]
    assert "requestBody" not in document["paths"]["/items/{item_id}/events"]["get"]


@pytest.mark.parametrize(
    ("schema", "required", "kept"),
    [
        pytest.param({"type": "string"}, False, False, id="any-string-left-out"),
        pytest.param({}, False, False, id="untyped-left-out"),
        pytest.param({"type": "string"}, True, True, id="required-kept"),
        pytest.param({"enum": ["a", "b"]}, False, True, id="enum-kept"),
        pytest.param({"type": "integer"}, False, True, id="integer-kept"),
        pytest.param({"type": "boolean"}, False, True, id="boolean-kept"),
        pytest.param({"type": "string", "pattern": "^[a-z]+$"}, False, True, id="pattern-kept"),
        pytest.param({"type": "string", "minLength": 3}, False, True, id="minLength-kept"),
        pytest.param({"type": "string", "maxLength": 3}, False, True, id="maxLength-kept"),
        pytest.param({"type": "string", "format": "uuid"}, False, True, id="format-kept"),
    ],
)
def test_negative_mode_leaves_out_parameters_any_string_satisfies(
    schema: dict[str, Any], required: bool, kept: bool
) -> None:
    """An "any string" parameter can only be broken by adding undeclared ones, which a
    server may ignore; it is dropped from negative documents, never from positive ones."""
    endpoint = query_endpoint({"p": schema}, required=["p"] if required else [])
    negative = openapi_for(endpoint, "negative")
    positive = openapi_for(endpoint, "positive")
    assert openapi_errors(negative) == openapi_errors(positive) == []
    assert ("p" in query_names(negative, endpoint.path, "get")) is kept
    assert query_names(positive, endpoint.path, "get") == ["p"]
    assert ("p" in endpoint.breakable_query()) is kept


def test_the_bundled_prompt_stream_document_is_built_from_its_spec() -> None:
    """The document carries the spec's own body schema (as the YAML file states it), and
    follows the spec when the schema changes: no hand-written copy is kept."""
    path = ROOT / "specs" / "miniapp-studio.yaml"
    endpoint = load_spec(path).endpoints["prompt_stream"]
    raw = yaml.safe_load(path.read_text())["endpoints"]["prompt_stream"]
    for mode in ("positive", "negative"):
        document = openapi_for(endpoint, mode)
        assert openapi_errors(document) == []
        assert document["info"]["title"] == "prompt_stream"
        assert list(document["paths"]) == ["/v2/studio/deployment/prompt/stream"]
        operation = document["paths"]["/v2/studio/deployment/prompt/stream"]
        assert list(operation) == ["post"]
        body = operation["post"]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == raw["body_schema"]
        assert "parameters" not in operation["post"]  # no query schema, no path parameters
    changed = dataclasses.replace(endpoint, body_schema={"type": "object", "required": ["x"]})
    schema = openapi_for(changed)["paths"][endpoint.path]["post"]["requestBody"]["content"]
    assert schema["application/json"]["schema"] == {"type": "object", "required": ["x"]}


def bundled_input_endpoints() -> list[Any]:
    specs = [load_spec(path) for path in sorted((ROOT / "specs").glob("*.yaml"))]
    return [
        pytest.param(spec, endpoint, id=f"{spec.name}::{endpoint.name}")
        for spec in specs
        for endpoint in spec.endpoints.values()
        if endpoint.body_schema is not None or endpoint.query_schema is not None
    ]


@pytest.mark.parametrize(("spec", "endpoint"), bundled_input_endpoints())
def test_every_bundled_input_schema_gives_a_valid_document(spec: Spec, endpoint: Endpoint) -> None:
    """Each bundled endpoint with a request schema yields valid OpenAPI 3.1 in both modes,
    with its path parameters and (in negative mode) only its breakable query parameters."""
    method = endpoint.method.lower()
    declared = list((endpoint.query_schema or {}).get("properties", {}))
    for mode, expected in (("positive", declared), ("negative", endpoint.breakable_query())):
        document = openapi_for(endpoint, mode)
        assert openapi_errors(document) == [], mode
        operation = document["paths"][endpoint.path][method]
        assert query_names(document, endpoint.path, method) == expected
        in_path = [p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"]
        assert in_path == path_params(endpoint.path)
        assert ("requestBody" in operation) is (endpoint.body_schema is not None)


# --- drawing cases --------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["negative", "positive"])
def test_the_same_seed_draws_the_same_cases(chat: Endpoint, mode: str) -> None:
    """A fixed seed makes CI runs repeat; another seed explores other requests."""
    first = [without_case_id(c) for c in draw_cases(chat, mode, 8, seed=11)]
    again = [without_case_id(c) for c in draw_cases(chat, mode, 8, seed=11)]
    other = [without_case_id(c) for c in draw_cases(chat, mode, 8, seed=12)]
    assert first and first == again
    assert other != first


@pytest.mark.parametrize("count", [1, 3, 12])
@pytest.mark.parametrize("mode", ["negative", "positive"])
def test_count_bounds_the_number_of_cases(chat: Endpoint, mode: str, count: int) -> None:
    """--input-cases is an upper bound on the requests sent per endpoint and mode."""
    assert 1 <= len(draw_cases(chat, mode, count, seed=0)) <= count


def test_generated_bodies_break_or_keep_the_schema_as_their_mode_says(chat: Endpoint) -> None:
    """Negative bodies are invalid (or not JSON at all); positive bodies are valid."""
    for case in draw_cases(chat, "negative", 12, seed=0):
        sent = without_case_id(case)
        if "json" in sent:
            assert not VALID_BODY.is_valid(sent["json"]), sent["json"]
        else:
            assert sent.get("data") is not None
    for case in draw_cases(chat, "positive", 12, seed=0):
        assert VALID_BODY.is_valid(without_case_id(case)["json"])


@pytest.mark.parametrize("seed", range(4))
def test_negative_cases_carry_no_undeclared_query_parameters(seed: int) -> None:
    """An extra parameter proves nothing (servers may ignore it), nor does an "any string"
    one: negative cases only use the breakable parameters."""
    endpoint = query_endpoint(
        {
            "free": {"type": "string"},
            "limit": {"type": "integer", "minimum": 1},
            "kind": {"enum": ["a", "b"]},
        }
    )
    cases = draw_cases(endpoint, "negative", 12, seed=seed)
    assert cases
    for case in cases:
        assert set(case.sent.get("params") or {}) <= {"limit", "kind"}, case.sent


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param(query_endpoint({"q": {"type": "string"}, "any": {}}), id="only-any-string"),
        pytest.param(Endpoint("bare", "GET", "/bare"), id="no-schemas"),
    ],
)
def test_nothing_breakable_draws_no_negative_case(endpoint: Endpoint) -> None:
    """With nothing to break there is no invalid request to send (the check says so)."""
    assert draw_cases(endpoint, "negative", 12, seed=0) == []
    assert draw_cases(endpoint, "positive", 3, seed=0)


# --- verdicts against real servers ----------------------------------------------------

Answer = Callable[[Request], Awaitable[Response]]


async def sse_stream(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        for n in range(3):
            await asyncio.sleep(0.02)
            yield b'data: {"type":"tick","n":%d}\n\n' % n
        yield b'data: {"type":"done"}\n\n'

    return StreamingResponse(body(), media_type="text/event-stream")


async def json_400(request: Request) -> Response:
    return JSONResponse({"error": "invalid_request", "message": "the body breaks the schema"}, 400)


async def json_500(request: Request) -> Response:
    return JSONResponse({"error": "internal", "message": "unexpected input"}, 500)


async def html_400(request: Request) -> Response:
    return Response("<html><body>Bad Request</body></html>", 400, media_type="text/html")


async def json_422(request: Request) -> Response:
    return JSONResponse({"error": "unprocessable", "message": "not today"}, 422)


async def json_404(request: Request) -> Response:
    return JSONResponse({"error": "not_found", "message": "no such model"}, 404)


@dataclasses.dataclass
class ChatServer:
    """Checks the key, validates the body, and answers each kind of request its way;
    records every body it got, in order."""

    on_invalid: Answer
    on_valid: Answer
    received: list[bytes] = dataclasses.field(default_factory=list)

    def app(self) -> Starlette:
        async def chat(request: Request) -> Response:
            raw = await request.body()
            self.received.append(raw)
            if request.headers.get("x-api-key") != SECRET:
                return JSONResponse({"error": "unauthorized", "message": "bad key"}, 401)
            try:
                valid = VALID_BODY.is_valid(json.loads(raw))
            except ValueError:
                valid = False
            return await (self.on_valid if valid else self.on_invalid)(request)

        return Starlette(routes=[Route("/chat", chat, methods=["POST"])])


@contextlib.contextmanager
def chat_run(spec_file: Path, server: ChatServer, **config: Any) -> Iterator[ConformanceRun]:
    """A run of the one-endpoint spec against the server, which stays up meanwhile."""
    with BackgroundServer(server.app()) as running:
        run = ConformanceRun(
            RunConfig(specs=[spec_file], target=running.url, **config),
            environ={"GEN_API_KEY": SECRET},
        )
        try:
            yield run
        finally:
            run.close()


def judge_input(spec_file: Path, server: ChatServer, **config: Any) -> dict[str, Result]:
    """Both bad-input checks of the one-endpoint spec against the server; id -> result."""
    with chat_run(spec_file, server, **config) as run:
        return {r.check: r for r in run.judge_all(run.cases("bad-input"))}


@pytest.mark.parametrize(
    ("on_invalid", "on_valid", "outcomes", "fragment"),
    [
        pytest.param(
            json_400,
            sse_stream,
            {INVALID: Outcome.PASS, VALID: Outcome.PASS},
            "",
            id="both-pass-on-a-correct-server",
        ),
        pytest.param(
            json_500,
            sse_stream,
            {INVALID: Outcome.FAIL, VALID: Outcome.PASS},
            "status 500 application/json",
            id="invalid.refused-fails-on-500",
        ),
        pytest.param(
            sse_stream,
            sse_stream,
            {INVALID: Outcome.FAIL, VALID: Outcome.PASS},
            "status 200 text/event-stream",
            id="invalid.refused-fails-on-a-started-stream",
        ),
        pytest.param(
            html_400,
            sse_stream,
            {INVALID: Outcome.FAIL, VALID: Outcome.PASS},
            "400 with text/html",
            id="invalid.refused-fails-on-an-html-400",
        ),
        pytest.param(
            json_400,
            json_422,
            {INVALID: Outcome.PASS, VALID: Outcome.FAIL},
            "status 422",
            id="valid.accepted-fails-on-an-undocumented-422",
        ),
        pytest.param(
            json_400,
            json_404,
            {INVALID: Outcome.PASS, VALID: Outcome.PASS},
            "",
            id="valid.accepted-passes-on-a-documented-404",
        ),
    ],
)
def test_bad_input_verdicts_against_real_servers(
    spec_file: Path,
    on_invalid: Answer,
    on_valid: Answer,
    outcomes: dict[str, Outcome],
    fragment: str,
) -> None:
    """Invalid requests want 400/422 with JSON; valid ones a stream or a documented answer."""
    results = judge_input(spec_file, ChatServer(on_invalid, on_valid))
    assert {check: r.outcome for check, r in results.items()} == outcomes, results
    for check, result in results.items():
        assert SECRET not in result.message
        if result.outcome is Outcome.FAIL:
            assert fragment in result.message, result.message
            assert re.search(REPLAY, result.message), result.message
        else:
            mode = "negative" if check == INVALID else "positive"
            assert result.message == f"input:{mode}: pass"


# a replay line: `curl …`, or `printf '\x..' | curl …` for bytes a shell argument cannot hold
REPLAY = r"replay: ((?:printf '[^']*' \| )?curl -X POST .*?)"


def data_argument(curl: str) -> bytes:
    """The body a curl line sends: from its --data-raw, or from the printf piped into it."""
    piped = re.match(r"printf '((?:\\x[0-9a-f]{2})*)' \| ", curl)
    if piped:
        return bytes.fromhex(piped.group(1).replace("\\x", ""))
    raw = curl.rpartition(" --data-raw ")[2]
    return shlex.split(raw)[0].encode()


def test_a_failure_shows_a_redacted_curl_replay_with_the_body(spec_file: Path) -> None:
    """The message lets a person replay what failed: method, URL, the body that was sent,
    and the key hidden as [REDACTED]."""
    server = ChatServer(json_500, sse_stream)
    with chat_run(spec_file, server) as run:
        spec = run.specs[0]
        (case,) = [c for c in run.cases("bad-input") if c.check.id == INVALID]
        message = run.judge(case).message
        probes = negative_probes(run, spec)
    assert "Actual: status 500" in message
    assert SECRET not in message
    assert "-H 'x-api-key: [REDACTED]'" in message
    shown = re.findall(REPLAY + r"(?: at response head)?$", message, re.M)
    assert shown, message
    assert shown == [p.curl for p in probes[: len(shown)]]
    assert [data_argument(curl) for curl in shown] == server.received[: len(shown)]


def negative_probes(run: ConformanceRun, spec: Spec) -> tuple[Probe, ...]:
    evidence = gathered(run, spec, spec.endpoints["chat"], "input:negative")
    assert isinstance(evidence, BadInput)
    return evidence.probes


def test_input_cases_bounds_the_probes_sent(spec_file: Path) -> None:
    """RunConfig(input_cases=N) draws at most N requests per mode; the invalid ones are
    followed by one request per constraint of the schema, each saying what it breaks."""
    server = ChatServer(json_400, sse_stream)
    with chat_run(spec_file, server, input_cases=3) as run:
        spec = run.specs[0]
        sent = {}
        for mode in ("input:negative", "input:positive"):
            evidence = gathered(run, spec, spec.endpoints["chat"], mode)
            assert isinstance(evidence, BadInput)
            drawn = [p for p in evidence.probes if not p.breaks]
            assert 1 <= len(drawn) <= 3, mode
            sent[mode] = evidence.probes
    built = [p for p in sent["input:negative"] if p.breaks]
    assert built and all(p.where.startswith("body_schema") for p in built)
    assert not any(p.breaks for p in sent["input:positive"])
    assert len(server.received) == len(sent["input:negative"]) + len(sent["input:positive"])


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def replay(curl: str, key: str = SECRET) -> str:
    """Run a curl line in bash with the key put in place of [REDACTED]; the status it got."""
    command = curl.replace("[REDACTED]", key)
    assert "\x00" not in command, f"a shell command cannot carry a NUL byte: {curl!r}"
    result = subprocess.run(
        ["bash", "-c", f"{command} -s -o /dev/null -w '%{{http_code}}'"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@needs_curl
def test_a_replayed_curl_command_gets_the_same_answer(spec_file: Path) -> None:
    """Each failing probe's curl line, with the key put back, sends the same bytes and gets
    the same status; left redacted, the key is refused. (Bodies with a NUL byte are the
    subject of the next test.)"""
    server = ChatServer(json_500, sse_stream)
    with chat_run(spec_file, server) as run:
        spec = run.specs[0]
        probes = negative_probes(run, spec)
        sent = list(server.received)
        failing = [
            (probe, body)
            for probe, body in zip(probes, sent, strict=True)
            if probe.status == 500 and b"\x00" not in body
        ]
        assert len(failing) >= 3
        for probe, body in failing:
            assert "[REDACTED]" in probe.curl and SECRET not in probe.curl
            assert (replay(probe.curl), server.received[-1]) == ("500", body), probe.curl
        assert replay(failing[0][0].curl, key="[REDACTED]") == "401"


def raw_case(data: bytes) -> Drawn:
    """A drawn case that sends these bytes as its body."""
    headers = {"Content-Type": "application/json", "X-Schemathesis-TestCaseId": "x"}
    return Drawn({"headers": headers, "params": {}, "data": data}, "body_schema")


@needs_curl
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"prompt": ""}', id="json-text"),
        pytest.param(b'it\'s "quoted" $HOME `id`\r\n', id="shell-characters"),
        pytest.param(b'{"prompt": "\\u00e9", "n": -1}', id="backslash"),
        pytest.param(b"\xa9\xb3\n", id="not-utf8"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\x00", id="nul-byte"),
        pytest.param(b"{\x00}", id="nul-in-text"),
        pytest.param(b"\xff\x00\x01", id="nul-in-binary"),
    ],
)
def test_a_curl_replay_sends_the_very_same_body(spec_file: Path, body: bytes) -> None:
    """Whatever bytes a generated body holds, its curl line replays them exactly."""
    server = ChatServer(json_500, sse_stream)
    with chat_run(spec_file, server) as run:
        spec = run.specs[0]
        binding = run.bindings[spec.name]

        async def send() -> list[Probe]:
            session = TargetSession(
                spec,
                spec.endpoints["chat"],
                binding.target or "",
                binding.variables,
                1.0,
                run.redactor,
            )
            try:
                # positive: no one-thing-wrong requests follow the one given
                probes, _ = await send_probes(session, [raw_case(body)], "positive")
            finally:
                await session.aclose()
            return probes

        (probe,) = asyncio.run(send())
        assert (probe.status, server.received) == (500, [body])
        assert (replay(probe.curl), server.received[-1]) == (str(probe.status), body), probe.curl


# --- the command line -----------------------------------------------------------------


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamconform.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_the_cli_prints_the_same_replay_lines_for_a_fixed_seed(
    tmp_path: Path, spec_file: Path
) -> None:
    """`run --select input. --seed 7` fails on a server that crashes on bad input and
    prints curl replays, identical from one run to the next."""
    server = ChatServer(json_500, sse_stream)
    args = ("run", "--spec", str(spec_file), "--select", "input.", "--input-cases", "4")
    with BackgroundServer(server.app()) as running:
        runs = [
            cli(
                *args,
                "--target",
                running.url,
                "--seed",
                "7",
                cwd=tmp_path,
                env={"GEN_API_KEY": SECRET},
            )
            for _ in range(2)
        ]
    replays = []
    for result in runs:
        assert result.returncode == 1, result.stdout[-3000:] + result.stderr
        assert SECRET not in result.stdout + result.stderr
        lines = re.findall(REPLAY + r"(?: at response head)?$", result.stdout, re.M)
        assert lines, result.stdout[-3000:]
        assert all("-H 'x-api-key: [REDACTED]'" in line for line in lines)
        replays.append(lines)
    assert replays[0] == replays[1]


# --- one thing wrong, for each constraint -----------------------------------------------


def test_every_constraint_of_the_body_is_broken_on_its_own() -> None:
    """Below the minimum, a string or a boolean where an integer goes, null where nothing
    allows it, empty where a length is required, a missing required field, an unknown enum
    value: each built on the spec's own valid body, with one thing wrong."""
    cases = broken_requests({"prompt": "hello", "n": 3}, BODY_SCHEMA, {}, None)
    made = [(c.breaks, c.body) for c in cases]
    for wanted in [
        ("n: minimum 0", {"prompt": "hello", "n": -1}),
        ("n: type integer, given string", {"prompt": "hello", "n": "1"}),
        ("n: type integer, given boolean", {"prompt": "hello", "n": False}),
        ("n: type integer, given null", {"prompt": "hello", "n": None}),
        ("prompt: minLength 1", {"prompt": "", "n": 3}),
        ("prompt: required", {"n": 3}),
        ("action: enum", {"prompt": "hello", "n": 3, "action": "not-one-of-the-values"}),
        ("the body is a JSON array", []),
    ]:
        assert wanted in made, wanted
    for case in cases:
        assert not VALID_BODY.is_valid(case.body), case
        assert case.where == "body_schema" or case.where.startswith("body_schema.")


def test_query_constraints_are_broken_as_a_query_string_carries_them() -> None:
    schema = {
        "type": "object",
        "required": ["fid"],
        "properties": {"fid": {"type": "integer", "minimum": 0}, "q": {"type": "string"}},
    }
    cases = broken_requests(None, None, {"fid": "7", "q": "x"}, schema)
    made = [(c.breaks, c.query) for c in cases]
    assert ("fid: minimum 0", {"fid": "-1", "q": "x"}) in made
    assert ("fid: required", {"q": "x"}) in made
    assert ("fid: type integer, given string", {"fid": "true", "q": "x"}) in made
    assert ("fid: type integer, given number", {"fid": "1.5", "q": "x"}) in made
    assert all(c.where == "query_schema.fid" for c in cases)  # any string is a valid q


async def lax_coercion(request: Request) -> Response:
    """A server that validates by coercing, as lax frameworks do: "5" and false pass for an
    integer (false is 0), and null for a missing value."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"error": "invalid", "message": "not JSON"}, 400)
    if not isinstance(body, dict) or not str(body.get("prompt") or ""):
        return JSONResponse({"error": "invalid", "message": "prompt"}, 422)
    n = body.get("n", 0)
    try:
        if n is not None and int(n) < 0:
            return JSONResponse({"error": "invalid", "message": "n"}, 422)
    except (TypeError, ValueError):
        return JSONResponse({"error": "invalid", "message": "n"}, 422)
    return await sse_stream(request)


def test_a_server_that_coerces_types_is_caught_by_one_thing_wrong(spec_file: Path) -> None:
    server = ChatServer(lax_coercion, sse_stream)
    with chat_run(spec_file, server, input_cases=1) as run:
        (result,) = run.judge_all([c for c in run.cases() if c.check.id == INVALID])
        accepted = {p.breaks for p in negative_probes(run, run.specs[0]) if p.status == 200}
    assert result.outcome is Outcome.FAIL, result.message
    assert "(it breaks " in result.message
    # what a random draw seldom hits: false and "1" taken for an integer, null for nothing
    assert {
        "n: type integer, given boolean",
        "n: type integer, given string",
        "n: type integer, given null",
        "prompt: type string, given number",
    } <= accepted, accepted
    assert "n: minimum 0" not in accepted  # what the server does check


PLAIN_SPEC = """\
streamconform: 1
name: plain
title: A stream and an endpoint that does not stream
source: {document: test}
endpoints:
  chat:
    method: POST
    path: /chat
    framing: sse
    content_types: [text/event-stream]
    body: {prompt: hello}
    events:
      type_from: json-field
      types: {tick: {schema: {type: object}}, done: {schema: {type: object}}}
      terminal: [done]
  settings:
    method: POST
    path: /settings
    body: {prompt: hello, n: 1}
    body_schema: BODY_SCHEMA
  lookup:
    method: GET
    path: /lookup
    query: {n: 1}
    query_schema: {type: object, required: [n], properties: {n: {type: integer, minimum: 0}}}
requirements:
  - id: r
    quote: q
    level: MUST
    checks: [input.invalid.refused]
""".replace("BODY_SCHEMA", json.dumps(BODY_SCHEMA))


def test_endpoints_that_do_not_stream_get_bad_input_too(tmp_path: Path) -> None:
    """Every documented endpoint with a request schema is tried with invalid requests; a
    valid one is sent only where it changes nothing (GET)."""

    async def settings(request: Request) -> Response:  # takes anything
        return JSONResponse({"ok": True})

    async def lookup(request: Request) -> Response:  # checks its query
        n = request.query_params.get("n", "")
        if not n.isdigit():
            return JSONResponse({"error": "invalid", "message": "n"}, 400)
        return JSONResponse({"n": int(n)})

    app = Starlette(
        routes=[
            Route("/chat", sse_stream, methods=["POST"]),
            Route("/settings", settings, methods=["POST"]),
            Route("/lookup", lookup),
        ]
    )
    (tmp_path / "plain.yaml").write_text(PLAIN_SPEC)
    with BackgroundServer(app) as running:
        run = ConformanceRun(RunConfig(specs=[tmp_path / "plain.yaml"], target=running.url))
        try:
            outcomes = {r.id: r.outcome for r in run.judge_all(run.cases("bad-input"))}
        finally:
            run.close()
    assert outcomes == {
        "plain::chat::input.invalid.refused": Outcome.SKIP,
        "plain::chat::input.valid.accepted": Outcome.SKIP,
        "plain::settings::input.invalid.refused": Outcome.FAIL,
        "plain::settings::input.valid.accepted": Outcome.SKIP,
        "plain::lookup::input.invalid.refused": Outcome.PASS,
        "plain::lookup::input.valid.accepted": Outcome.PASS,
    }
