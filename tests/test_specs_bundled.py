"""Integrity of the four bundled specs against the checks registry and the source documents.

The specs are the contract every run is judged by: a wrong framing, a check traced to an
endpoint it can never apply to, a schema the documented examples break, or a quote the
documents do not contain would make a verdict cite something that is not true.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from streamconform.checks import REGISTRY, not_applicable  # registers every built-in check
from streamconform.decode.events import Event
from streamconform.model import Spec, load_spec, meta_schema
from streamconform.resources import bundled_dir

SPEC_NAMES = ["miniapp-studio", "promptfloe", "workflow-stream", "prism-agents"]

# Stream endpoints and their framings, as the source documents describe them.
STREAMS = {
    "miniapp-studio": {"prompt_stream": "sse"},
    "promptfloe": {"build": "ndjson", "skill": "ndjson", "run_events": "ndjson"},
    "workflow-stream": {"run_stream": "text"},
    "prism-agents": {"events": "sse"},
}

# The source documents, next to the repository (shared/seeds beside the checkout).
SEEDS_DIR = Path(__file__).resolve().parents[2] / "shared" / "seeds"


@cache
def spec(name: str) -> Spec:
    return load_spec(bundled_dir("specs") / f"{name}.yaml", known_checks=set(REGISTRY))


def seed(number: str) -> str:
    """The text of seed `number` ("000" to "004"); skips when the seeds are not here."""
    matches = sorted(SEEDS_DIR.glob(f"{number}_*.txt"))
    if not matches:
        pytest.skip(f"seed {number} not found in {SEEDS_DIR}")
    return matches[0].read_text(encoding="utf-8")


def by_spec(func):
    return pytest.mark.parametrize("name", SPEC_NAMES)(func)


# -- Loading ------------------------------------------------------------------------------


def test_bundled_specs_are_the_four():
    """The bundled folder holds exactly the four specs, each file named after its spec."""
    assert sorted(p.stem for p in bundled_dir("specs").glob("*.yaml")) == sorted(SPEC_NAMES)


@by_spec
def test_loads_with_known_checks(name):
    """Each spec loads with the check-id cross-check on, under its own name."""
    loaded = spec(name)
    assert loaded.name == name
    assert loaded.requirements


@by_spec
def test_stream_endpoints_and_framings(name):
    """The documented streams exist with the documented framing, and no others stream."""
    streams = {e.name: e.framing.value for e in spec(name).stream_endpoints}
    assert streams == STREAMS[name]


@by_spec
def test_stream_endpoints_declare_content_types(name):
    """A stream's content type is what http.content-type.framing compares against."""
    for endpoint in spec(name).stream_endpoints:
        assert endpoint.content_types, endpoint.name


# -- Requirements and their checks --------------------------------------------------------


@by_spec
def test_no_requirement_waits_for_a_suite_that_has_landed(name):
    """Once a suite exists, the requirements it verifies name its checks, not `pending`."""
    landed = {chk.suite for chk in REGISTRY.values()}
    waiting = [(r.id, p) for r in spec(name).requirements for p in r.pending if p in landed]
    assert waiting == []


@by_spec
def test_every_requirement_is_traced(name):
    """A requirement with neither checks nor pending suites would be silently untested."""
    untraced = [r.id for r in spec(name).requirements if not (r.checks or r.pending)]
    assert untraced == []


@by_spec
def test_traced_check_ids_exist(name):
    """Every check a requirement names is registered."""
    unknown = [
        f"{r.id}: {c}" for r in spec(name).requirements for c in r.checks if c not in REGISTRY
    ]
    assert unknown == []


@by_spec
def test_no_hollow_trace(name):
    """A check traced by a requirement must apply to one of its endpoints; otherwise the
    requirement looks covered while the check is skipped everywhere it is cited."""
    loaded = spec(name)
    hollow = []
    for req in loaded.requirements:
        endpoints = (
            [loaded.endpoints[e] for e in req.endpoints]
            if req.endpoints
            else loaded.stream_endpoints
        )
        for check_id in req.checks:
            chk = REGISTRY[check_id]
            if all(not_applicable(chk, endpoint) for endpoint in endpoints):
                hollow.append(f"{req.id}: {check_id} on {[e.name for e in endpoints]}")
    assert hollow == []


