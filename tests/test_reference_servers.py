"""The embedded reference servers against their specs and the API documents.

Every verdict the tool gives against a real target is only as good as the reference
servers it was calibrated on: a server that drifts from its spec would make passing
checks meaningless. Each test talks to a real uvicorn server on 127.0.0.1 with plain
httpx, decodes streams with the project's own decoders, and stops reading on its own
terms (an event count or a deadline), because long-lived streams never close.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from streamconform.core.transcript import End
from streamconform.decode import Event, NDJSONDecoder, SSEDecoder
from streamconform.engine.run import ConformanceRun, RunConfig
from streamconform.model import EventsSpec, Spec, load_spec, resolve_variables
from streamconform.model.timing import MIN_BOUND
from streamconform.servers import LOOPBACK, BackgroundServer, reference_app_for
from streamconform.servers.workflow_stream import OUTPUT

ROOT = Path(__file__).resolve().parents[1]
SPECS_DIR = ROOT / "specs"
TIMEOUT = httpx.Timeout(10)
DEADLINE = 10.0  # seconds any single wait in this file may take before it fails
POLL = 0.01  # seconds between two polls of a state that changes with (compressed) time


# -- Helpers ------------------------------------------------------------------------------


def spec_named(name: str) -> Spec:
    return load_spec(SPECS_DIR / f"{name}.yaml")


@dataclass
class Live:
    """A reference server running for some tests: its spec, variables, URL and scale."""

    spec: Spec
    variables: dict[str, Any]
    url: str
    scale: float

    def client(self, headers: Mapping[str, str] | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=TIMEOUT, headers=dict(headers or {}))


@contextmanager
def serve(spec_name: str, scale: float | None = None) -> Iterator[Live]:
    """Start the spec's reference server with its default variables."""
    spec = spec_named(spec_name)
    assert spec.reference is not None
    variables = resolve_variables(spec, overrides={}, profile={}, environ={})
    scale = spec.reference.time_scale if scale is None else scale
    with BackgroundServer(reference_app_for(spec, variables, scale)) as server:
        assert server.url.startswith(f"http://{LOOPBACK}:")
        yield Live(spec, variables, server.url, scale)


def validator(schema: Mapping[str, Any] | bool) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(schema: Mapping[str, Any] | bool, instance: Any) -> list[str]:
    return [e.message for e in validator(schema).iter_errors(instance)]


def grammar_regex(grammar: str) -> re.Pattern[str]:
    """A spec grammar (labels, |, *, ?, +, parentheses) as a regex over "label;" strings."""
    tokens = re.findall(r"[A-Za-z_][\w.]*|[()|*?+]", grammar)
    assert "".join(tokens) == re.sub(r"\s+", "", grammar), f"unreadable grammar {grammar!r}"
    parts = []
    for token in tokens:
        if token == "(":
            parts.append("(?:")
        elif token in {")", "|", "*", "?", "+"}:
            parts.append(token)
        else:
            parts.append(f"(?:{re.escape(token)};)")
    return re.compile("".join(parts))


def matches_grammar(grammar: str, labels: list[str | None]) -> bool:
    return grammar_regex(grammar).fullmatch("".join(f"{label};" for label in labels)) is not None