@by_spec
def test_requirement_ids_unique(name):
    """Reports key results by requirement id, so ids must not repeat."""
    ids = [r.id for r in spec(name).requirements]
    assert len(ids) == len(set(ids))


# -- Schemas and grammars -----------------------------------------------------------------


@by_spec
def test_event_schemas_are_valid(name):
    """Every event type's schema is a valid draft 2020-12 JSON Schema."""
    for endpoint in spec(name).stream_endpoints:
        if endpoint.events is None:
            continue
        for label, event_type in endpoint.events.types.items():
            try:
                Draft202012Validator.check_schema(event_type.schema)
            except Exception as err:
                pytest.fail(f"{endpoint.name} {label}: {err}")


@by_spec
def test_request_and_response_schemas_are_valid(name):
    """Body, query, response and error schemas are valid draft 2020-12 too."""
    fields = ("query_schema", "body_schema", "response_schema", "error_schema")
    for endpoint in spec(name).endpoints.values():
        for field in fields:
            schema = getattr(endpoint, field)
            if schema is not None:
                Draft202012Validator.check_schema(schema)


@by_spec
def test_terminal_labels_have_event_types(name):
    """A terminal label that names no event type (or type prefix) could never end a run."""
    for endpoint in spec(name).stream_endpoints:
        if endpoint.events is None:
            continue
        labels = set(endpoint.events.types)
        prefixes = {label.split(".")[0] for label in labels}
        assert endpoint.events.terminal, endpoint.name
        for terminal in endpoint.events.terminal:
            assert terminal in labels or terminal in prefixes, f"{endpoint.name}: {terminal}"


def test_meta_schema_is_valid():
    """The meta-schema every spec is validated against is itself valid draft 2020-12."""
    schema = meta_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


# -- The documents' example streams -------------------------------------------------------


def example(id: str, spec_name: str, endpoint: str, seed_no: str, wire: str, label: str):
    """One example event copied from a seed: the bytes as the seed shows them, and the
    label the spec must give it."""
    return pytest.param(spec_name, endpoint, seed_no, wire, label, id=id)


def _sse(event: str, id: str, data: str) -> str:
    return f"event: {event}\nid: {id}\ndata: {data}"


PRISM_RUN_COMPLETED = _sse("run_status", "evt_0197", '{"run_id":"run_4mPx81","status":"completed"}')

EXAMPLES = [
    # seeds/001, "Streaming Response Example".
    example(
        "miniapp-connection",
        "miniapp-studio",
        "prompt_stream",
        "001",
        'data: {"type":"connection","message":"Streaming started"}',
        "connection",
    ),
    example(
        "miniapp-system-init",
        "miniapp-studio",
        "prompt_stream",
        "001",
        'data: {"type":"system","subtype":"init","message":"Initializing..."}',
        "system.init",
    ),
    example(
        "miniapp-assistant",
        "miniapp-studio",
        "prompt_stream",
        "001",
        'data: {"type":"assistant","message":"Creating your miniapp..."}',
        "assistant",
    ),
    example(
        "miniapp-result-success",
        "miniapp-studio",
        "prompt_stream",
        "001",
        'data: {"type":"result","subtype":"success","message":"Deployment complete"}',
        "result.success",
    ),
    # seeds/002, "Wire format" response body.
    example(
        "promptfloe-plan",
        "promptfloe",
        "build",
        "002",
        '{"type":"plan","summary":"Landing page + pricing + footer"}',
        "plan",
    ),
    example(
        "promptfloe-file-app",
        "promptfloe",
        "build",
        "002",
        '{"type":"file","path":"src/App.tsx","contents":"..."}',
        "file",
    ),
    example(
        "promptfloe-file-hero",
        "promptfloe",
        "build",
        "002",
        '{"type":"file","path":"src/components/Hero.tsx","contents":"..."}',
        "file",
    ),
    example(
        "promptfloe-review",
        "promptfloe",
        "build",
        "002",
        '{"type":"review","notes":"Looks good — minor a11y nits patched."}',
        "review",
    ),
    example(
        "promptfloe-ready",
        "promptfloe",
        "build",
        "002",
        '{"type":"ready","appId":"app_abc","previewUrl":"https://..."}',
        "ready",
    ),
    # seeds/004, "Event stream".
    example(
        "prism-evt_0193-token",
        "prism-agents",
        "events",
        "004",
        _sse(
            "token",
            "evt_0193",
            '{"run_id":"run_4mPx81","thread_id":"thr_default_8a1",'
            '"delta":"Here are five directions"}',
        ),
        "token",
    ),
    example(
        "prism-evt_0194-tool-call",
        "prism-agents",
        "events",
        "004",
        _sse(
            "tool_call",
            "evt_0194",
            '{"run_id":"run_4mPx81","tool":"generate_video","arguments":{"prompt":"..."}}',
        ),
        "tool_call",
    ),
    example(
        "prism-evt_0195-tool-result",
        "prism-agents",
        "events",
        "004",
        _sse(
            "tool_result",
            "evt_0195",
            '{"run_id":"run_4mPx81","tool":"generate_video","result":{"status":"queued"}}',
        ),
        "tool_result",
    ),
    example(
        "prism-evt_0196-steering-request",
        "prism-agents",
        "events",
        "004",
        _sse(
            "steering_request",
            "evt_0196",
            '{"run_id":"run_4mPx81","summary":"About to post 5 ads to Meta. Approve?"}',
        ),
        "steering_request",
    ),
    example(
        "prism-evt_0197-run-status-completed",
        "prism-agents",
        "events",
        "004",
        PRISM_RUN_COMPLETED,
        "run_status.completed",
    ),
]


def as_event(wire: str) -> Event:
    """The decoded event for one example: SSE fields parsed, or one NDJSON line."""
    fields = {"event": "", "id": "", "data": wire}
    if wire.startswith(("data:", "event:")):
        for line in wire.split("\n"):
            field, _, value = line.partition(": ")
            fields[field] = value
    data = fields["data"]
    return Event(
        index=0,
        offset=0,
        end=len(wire),
        time=0.0,
        data=data,
        type=fields["event"],
        id=fields["id"],
        has_id_field=bool(fields["id"]),
        payload=json.loads(data),
    )


@pytest.mark.parametrize(("spec_name", "endpoint", "seed_no", "wire", "label"), EXAMPLES)
def test_seed_example_is_copied_verbatim(spec_name, endpoint, seed_no, wire, label):
    """The examples below are the seeds' own bytes, not a retyped approximation."""
    assert wire in seed(seed_no)