def assert_json_error(
    response: httpx.Response,
    status: int,
    *,
    error: str | None = None,
    schema: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A documented error answer: the status, a JSON {"error", "message"} body, no stream."""
    assert response.status_code == status, (response.status_code, response.text)
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith("application/json"), content_type
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str), body
    assert isinstance(body.get("message"), str), body
    if error is not None:
        assert body["error"] == error, body
    if schema is not None:
        assert schema_errors(schema, body) == []
    return body


def error_answer(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send a request expected to fail; never block on a stream if it wrongly succeeds."""
    with client.stream(method, url, **kwargs) as response:
        if not 200 <= response.status_code < 300:
            response.read()
    return response


class SSEReader:
    """Reads one SSE response incrementally with the project's decoder, keeping raw bytes."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.decoder = SSEDecoder(parse_json=True)
        self.events: list[Event] = []
        self.raw = bytearray()
        self._chunks = response.iter_raw()

    def read_until(
        self, done: Callable[[SSEReader], bool], deadline: float = DEADLINE
    ) -> list[Event]:
        """Read until `done` holds; fail after `deadline` seconds or if the stream ends."""
        end = time.monotonic() + deadline
        while not done(self):
            if time.monotonic() > end:
                pytest.fail(f"condition not met within {deadline} s; got {self.summary()}")
            try:
                chunk = next(self._chunks)
            except StopIteration:
                pytest.fail(f"stream ended before the condition was met; got {self.summary()}")
            self.raw += chunk
            self.events += self.decoder.feed(chunk, time.monotonic())
        return self.events

    def summary(self) -> list[tuple[str, str]]:
        return [(e.type, e.id) for e in self.events]


def ndjson_events(response: httpx.Response, limit: int | None = None) -> list[dict[str, Any]]:
    """Every JSON object of an NDJSON response until it closes (or the first `limit`)."""
    decoder = NDJSONDecoder()
    events: list[dict[str, Any]] = []
    end = time.monotonic() + DEADLINE
    for chunk in response.iter_raw():
        events += [e.payload for e in decoder.feed(chunk, time.monotonic())]
        if limit is not None and len(events) >= limit:
            return events[:limit]
        assert time.monotonic() < end, f"stream still open after {DEADLINE} s"
    decoder.close(time.monotonic())
    assert decoder.log.notes == [], decoder.log.notes
    return events


# -- 1. Every stream's events against its schemas and grammar -----------------------------


def _streams_with_events() -> list[Any]:
    params = []
    for path in sorted(SPECS_DIR.glob("*.yaml")):
        spec = load_spec(path)
        for endpoint in spec.stream_endpoints:
            if endpoint.events is not None:
                params.append(
                    pytest.param(spec.name, endpoint.name, id=f"{spec.name}-{endpoint.name}")
                )
    return params


STREAMS_WITH_EVENTS = _streams_with_events()


@dataclass
class Conformance:
    """One embedded conformance run over the bundled specs."""

    run: ConformanceRun

    def spec(self, name: str) -> Spec:
        return next(s for s in self.run.specs if s.name == name)


@pytest.fixture(scope="module")
def conformance() -> Iterator[Conformance]:
    """The bundled specs captured from the embedded servers."""
    run = ConformanceRun(RunConfig(), environ={})
    try:
        yield Conformance(run)
    finally:
        run.close()


def test_grammar_regex_reads_the_spec_grammars():
    """The grammar helper accepts the tutorial's example stream and rejects a bad order."""
    miniapp = spec_named("miniapp-studio").endpoints["prompt_stream"].events
    assert miniapp is not None and miniapp.grammar is not None
    example = ["connection", "system.init", "assistant", "result.success"]
    assert matches_grammar(miniapp.grammar.source, example)
    assert not matches_grammar(
        miniapp.grammar.source, ["assistant", "connection", "result.success"]
    )
    assert not matches_grammar(miniapp.grammar.source, ["connection", "system.init"])
    assert not matches_grammar(miniapp.grammar.source, ["system.init", "connection", "error"])


@pytest.mark.parametrize(("spec_name", "endpoint_name"), STREAMS_WITH_EVENTS)
def test_stream_events_are_declared_valid_and_end_on_a_terminal(
    conformance: Conformance, spec_name: str, endpoint_name: str
):
    """Every captured event has a declared label, passes its schema, and the stream ends
    with a terminal event (nothing after it on a finite stream), in grammar order."""
    spec = conformance.spec(spec_name)
    endpoint = spec.endpoints[endpoint_name]
    rules = endpoint.events
    assert rules is not None
    transcript = conformance.run.transcript(spec, endpoint)
    assert transcript.status in endpoint.success, (transcript.status, transcript.end_detail)
    assert transcript.events, transcript.end_detail
    labels = [rules.label(e) for e in transcript.events]
    undeclared = [label for label in labels if label not in rules.types]
    assert undeclared == [], f"labels not declared in the spec: {undeclared}"
    for event, label in zip(transcript.events, labels, strict=True):
        assert label is not None
        errors = schema_errors(rules.types[label].schema, event.payload)
        assert errors == [], f"event #{event.index} ({label}): {errors}"
    assert rules.is_terminal(labels[-1]), labels
    terminals = [i for i, label in enumerate(labels) if rules.is_terminal(label)]
    if rules.long_lived:
        assert transcript.end is End.TERMINAL, transcript.end_detail
    else:
        assert terminals == [len(labels) - 1], f"events after a terminal one: {labels}"
        assert transcript.end is End.CLOSED, transcript.end_detail
    assert matches_grammar(rules.grammar.source, labels), labels


def test_prism_capture_follows_the_run_its_trigger_started(conformance: Conformance):
    """On the multiplexed deployment stream, the captured events are those of the run the
    trigger started, ending with that run's run_status completed."""
    spec = conformance.spec("prism-agents")
    endpoint = spec.endpoints["events"]
    rules = endpoint.events
    assert rules is not None
    transcript = conformance.run.transcript(spec, endpoint)
    run_id = transcript.captures["run_id"]
    assert [e.payload["run_id"] for e in transcript.events] == [run_id] * len(transcript.events)
    assert rules.label(transcript.events[-1]) == "run_status.completed"


# -- 2. Miniapp Studio -------------------------------------------------------------------

MINIAPP_BASE = "/v2/studio/deployment"
PROMPT_STREAM = f"{MINIAPP_BASE}/prompt/stream"


@pytest.fixture(scope="module")
def miniapp() -> Iterator[Live]:
    with serve("miniapp-studio") as live:
        yield live


@pytest.fixture(scope="module")
def miniapp_client(miniapp: Live) -> Iterator[httpx.Client]:
    with miniapp.client({"x-api-key": miniapp.variables["api_key"]}) as client:
        yield client


def create_ready_deployment(client: httpx.Client, fid: int) -> dict[str, Any]:
    """Create a deployment and poll it (as the tutorial says) until isReady is true."""
    created = client.post(f"{MINIAPP_BASE}/", json={"fid": fid})
    assert created.status_code == 200, created.text
    name = created.json()["name"]
    end = time.monotonic() + DEADLINE
    while True:
        got = client.get(f"{MINIAPP_BASE}/by-name-and-fid", params={"name": name, "fid": fid})
        assert got.status_code == 200, got.text
        if got.json()["isReady"] is True:
            return got.json()
        assert time.monotonic() < end, f"deployment {name} not ready after {DEADLINE} s"
        time.sleep(POLL)


@pytest.fixture(scope="module")
def ready_deployment(miniapp: Live, miniapp_client: httpx.Client) -> dict[str, Any]:
    return create_ready_deployment(miniapp_client, miniapp.variables["fid"])


def prompt_body(miniapp: Live, name: str) -> dict[str, Any]:
    return {
        "fid": miniapp.variables["fid"],
        "name": name,
        "prompt": miniapp.variables["prompt"],
        "action": miniapp.variables["action"],
    }


def test_miniapp_prompt_stream_without_api_key_is_401_json(miniapp, ready_deployment):
    """A missing x-api-key is refused with a JSON error before any event stream starts."""
    with miniapp.client() as client:
        response = error_answer(
            client, "POST", PROMPT_STREAM, json=prompt_body(miniapp, ready_deployment["name"])
        )
    assert "text/event-stream" not in response.headers.get("content-type", "")
    assert_json_error(response, 401, schema=miniapp.spec.endpoints["prompt_stream"].error_schema)


def test_miniapp_prompt_stream_with_wrong_api_key_is_401(miniapp, ready_deployment):
    """A key that is not the allowlisted one is refused the same way."""
    with miniapp.client({"x-api-key": "not-the-key"}) as client:
        response = error_answer(
            client, "POST", PROMPT_STREAM, json=prompt_body(miniapp, ready_deployment["name"])
        )
    assert_json_error(response, 401)


def test_miniapp_prompt_stream_for_unknown_deployment_is_404(miniapp, miniapp_client):
    """Prompting a deployment name that was never created is a 404, not an empty stream."""
    body = prompt_body(miniapp, miniapp.variables["missing_deployment_name"])
    response = error_answer(miniapp_client, "POST", PROMPT_STREAM, json=body)
    assert_json_error(response, 404)


def test_miniapp_prompt_stream_by_deployment_id_instead_of_name(miniapp, miniapp_client):
    """The body may name the deployment by its UUID instead of its name (assumption
    deployment-id), and the stream is the same."""
    deployment = create_ready_deployment(miniapp_client, miniapp.variables["fid"])
    body = prompt_body(miniapp, deployment["name"])
    del body["name"]
    body["deployment_id"] = deployment["deployment_id"]
    decoder = SSEDecoder(parse_json=True)
    with miniapp_client.stream("POST", PROMPT_STREAM, json=body) as response:
        assert response.status_code == 200
        events = [e for chunk in response.iter_bytes() for e in decoder.feed(chunk, 0.0)]
    assert events[-1].payload["type"] == "result"


def test_miniapp_prompt_stream_before_deployment_is_ready_is_409():
    """At real speed a fresh deployment is not ready yet, and prompting it is refused."""
    with (
        serve("miniapp-studio", scale=1.0) as slow,
        slow.client({"x-api-key": slow.variables["api_key"]}) as client,
    ):
        created = client.post(f"{MINIAPP_BASE}/", json={"fid": slow.variables["fid"]})
        assert created.status_code == 200, created.text
        assert created.json()["isReady"] is False
        body = prompt_body(slow, created.json()["name"])
        response = error_answer(client, "POST", PROMPT_STREAM, json=body)
    assert_json_error(response, 409)


BAD_PROMPT_BODIES = {
    "unknown-action": {"action": "deploy"},
    "empty-prompt": {"prompt": ""},
    "negative-fid": {"fid": -1},
    "image-not-base64": {"images": ["***"]},
    "no-name-nor-deployment-id": {"name": None},
}


@pytest.mark.parametrize("change", BAD_PROMPT_BODIES.values(), ids=BAD_PROMPT_BODIES.keys())
def test_miniapp_prompt_stream_body_breaking_schema_is_400(
    miniapp, miniapp_client, ready_deployment, change
):
    """A body the documented fields forbid is a 400 JSON error, even for a ready deployment."""
    body = {**prompt_body(miniapp, ready_deployment["name"]), **change}
    body = {k: v for k, v in body.items() if v is not None}
    schema = miniapp.spec.endpoints["prompt_stream"].body_schema
    assert schema is not None and schema_errors(schema, body) != []
    response = error_answer(miniapp_client, "POST", PROMPT_STREAM, json=body)
    assert_json_error(response, 400)


def test_miniapp_deployment_lifecycle_create_get_list_delete(miniapp, miniapp_client):
    """Create, poll until ready, find it in the list, delete it; then it is gone."""
    spec, fid = miniapp.spec, miniapp.variables["fid"]
    deployment = create_ready_deployment(miniapp_client, fid)
    name = deployment["name"]
    assert schema_errors(spec.endpoints["get_deployment"].response_schema, deployment) == []
    assert deployment["url"]

    listed = miniapp_client.get(f"{MINIAPP_BASE}/", params={"fid": fid})
    assert listed.status_code == 200
    assert schema_errors(spec.endpoints["list_deployments"].response_schema, listed.json()) == []
    assert name in [d["name"] for d in listed.json()["deployments"]]

    deleted = miniapp_client.request("DELETE", f"{MINIAPP_BASE}/", json={"fid": fid, "name": name})
    assert deleted.status_code == 200, deleted.text

    got = miniapp_client.get(f"{MINIAPP_BASE}/by-name-and-fid", params={"name": name, "fid": fid})
    assert_json_error(got, 404)
    listed = miniapp_client.get(f"{MINIAPP_BASE}/", params={"fid": fid})
    assert name not in [d["name"] for d in listed.json()["deployments"]]


def test_miniapp_delete_all_removes_every_deployment_of_the_fid(miniapp, miniapp_client):
    """A DELETE with only a fid removes all of that fid's deployments and no one else's."""
    fid, other_fid = 424242, 434343
    mine = {miniapp_client.post(f"{MINIAPP_BASE}/", json={"fid": fid}).json()["name"]}
    mine.add(miniapp_client.post(f"{MINIAPP_BASE}/", json={"fid": fid}).json()["name"])
    theirs = miniapp_client.post(f"{MINIAPP_BASE}/", json={"fid": other_fid}).json()["name"]

    deleted = miniapp_client.request("DELETE", f"{MINIAPP_BASE}/", json={"fid": fid})
    assert deleted.status_code == 200, deleted.text

    listed = miniapp_client.get(f"{MINIAPP_BASE}/", params={"fid": fid}).json()
    assert listed == {"deployments": []}
    for name in mine:
        got = miniapp_client.get(
            f"{MINIAPP_BASE}/by-name-and-fid", params={"name": name, "fid": fid}
        )
        assert_json_error(got, 404)
    others = miniapp_client.get(f"{MINIAPP_BASE}/", params={"fid": other_fid}).json()
    assert [d["name"] for d in others["deployments"]] == [theirs]


def test_miniapp_blocking_prompt_returns_messages_ending_with_a_result(
    miniapp, miniapp_client, ready_deployment
):
    """The blocking prompt answers {"messages": [...]}: what the stream would carry, in
    grammar order, ending with a result."""
    rules = miniapp.spec.endpoints["prompt_stream"].events
    assert rules is not None
    response = miniapp_client.post(
        f"{MINIAPP_BASE}/prompt", json=prompt_body(miniapp, ready_deployment["name"])
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["messages"]
    messages = body["messages"]
    assert messages and messages[-1]["type"] == "result"
    labels = [rules.label(Event(i, 0, 0, 0.0, "", payload=m)) for i, m in enumerate(messages)]
    for message, label in zip(messages, labels, strict=True):
        assert label in rules.types, label
        assert schema_errors(rules.types[label].schema, message) == []
    assert matches_grammar(rules.grammar.source, labels), labels


# -- 3. PromptFloe ------------------------------------------------------------------------

BUILD = "/v1/apps/generate"
FLOE_SCALE = 0.002  # a build lasts 0.6 s, and so does the 5-minute keep-alive window


@pytest.fixture(scope="module")
def promptfloe() -> Iterator[Live]:
    with serve("promptfloe", scale=FLOE_SCALE) as live:
        yield live


def floe_client(live: Live) -> httpx.Client:
    return live.client({"Authorization": f"Bearer {live.variables['api_key']}"})


def build_body(live: Live) -> dict[str, Any]:
    return {"prompt": live.variables["prompt"]}


def run_events_path(run_id: str) -> str:
    return f"/v1/runs/{run_id}/events"


def finished_build(client: httpx.Client, live: Live) -> tuple[str, list[dict[str, Any]]]:
    """Stream one whole build: its run id and every event."""
    with client.stream("POST", BUILD, json=build_body(live)) as response:
        assert response.status_code == 200
        return response.headers["x-run-id"], ndjson_events(response)


def replay(client: httpx.Client, run_id: str, **params: str) -> list[dict[str, Any]]:
    with client.stream("GET", run_events_path(run_id), params=params) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("application/x-ndjson")
        return ndjson_events(response)


def test_promptfloe_build_stream_names_its_run_in_x_run_id(promptfloe):
    """A client needs the run id to re-attach: the build stream carries it in X-Run-Id."""
    with (
        floe_client(promptfloe) as client,
        client.stream("POST", BUILD, json=build_body(promptfloe)) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        assert response.headers.get("x-run-id")


def test_promptfloe_cursor_replays_exactly_the_events_after_it(promptfloe):
    """?cursor=<id of the 3rd event> replays the 4th event on, and nothing else."""
    with floe_client(promptfloe) as client:
        run_id, events = finished_build(client, promptfloe)
        assert len(events) > 3
        replayed = replay(client, run_id, cursor=events[2]["id"])
    assert [e["id"] for e in replayed] == [e["id"] for e in events[3:]]
    assert replayed == events[3:]


def test_promptfloe_run_events_without_cursor_replay_the_whole_run(promptfloe):
    """With no cursor, re-attaching to a finished run replays it from the first event."""
    with floe_client(promptfloe) as client:
        run_id, events = finished_build(client, promptfloe)
        replayed = replay(client, run_id)
    assert [e["id"] for e in replayed] == [e["id"] for e in events]
    assert replayed == events


def test_promptfloe_unknown_run_is_404_run_not_found(promptfloe):
    with floe_client(promptfloe) as client:
        response = error_answer(client, "GET", run_events_path("run_never_started"))
    assert_json_error(response, 404, error="run_not_found")


def test_promptfloe_cursor_not_in_the_run_is_400_invalid_cursor(promptfloe):
    """A cursor that is no event of a live run is refused, not replayed from somewhere."""
    with (
        floe_client(promptfloe) as client,
        client.stream("POST", BUILD, json=build_body(promptfloe)) as build,
    ):
        run_id = build.headers["x-run-id"]
        response = error_answer(
            client, "GET", run_events_path(run_id), params={"cursor": "evt_not_in_run"}
        )
    assert_json_error(response, 400, error="invalid_cursor")


@pytest.mark.parametrize("authorization", [None, "Bearer not-the-key"], ids=["missing", "wrong"])
def test_promptfloe_without_the_bearer_key_is_401(promptfloe, authorization):
    """Both the build stream and the re-attach endpoint need the API key."""
    headers = {"Authorization": authorization} if authorization else {}
    with promptfloe.client(headers) as client:
        build = error_answer(client, "POST", BUILD, json=build_body(promptfloe))
        events = error_answer(client, "GET", run_events_path("run_000001"))
    assert_json_error(build, 401)
    assert_json_error(events, 401)


def test_promptfloe_reattach_after_disconnect_misses_nothing_and_repeats_nothing(promptfloe):
    """Drop the build after two events, re-attach with the 2nd id as cursor: the two parts
    together are the whole run, each event once."""
    with floe_client(promptfloe) as client:
        with client.stream("POST", BUILD, json=build_body(promptfloe)) as response:
            run_id = response.headers["x-run-id"]
            first = ndjson_events(response, limit=2)
        rest = replay(client, run_id, cursor=first[1]["id"])
        whole = replay(client, run_id)
    rules = promptfloe.spec.endpoints["build"].events
    assert rules is not None
    assert rules.is_terminal(whole[-1]["type"])
    assert [e["id"] for e in first + rest] == [e["id"] for e in whole]
    assert first + rest == whole


def test_promptfloe_run_is_gone_after_the_keep_alive_window(promptfloe):
    """The server keeps a run 5 minutes after disconnect (0.6 s at this scale), not forever.

    The probe uses a cursor that is no event of the run: it answers 400 while the run
    exists and 404 once it expired, without attaching a reader (which would restart the
    keep-alive window).
    """
    resume = promptfloe.spec.endpoints["build"].events.resume  # type: ignore[union-attr]
    assert resume is not None and resume.window is not None
    window = resume.window * promptfloe.scale
    with floe_client(promptfloe) as client:
        with client.stream("POST", BUILD, json=build_body(promptfloe)) as response:
            run_id = response.headers["x-run-id"]
            ndjson_events(response, limit=2)
        closed_at = time.monotonic()
        answers = []
        while True:
            probe = client.get(run_events_path(run_id), params={"cursor": "evt_probe"})
            answers.append(probe.status_code)
            if probe.status_code == 404:
                gone_at = time.monotonic()
                break
            assert time.monotonic() - closed_at < window + 5, "run never expired"
            time.sleep(POLL)
    assert_json_error(probe, 404, error="run_not_found")
    assert set(answers[:-1]) <= {400}, answers
    assert gone_at - closed_at >= window


# -- 4. Workflow stream --------------------------------------------------------------------

WORKFLOW_SCALE = 0.008  # a whole stream 0.96 s; token lifetime 2 s (the floor)
TOKEN = "/api/v1/token"


@pytest.fixture(scope="module")
def workflow() -> Iterator[Live]:
    with serve("workflow-stream", scale=WORKFLOW_SCALE) as live:
        yield live


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def stream_token(live: Live, key: str | None = None) -> str:
    with live.client(bearer(key or live.variables["api_key"])) as client:
        response = client.get(TOKEN)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def stream_path(live: Live, workflow_var: str = "workflow_id") -> str:
    return f"/api/v1/run/{live.variables[workflow_var]}/stream"


def workflow_body(live: Live) -> dict[str, Any]:
    return {"topic": live.variables["topic"]}


@dataclass
class StreamedRun:
    token: str
    status: int
    headers: httpx.Headers
    chunks: list[bytes]

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


@pytest.fixture(scope="module")
def streamed_run(workflow: Live) -> StreamedRun:
    """One whole workflow stream, read to its end."""
    token = stream_token(workflow)
    with (
        workflow.client() as client,
        client.stream(
            "POST", stream_path(workflow), params={"token": token}, json=workflow_body(workflow)
        ) as response,
    ):
        chunks = list(response.iter_raw())
    return StreamedRun(token, response.status_code, response.headers, chunks)


@pytest.mark.parametrize("key", [None, "not-the-key"], ids=["missing", "wrong"])
def test_workflow_token_endpoint_needs_the_api_key(workflow, key):
    with workflow.client(bearer(key) if key else None) as client:
        response = client.get(TOKEN)
    assert_json_error(response, 401)


def test_workflow_token_endpoint_answers_token_and_expires_in(workflow):
    with workflow.client(bearer(workflow.variables["api_key"])) as client:
        response = client.get(TOKEN)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_in"}
    assert isinstance(body["token"], str) and body["token"]
    assert isinstance(body["expires_in"], int | float) and body["expires_in"] > 0
    assert schema_errors(workflow.spec.endpoints["token"].response_schema, body) == []


def test_workflow_token_opens_exactly_one_stream(workflow):
    """Tokens are single-use: the second request with the same token is a 401."""
    token = stream_token(workflow)
    with workflow.client() as client:
        with client.stream(
            "POST", stream_path(workflow), params={"token": token}, json=workflow_body(workflow)
        ) as first:
            assert first.status_code == 200
        second = error_answer(
            client,
            "POST",
            stream_path(workflow),
            params={"token": token},
            json=workflow_body(workflow),
        )
    assert_json_error(second, 401, schema=workflow.spec.endpoints["run_stream"].error_schema)


@pytest.mark.parametrize(
    "token",
    [None, "st_made_up_token", "api-key"],
    ids=["no-token", "made-up-token", "api-key-as-token"],
)
def test_workflow_stream_without_a_valid_token_is_401(workflow, token):
    """Only an issued token opens a stream; the API key itself is not one."""
    if token == "api-key":
        token = workflow.variables["api_key"]
    params = {"token": token} if token else {}
    with workflow.client() as client:
        response = error_answer(
            client, "POST", stream_path(workflow), params=params, json=workflow_body(workflow)
        )
    assert_json_error(response, 401)


def test_workflow_stream_is_text_plain_carrying_the_whole_output(workflow, streamed_run):
    """The answer is a real-time text/plain stream whose text is the generated output."""
    assert streamed_run.status == 200
    assert streamed_run.headers["content-type"].startswith("text/plain")
    assert "content-length" not in streamed_run.headers
    assert len([c for c in streamed_run.chunks if c]) > 1, "the output came in one piece"
    assert streamed_run.body.decode("utf-8") == "".join(OUTPUT)


def test_workflow_token_never_appears_in_the_stream_response(streamed_run):
    """No API key exposed on the client side: the token is not echoed back either."""
    assert streamed_run.status == 200
    token = streamed_run.token
    for name, value in streamed_run.headers.multi_items():
        assert token not in name and token not in value, name
    assert token.encode() not in streamed_run.body


def test_workflow_blocking_run_outputs_the_streamed_text(workflow, streamed_run):
    """The non-streaming alternative returns {"output"} equal to the streamed text."""
    with workflow.client(bearer(workflow.variables["api_key"])) as client:
        response = client.post(
            f"/api/v1/run/{workflow.variables['workflow_id']}", json=workflow_body(workflow)
        )
    assert response.status_code == 200, response.text
    assert response.json() == {"output": streamed_run.body.decode("utf-8")}


def test_workflow_concurrent_uses_of_one_token_open_exactly_one_stream(workflow):
    """Twenty simultaneous requests with one token: the token is consumed once."""
    count = 20
    token = stream_token(workflow)

    async def race() -> list[int]:
        limits = httpx.Limits(max_connections=count)
        async with httpx.AsyncClient(
            base_url=workflow.url, timeout=TIMEOUT, limits=limits
        ) as client:

            async def one() -> int:
                async with client.stream(
                    "POST",
                    stream_path(workflow),
                    params={"token": token},
                    json=workflow_body(workflow),
                ) as response:
                    return response.status_code

            return await asyncio.gather(*(one() for _ in range(count)))

    statuses = asyncio.run(race())
    assert sorted(statuses) == [200] + [401] * (count - 1), statuses


@pytest.mark.parametrize(
    ("key_var", "workflow_var", "status"),
    [
        ("no_credit_api_key", "workflow_id", 402),
        ("api_key", "missing_workflow_id", 404),
        ("api_key", "failing_workflow_id", 500),
    ],
    ids=["no-credits-402", "missing-workflow-404", "failing-workflow-500"],
)
def test_workflow_documented_errors_come_before_the_stream(workflow, key_var, workflow_var, status):
    """402, 404 and 500 are answered as JSON errors, never inside a 200 text stream."""
    token = stream_token(workflow, workflow.variables[key_var])
    with workflow.client() as client:
        response = error_answer(
            client,
            "POST",
            stream_path(workflow, workflow_var),
            params={"token": token},
            json=workflow_body(workflow),
        )
    assert not response.headers.get("content-type", "").startswith("text/plain")
    assert_json_error(response, status, schema=workflow.spec.endpoints["run_stream"].error_schema)


def test_workflow_token_expires_after_its_lifetime(workflow):
    """A token used after its lifetime (60 s compressed, but never below the 2 s floor of
    scaled bounds) is a 401; one used just before it still opens its stream."""
    lifetime = workflow.spec.auth["stream_token"].expiry
    assert lifetime is not None
    scaled_lifetime = max(lifetime * workflow.scale, MIN_BOUND)
    assert scaled_lifetime == MIN_BOUND
    early, late = stream_token(workflow), stream_token(workflow)
    issued = time.monotonic()
    time.sleep(scaled_lifetime - 1.0)  # the waits are the condition under test
    with workflow.client() as client:
        response = client.post(
            stream_path(workflow), params={"token": early}, json=workflow_body(workflow)
        )
    assert response.status_code == 200
    time.sleep(max(0.0, issued + scaled_lifetime + 0.25 - time.monotonic()))
    with workflow.client() as client:
        response = error_answer(
            client,
            "POST",
            stream_path(workflow),
            params={"token": late},
            json=workflow_body(workflow),
        )
    assert_json_error(response, 401)


# -- 5. Prism agents ------------------------------------------------------------------------

SSE_ACCEPT = {"Accept": "text/event-stream"}


@dataclass
class PrismRun:
    run_id: str
    started: dict[str, Any]
    events: list[Event]


@pytest.fixture(scope="module")
def prism() -> Iterator[Live]:
    with serve("prism-agents") as live:
        yield live


@pytest.fixture(scope="module")
def prism_client(prism: Live) -> Iterator[httpx.Client]:
    with prism.client(bearer(prism.variables["api_key"])) as client:
        yield client


def events_path(live: Live, deployment_var: str = "deployment_id") -> str:
    return f"/v1/deployments/{live.variables[deployment_var]}/events"


def start_run(client: httpx.Client, live: Live, thread_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"input": live.variables["run_input"]}
    if thread_id:
        body["thread_id"] = thread_id
    response = client.post(f"/v1/deployments/{live.variables['deployment_id']}/runs", json=body)
    assert response.status_code in live.spec.endpoints["start_run"].success, response.text
    return response.json()


def run_events(events: list[Event], run_id: str) -> list[Event]:
    return [e for e in events if isinstance(e.payload, dict) and e.payload.get("run_id") == run_id]


def run_finished(run_id: str) -> Callable[[SSEReader], bool]:
    """True once the reader has seen the run's run_status completed (or error)."""

    def done(reader: SSEReader) -> bool:
        return any(
            e.type == "run_status" and e.payload.get("status") in ("completed", "error")
            for e in run_events(reader.events, run_id)
        )

    return done


def wire(events: list[Event]) -> list[tuple[str, str, Any]]:
    return [(e.id, e.type, e.payload) for e in events]


@contextmanager
def subscribe(
    client: httpx.Client, live: Live, *, headers: Mapping[str, str] | None = None, **params: str
) -> Iterator[SSEReader]:
    """An open deployment stream (its response headers received, so it sees what follows)."""
    with client.stream(
        "GET", events_path(live), params=params, headers={**SSE_ACCEPT, **(headers or {})}
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield SSEReader(response)


@pytest.fixture(scope="module")
def prism_run(prism: Live, prism_client: httpx.Client) -> PrismRun:
    """One run started while subscribed, read until it completed."""
    with subscribe(prism_client, prism) as reader:
        started = start_run(prism_client, prism)
        reader.read_until(run_finished(started["run_id"]))
    return PrismRun(started["run_id"], started, run_events(reader.events, started["run_id"]))


def _prism_error_cases() -> list[Any]:
    spec = spec_named("prism-agents")
    cases = []
    for case in spec.endpoints["events"].errors:
        provoke = case.provoke or {}
        variables = provoke.get("variables", {})
        key = None if provoke.get("omit_auth") else variables.get("api_key", "${api_key}")
        deployment = variables.get("deployment_id", "${deployment_id}")
        cases.append(pytest.param(key, deployment, case.status, case.error, id=str(case.status)))
    return cases


def _resolve(live: Live, template: str | None) -> str | None:
    if template is None:
        return None
    match = re.fullmatch(r"\$\{(\w+)\}", template)
    return str(live.variables[match.group(1)]) if match else template


@pytest.mark.parametrize(("key", "deployment", "status", "error"), _prism_error_cases())
def test_prism_documented_errors_are_json_with_their_error_code(
    prism, key, deployment, status, error
):
    """401 unauthorized, 403 forbidden, 404 not_found, as the Errors table says."""
    api_key = _resolve(prism, key)
    deployment_id = _resolve(prism, deployment)
    with prism.client(bearer(api_key) if api_key else None) as client:
        response = error_answer(
            client, "GET", f"/v1/deployments/{deployment_id}/events", headers=SSE_ACCEPT
        )
    assert "text/event-stream" not in response.headers.get("content-type", "")
    schema = prism.spec.endpoints["events"].error_schema
    assert_json_error(response, status, error=error, schema=schema)


def test_prism_wrong_api_key_is_401_unauthorized(prism):
    with prism.client(bearer("not-the-key")) as client:
        response = error_answer(client, "GET", events_path(prism), headers=SSE_ACCEPT)
    assert_json_error(response, 401, error="unauthorized")


def test_prism_run_events_have_type_id_and_json_data(prism, prism_run):
    """Each event has an event type, an id and a JSON data payload; ids are unique."""
    schema = prism.spec.endpoints["start_run"].response_schema
    assert schema_errors(schema, prism_run.started) == []
    rules: EventsSpec = prism.spec.endpoints["events"].events  # type: ignore[assignment]
    base_types = {label.split(".")[0] for label in rules.types}
    events = prism_run.events
    assert events
    for event in events:
        assert event.type in base_types, event.type
        assert event.has_id_field and event.id, event
        assert isinstance(event.payload, dict), event.data
    ids = [e.id for e in events]
    assert len(set(ids)) == len(ids), ids
    assert rules.label(events[0]) == "run_status.running"
    assert rules.label(events[-1]) == "run_status.completed"


def test_prism_last_event_id_replays_the_rest_of_a_finished_run(prism, prism_client, prism_run):
    """Reconnecting with the 3rd event's id replays exactly the events after it."""
    third = prism_run.events[2]
    with subscribe(prism_client, prism, headers={"Last-Event-ID": third.id}) as reader:
        reader.read_until(run_finished(prism_run.run_id))
    assert wire(reader.events) == wire(prism_run.events[3:])


def test_prism_unknown_last_event_id_is_400(prism, prism_client):
    """An id the server never issued is refused rather than replayed from elsewhere."""
    response = error_answer(
        prism_client,
        "GET",
        events_path(prism),
        headers={**SSE_ACCEPT, "Last-Event-ID": "evt_never_issued"},
    )
    assert_json_error(response, 400, error="invalid_last_event_id")


def test_prism_thread_and_run_filters_deliver_only_matching_events(prism, prism_client):
    """Two runs on two threads: a thread_id subscriber sees only its thread's run, and a
    run_id subscriber (replaying from before the runs, since a run id is known only once
    the run started) sees only that run."""
    thread_a = f"thr_a_{uuid.uuid4().hex[:8]}"
    thread_b = f"thr_b_{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        everything = stack.enter_context(subscribe(prism_client, prism))
        only_a = stack.enter_context(subscribe(prism_client, prism, thread_id=thread_a))
        only_b = stack.enter_context(subscribe(prism_client, prism, thread_id=thread_b))
        run_a = start_run(prism_client, prism, thread_a)["run_id"]
        everything.read_until(lambda r: bool(run_events(r.events, run_a)))
        run_b = start_run(prism_client, prism, thread_b)["run_id"]
        everything.read_until(lambda r: run_finished(run_a)(r) and run_finished(run_b)(r))
        only_a.read_until(run_finished(run_a))
        only_b.read_until(run_finished(run_b))

    events_a = run_events(everything.events, run_a)
    events_b = run_events(everything.events, run_b)
    assert events_a and events_b
    assert wire(only_a.events) == wire(events_a)
    assert wire(only_b.events) == wire(events_b)

    before_b = events_a[0].id
    with subscribe(
        prism_client, prism, headers={"Last-Event-ID": before_b}, run_id=run_b
    ) as only_run_b:
        only_run_b.read_until(run_finished(run_b))
    assert wire(only_run_b.events) == wire(events_b)


def test_prism_idle_stream_carries_heartbeat_comments(prism, prism_client):
    """An idle stream carries ": ping" comments, so a silent one can be told broken."""
    with subscribe(prism_client, prism) as reader:
        reader.read_until(lambda r: r.raw.count(b": ping\n") >= 2)
    assert reader.events == []


def test_prism_two_subscribers_get_the_same_events_with_the_same_ids(prism, prism_client):
    """The deployment stream is one log: every subscriber sees the same events and ids."""
    with ExitStack() as stack:
        first = stack.enter_context(subscribe(prism_client, prism))
        second = stack.enter_context(subscribe(prism_client, prism))
        run_id = start_run(prism_client, prism)["run_id"]
        first.read_until(run_finished(run_id))
        second.read_until(run_finished(run_id))
    assert wire(run_events(first.events, run_id))
    assert wire(first.events) == wire(second.events)