@pytest.mark.parametrize(("spec_name", "endpoint", "seed_no", "wire", "label"), EXAMPLES)
def test_seed_example_matches_schema(spec_name, endpoint, seed_no, wire, label):
    """The documents' own example events get the expected label and pass its schema."""
    events = spec(spec_name).endpoints[endpoint].events
    event = as_event(wire)
    assert events.label(event) == label
    assert label in events.types, f"no schema for {label}"
    validator = Draft202012Validator(
        events.types[label].schema, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = [e.message for e in validator.iter_errors(event.payload)]
    assert errors == []


def test_prism_example_run_ends_the_run():
    """The seed's run_status completed example is a terminal event of the Prism stream."""
    events = spec("prism-agents").endpoints["events"].events
    last = as_event(PRISM_RUN_COMPLETED)
    assert events.is_terminal(events.label(last))


# -- Documented event types and errors ----------------------------------------------------

DOCUMENTED_TYPES = [
    pytest.param(
        "miniapp-studio",
        "prompt_stream",
        [
            "connection",
            "system.init",
            "assistant",
            "user",
            "result.success",
            "result.error_max_turns",
            "result.error_during_execution",
            "error",
        ],
        id="miniapp-studio-prompt_stream",
    ),
    pytest.param(
        "promptfloe",
        "build",
        ["plan", "file", "review", "augmenter", "ready", "error"],
        id="promptfloe-build",
    ),
    pytest.param(
        "promptfloe",
        "skill",
        ["chunk", "insight", "file_written", "progress", "done", "error"],
        id="promptfloe-skill",
    ),
    pytest.param(
        "prism-agents",
        "events",
        [
            "token",
            "tool_call",
            "tool_result",
            "steering_request",
            "run_status.running",
            "run_status.waiting_on_human",
            "run_status.completed",
            "run_status.error",
            "filesystem",
        ],
        id="prism-agents-events",
    ),
]


@pytest.mark.parametrize(("spec_name", "endpoint", "labels"), DOCUMENTED_TYPES)
def test_documented_event_types_have_schemas(spec_name, endpoint, labels):
    """Every event type the documents name has a schema on the endpoint that emits it."""
    types = spec(spec_name).endpoints[endpoint].events.types
    assert [label for label in labels if label not in types] == []


DOCUMENTED_ERRORS = [
    pytest.param("workflow-stream", "run_stream", {401, 402, 404, 500}, id="workflow-run_stream"),
    pytest.param("prism-agents", "events", {401, 403, 404}, id="prism-agents-events"),
]


@pytest.mark.parametrize(("spec_name", "endpoint", "statuses"), DOCUMENTED_ERRORS)
def test_documented_error_statuses_are_declared(spec_name, endpoint, statuses):
    """Every error status a document lists is declared on the endpoint, so it is tested."""
    declared = {e.status for e in spec(spec_name).endpoints[endpoint].errors}
    assert statuses <= declared


def test_prism_error_codes_match_document():
    """Prism's Errors table gives a code per status; the spec declares the same codes."""
    errors = {e.status: e.error for e in spec("prism-agents").endpoints["events"].errors}
    assert errors == {401: "unauthorized", 403: "forbidden", 404: "not_found"}


# -- Quotes -------------------------------------------------------------------------------

_QUOTE_CHARS = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})
# " ... " elides text; " | " joins the cells of a table row.
_FRAGMENT_SEPARATORS = re.compile(r" \.\.\. | \| ")
MIN_FRAGMENT = 12


def normalise(text: str) -> str:
    """Typographic quotes made plain and every run of whitespace made one space."""
    return " ".join(text.translate(_QUOTE_CHARS).split())


def squashed(text: str) -> str:
    """Without whitespace and list bullets: the seeds were extracted from web pages, which
    lost the spaces where lines were joined ("real-timetext/plain") and kept bullets."""
    return "".join(normalise(text).replace("•", "").split())


@cache
def seed_text() -> str:
    numbers = sorted(p.name[:3] for p in SEEDS_DIR.glob("[0-9][0-9][0-9]_*.txt"))
    if not numbers:
        pytest.skip(f"no seeds in {SEEDS_DIR}")
    return squashed("\n".join(seed(n) for n in numbers))


def missing_fragments(quote: str, text: str) -> list[str]:
    fragments = (f.strip() for f in _FRAGMENT_SEPARATORS.split(normalise(quote)))
    return [f for f in fragments if len(f) >= MIN_FRAGMENT and squashed(f) not in text]


def test_quote_matching_examples():
    """The matcher elides at " ... ", splits table cells at " | " and ignores short bits."""
    text = squashed("Alpha beta gamma delta.\n| x | Epsilon zeta eta |\nTheta’s iota kappa")
    assert missing_fragments("Alpha beta gamma ... unrelated", text) == []
    assert missing_fragments("x | Epsilon zeta eta", text) == []
    assert missing_fragments("Theta's iota kappa", text) == []
    assert missing_fragments("Alpha beta gamma delta!", text) == ["Alpha beta gamma delta!"]


@by_spec
def test_quotes_are_in_the_documents(name):
    """A requirement quotes its document; a quote the documents lack cites nothing."""
    text = seed_text()
    misquoted = {}
    for req in spec(name).requirements:
        missing = missing_fragments(req.quote, text)
        if missing:
            misquoted[req.id] = missing
    report = "".join(
        f"\n  {req_id}: {fragment!r}"
        for req_id, fragments in misquoted.items()
        for fragment in fragments
    )
    assert not misquoted, f"quotes not found in the seeds ({len(misquoted)}):{report}"
