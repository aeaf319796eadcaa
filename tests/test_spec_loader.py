"""load_spec, load_profile and resolve_variables on malformed input.

A bad spec or profile must fail as a SpecError that names the file, the line and the
offending key, so a user can fix it without reading a traceback. Every bad spec here is
one edit of VALID, written into tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import streamconform.model.load as load_module
from streamconform.checks import REGISTRY
from streamconform.errors import SpecError
from streamconform.model import Framing, Spec, load_spec, resolve_variables
from streamconform.model.profile import load_profile

VALID = """\
# A tiny API: an SSE stream, a replay stream and a plain endpoint.
streamconform: 1
name: tiny
title: Tiny streaming API
source:
  document: Tiny API reference
variables:
  api_key:
    env: TINY_API_KEY
    secret: true
    default: tiny-ref-key
  item_id:
    env: TINY_ITEM_ID
    default: it_1
  limit:
    type: integer
    env: TINY_LIMIT
    default: 10
auth:
  key:
    type: header
    name: x-api-key
    value: ${api_key}
endpoints:
  events:
    method: POST
    path: /v1/items/{item_id}/events
    framing: sse
    content_types: [text/event-stream]
    auth: key
    headers: {Accept: text/event-stream}
    query: {limit: "${limit}"}
    body: {item: "${item_id}"}
    setup: [prepare]
    events:
      type_from: sse-event
      types:
        tick:
          schema:
            type: object
            required: [n]
        done:
          schema: {type: object}
      terminal: [done]
      resume: {via: cursor, endpoint: replay, param: cursor}
  replay:
    method: GET
    path: /v1/items/{created_id}/replay
    framing: ndjson
    content_types: [application/x-ndjson]
    auth: key
  create:
    method: POST
    path: /v1/items
    auth: key
flows:
  prepare:
    steps:
      - endpoint: create
        capture: {created_id: /id}
requirements:
  - id: stream.sse
    quote: The stream is made of Server-Sent Events.
    level: MUST
    endpoints: [events]
    checks: [http.status.success]
  - id: stream.order
    quote: Events arrive in order.
    level: SHOULD
    pending: [ordering]
"""

KNOWN_CHECKS = frozenset(REGISTRY)


# -- Helpers ------------------------------------------------------------------------------


def mutate(old: str, new: str, text: str = VALID) -> str:
    """VALID with exactly one edit, so each case breaks one thing only."""
    assert text.count(old) == 1, f"{old!r} must occur exactly once in the test spec"
    return text.replace(old, new)


def line_of(text: str, prefix: str, *, after: str | None = None) -> int:
    """1-based number of the first line starting with `prefix` (indentation included),
    looking only below the first line starting with `after` when it is given."""
    lines = text.splitlines()
    start = 0
    if after is not None:
        start = next(i for i, line in enumerate(lines) if line.startswith(after)) + 1
    for number in range(start, len(lines)):
        if lines[number].startswith(prefix):
            return number + 1
    raise AssertionError(f"no line starts with {prefix!r} in the test YAML")


def write(tmp_path: Path, text: str, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def spec_error(path: Path, **kwargs) -> SpecError:
    """The SpecError loading `path` raises; any other outcome fails the test."""
    try:
        load_spec(path, **kwargs)
    except SpecError as err:
        return err
    except Exception as err:
        pytest.fail(f"{type(err).__name__} instead of SpecError: {err}")
    pytest.fail(f"{path.name} loaded, but it is malformed")


def assert_located(err: SpecError, path: Path, line: int | None, key: str | None = None):
    """The error names the file (and line), and the offending key when one is given."""
    assert isinstance(err, SpecError)
    assert path.name in str(err)
    if line is None:
        assert err.location == str(path)
    else:
        assert err.location == f"{path}:{line}", str(err)
        assert f"{path.name}:{line}: " in str(err)
    if key is not None:
        assert err.key == key, str(err)
        assert f": {key}: " in str(err)


# -- The valid spec -----------------------------------------------------------------------


def test_valid_spec_loads(tmp_path):
    """The base of every case below loads cleanly, so each failure is due to its one edit."""
    spec = load_spec(write(tmp_path, VALID), known_checks=KNOWN_CHECKS)
    assert spec.name == "tiny"
    assert [e.name for e in spec.stream_endpoints] == ["events", "replay"]
    assert spec.endpoints["events"].framing is Framing.SSE
    assert spec.endpoints["events"].events.terminal == ("done",)
    assert spec.secret_variables == {"api_key"}


def test_spec_where_points_at_the_key(tmp_path):
    """Spec.where gives later stages (checks, reports) the same file:line as the loader."""
    path = write(tmp_path, VALID)
    spec = load_spec(path)
    line = line_of(VALID, "    framing: sse")
    assert spec.where("endpoints", "events", "framing") == f"{path}:{line}"


# -- Reading the file ---------------------------------------------------------------------


def test_missing_file(tmp_path):
    """A wrong path is a SpecError naming it, not a FileNotFoundError."""
    path = tmp_path / "absent.yaml"
    err = spec_error(path)
    assert_located(err, path, None)
    assert "no such file" in err.message


def test_directory(tmp_path):
    """A directory given as the spec is a SpecError, not an IsADirectoryError."""
    path = tmp_path / "specs.yaml"
    path.mkdir()
    err = spec_error(path)
    assert_located(err, path, None)
    assert "directory" in err.message


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="zero-bytes"),
        pytest.param("\n\n   \n", id="blank-lines"),
        pytest.param("# only a comment\n", id="comment-only"),
    ],
)
def test_empty_file(tmp_path, text):
    """A file with no YAML document is reported as empty."""
    path = write(tmp_path, text)
    err = spec_error(path)
    assert_located(err, path, None)
    assert "empty" in err.message


def test_not_utf8(tmp_path):
    """A Latin-1 file is rejected as not UTF-8 instead of raising UnicodeDecodeError."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(mutate("Tiny streaming API", "Tiny caf\xe9 API").encode("latin-1"))
    err = spec_error(path)
    assert_located(err, path, None)
    assert "UTF-8" in err.message


def test_over_size_limit(tmp_path, monkeypatch):
    """A file larger than the limit is refused before it is parsed."""
    monkeypatch.setattr(load_module, "_MAX_SPEC_BYTES", 64)
    path = write(tmp_path, VALID)
    err = spec_error(path)
    assert_located(err, path, None)
    assert "limit" in err.message


def test_at_size_limit_loads(tmp_path, monkeypatch):
    """The limit itself is allowed: only files over it are refused."""
    monkeypatch.setattr(load_module, "_MAX_SPEC_BYTES", len(VALID.encode()))
    assert load_spec(write(tmp_path, VALID)).name == "tiny"


# -- YAML ---------------------------------------------------------------------------------


def test_invalid_yaml_syntax(tmp_path):
    """A YAML syntax error reports the line the parser stopped at."""
    text = mutate("title: Tiny streaming API", "title: Tiny: streaming API")
    path = write(tmp_path, text)
    err = spec_error(path)
    assert_located(err, path, line_of(text, "title:"))
    assert "invalid YAML" in err.message


def test_invalid_yaml_unclosed_flow(tmp_path):
    """An unclosed flow sequence is a SpecError with a line, not a yaml exception."""
    path = write(tmp_path, mutate("setup: [prepare]", "setup: [prepare"))
    err = spec_error(path)
    assert isinstance(err, SpecError)
    assert (err.location or "").startswith(f"{path}:"), str(err)
    assert "invalid YAML" in err.message


@pytest.mark.parametrize(
    ("old", "new", "at", "after", "key"),
    [
        pytest.param(
            "title: Tiny streaming API\n",
            "title: Tiny streaming API\ntitle: Again\n",
            "title: Again",
            None,
            "title",
            id="top-level",
        ),
        pytest.param(
            "    path: /v1/items\n",
            "    path: /v1/items\n    method: GET\n",
            "    method: GET",
            "  create:",
            "endpoints.create.method",
            id="nested",
        ),
    ],
)
def test_duplicate_key(tmp_path, old, new, at, after, key):
    """YAML would silently keep the last value; the loader names the second occurrence."""
    text = mutate(old, new)
    path = write(tmp_path, text)
    err = spec_error(path)
    assert_located(err, path, line_of(text, at, after=after), key)
    assert "duplicate" in err.message


@pytest.mark.parametrize(
    ("old", "new", "at", "key"),
    [
        pytest.param(
            "title: Tiny streaming API\n",
            "title: Tiny streaming API\n1: one\n",
            "1: one",
            "(top level)",
            id="integer-at-top-level",
        ),
        pytest.param(
            "    path: /v1/items\n",
            "    path: /v1/items\n    404: not found\n",
            "    404:",
            "endpoints.create",
            id="integer-in-an-endpoint",
        ),
        pytest.param(
            "  limit:\n",
            "  2024-01-01: {}\n  limit:\n",
            "  2024-01-01:",
            "variables",
            id="date-in-variables",
        ),
    ],
)
def test_non_string_key(tmp_path, old, new, at, key):
    """Keys must be strings; the error names the mapping that holds the bad key."""
    text = mutate(old, new)
    path = write(tmp_path, text)
    err = spec_error(path)
    assert_located(err, path, line_of(text, at), key)
    assert "not a string" in err.message


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("!unknown thing", id="unknown-tag"),
        pytest.param("!!int ten", id="int-tag-on-a-word"),
        pytest.param("!!float ten", id="float-tag-on-a-word"),
        pytest.param("!!timestamp soon", id="timestamp-tag-on-a-word"),
    ],
)
def test_value_that_cannot_be_constructed(tmp_path, value):
    """A tagged value YAML cannot build is a SpecError at its line, never a crash."""
    text = mutate("    default: 10\n", f"    default: {value}\n")
    path = write(tmp_path, text)
    err = spec_error(path)
    assert_located(err, path, line_of(text, "    default: !"), "variables.limit.default")


def test_recursive_alias(tmp_path):
    """An alias inside its own anchor is a SpecError, not a RecursionError."""
    text = mutate("    content_types: [text/event-stream]\n", "    content_types: &loop [*loop]\n")
    path = write(tmp_path, text)
    err = spec_error(path)
    assert isinstance(err, SpecError)
    assert (err.location or "").startswith(f"{path}:"), str(err)


def test_merge_key(tmp_path):
    """A YAML merge key (`<<: *anchor`) is either honoured or refused as a SpecError."""
    text = mutate(
        "  replay:\n    method: GET\n",
        "  replay:\n    <<: {method: GET}\n",
    )
    path = write(tmp_path, text)
    try:
        spec = load_spec(path)
    except SpecError as err:
        assert_located(err, path, line_of(text, "    <<:"))
    except Exception as err:
        pytest.fail(f"{type(err).__name__} instead of SpecError: {err}")
    else:
        assert spec.endpoints["replay"].method == "GET"


# -- The meta-schema and cross-references -------------------------------------------------


def bad(id: str, old: str, new: str, *, at: str, key: str, says: str, after: str | None = None):
    """One malformed spec: the edit, the line prefix it is reported at, key and message."""
    return pytest.param(old, new, at, after, key, says, id=id)


BAD_SPECS = [
    # Keys and values the meta-schema refuses.
    bad(
        "unknown-top-level-key",
        "title: Tiny streaming API\n",
        "title: Tiny streaming API\ntitel: Tiny\n",
        at="titel:",
        key="titel",
        says="unknown key",
    ),
    bad(
        "unknown-endpoint-key",
        "    framing: sse\n",
        "    framng: sse\n",
        at="    framng:",
        key="endpoints.events.framng",
        says="unknown key",
    ),
    bad(
        "unknown-events-key",
        "      terminal: [done]\n",
        "      terminals: [done]\n",
        at="      terminals:",
        key="endpoints.events.events.terminals",
        says="unknown key",
    ),
    bad(
        "wrong-enum-framing",
        "framing: sse",
        "framing: xml",
        at="    framing: xml",
        key="endpoints.events.framing",
        says="xml",
    ),
    bad(
        "wrong-type-method",
        "  create:\n    method: POST\n",
        "  create:\n    method: 5\n",
        at="    method: 5",
        key="endpoints.create.method",
        says="5",
    ),
    bad(
        "wrong-type-level",
        "    level: SHOULD\n",
        "    level: 1\n",
        at="    level: 1",
        key="requirements.1.level",
        says="1",
    ),
    bad(
        "missing-name",
        "name: tiny\n",
        "",
        at="streamconform:",
        key="(top level)",
        says="'name' is a required property",
    ),
    bad(
        "wrong-version",
        "streamconform: 1",
        "streamconform: 3",
        at="streamconform: 3",
        key="streamconform",
        says="1",
    ),
    bad(
        "unknown-auth-type",
        "    type: header\n",
        "    type: oauth\n",
        at="    type: oauth",
        key="auth.key.type",
        says="type must be one of",
    ),
    bad(
        "requirement-without-checks-or-pending",
        "    level: SHOULD\n    pending: [ordering]\n",
        "    level: SHOULD\n",
        at="  - id: stream.order",
        key="requirements.1",
        says="checks",
    ),
    bad(
        "variable-default-wrong-type",
        "    default: 10\n",
        "    default: ten\n",
        at="    default: ten",
        key="variables.limit.default",
        says="integer",
    ),
    # References that must resolve.
    bad(
        "endpoint-auth-unknown",
        "    path: /v1/items\n    auth: key\n",
        "    path: /v1/items\n    auth: nokey\n",
        at="    auth: nokey",
        key="endpoints.create.auth",
        says="nokey",
    ),
    bad(
        "endpoint-setup-unknown-flow",
        "setup: [prepare]",
        "setup: [unprepared]",
        at="    setup:",
        key="endpoints.events.setup.0",
        says="unprepared",
    ),
    bad(
        "endpoint-trigger-unknown-flow",
        "    setup: [prepare]\n",
        "    setup: [prepare]\n    trigger: poke\n",
        at="    trigger: poke",
        key="endpoints.events.trigger",
        says="poke",
    ),
    bad(
        "flow-step-unknown-endpoint",
        "      - endpoint: create\n",
        "      - endpoint: nowhere\n",
        at="      - endpoint: nowhere",
        key="flows.prepare.steps.0.endpoint",
        says="nowhere",
    ),
    bad(
        "resume-unknown-endpoint",
        "endpoint: replay, param",
        "endpoint: nowhere, param",
        at="      resume:",
        key="endpoints.events.events.resume.endpoint",
        says="nowhere",
    ),
    bad(
        "requirement-unknown-endpoint",
        "endpoints: [events]",
        "endpoints: [nowhere]",
        at="    endpoints: [nowhere]",
        key="requirements.0.endpoints.0",
        says="nowhere",
    ),
    bad(
        "duplicate-requirement-id",
        "  - id: stream.order\n",
        "  - id: stream.sse\n",
        at="  - id: stream.sse",
        after="  - id: stream.sse",
        key="requirements.1.id",
        says="duplicate requirement id",
    ),
    # Templates and path parameters.
    bad(
        "template-in-body",
        'body: {item: "${item_id}"}',
        'body: {item: "${nope}"}',
        at="    body:",
        key="endpoints.events.body",
        says="${nope}",
    ),
    bad(
        "template-in-headers",
        "headers: {Accept: text/event-stream}",
        'headers: {Accept: "${nope}"}',
        at="    headers:",
        key="endpoints.events.headers",
        says="${nope}",
    ),
    bad(
        "template-in-query",
        'query: {limit: "${limit}"}',
        'query: {limit: "${nope}"}',
        at="    query:",
        key="endpoints.events.query",
        says="${nope}",
    ),
    bad(
        "template-in-flow-step",
        "        capture: {created_id: /id}\n",
        '        capture: {created_id: /id}\n        body: {name: "${nope}"}\n',
        at="        body:",
        key="flows.prepare.steps.0.body",
        says="${nope}",
    ),
    bad(
        "template-in-auth-value",
        "    value: ${api_key}\n",
        "    value: ${nope}\n",
        at="    value: ${nope}",
        key="auth.key.value",
        says="${nope}",
    ),
    bad(
        "path-parameter-undeclared",
        "path: /v1/items/{item_id}/events",
        "path: /v1/items/{nope}/events",
        at="    path: /v1/items/{nope}",
        key="endpoints.events.path",
        says="{nope}",
    ),
    # JSON Schemas embedded in the spec.
    bad(
        "event-schema-invalid",
        "            type: object\n            required: [n]\n",
        "            type: 5\n            required: [n]\n",
        at="            type: 5",
        key="endpoints.events.events.types.tick.schema.type",
        says="invalid JSON Schema",
    ),
    bad(
        "body-schema-invalid",
        "    path: /v1/items\n",
        "    path: /v1/items\n    body_schema: {type: objekt}\n",
        at="    body_schema:",
        key="endpoints.create.body_schema.type",
        says="invalid JSON Schema",
    ),
    # The events grammar.
    bad(
        "terminal-without-event-type",
        "terminal: [done]",
        "terminal: [finished]",
        at="      terminal:",
        key="endpoints.events.events.terminal.0",
        says="finished",
    ),
    bad(
        "events-on-non-stream-endpoint",
        "    framing: sse\n    content_types: [text/event-stream]\n",
        "",
        at="    events:",
        key="endpoints.events.events",
        says="framing",
    ),
    bad(
        "stream-without-content-types",
        "    content_types: [text/event-stream]\n",
        "",
        at="  events:",
        key="endpoints.events",
        says="content_types",
    ),
    bad(
        "text-stream-with-events",
        "framing: sse",
        "framing: text",
        at="    events:",
        key="endpoints.events.events",
        says="text stream",
    ),
    bad(
        "ndjson-stream-with-sse-event-types",
        "framing: sse",
        "framing: ndjson",
        at="      type_from:",
        key="endpoints.events.events.type_from",
        says="NDJSON",
    ),
    bad(
        "json-field-with-text-data",
        "      type_from: sse-event\n",
        "      type_from: json-field\n      data: text\n",
        at="      data: text",
        key="endpoints.events.events.data",
        says="json",
    ),
]


@pytest.mark.parametrize(("old", "new", "at", "after", "key", "says"), BAD_SPECS)
def test_malformed_spec(tmp_path, old, new, at, after, key, says):
    """Each malformed spec fails with file, line of the offending key, key path and cause."""
    text = mutate(old, new)
    path = write(tmp_path, text)
    err = spec_error(path, known_checks=KNOWN_CHECKS)
    assert_located(err, path, line_of(text, at, after=after), key)
    assert says in err.message


def test_unknown_check_id_with_known_checks(tmp_path):
    """With the registry's ids given, a requirement naming an unknown check is refused."""
    text = mutate("checks: [http.status.success]", "checks: [http.status.sucess]")
    path = write(tmp_path, text)
    err = spec_error(path, known_checks=KNOWN_CHECKS)
    assert_located(err, path, line_of(text, "    checks:"), "requirements.0.checks.0")
    assert "http.status.sucess" in err.message


def test_unknown_check_id_without_known_checks(tmp_path):
    """Without known_checks (e.g. a spec written for a plugin's checks) any id is accepted."""
    text = mutate("checks: [http.status.success]", "checks: [plugin.custom-check]")
    spec = load_spec(write(tmp_path, text), known_checks=None)
    assert spec.requirements[0].checks == ("plugin.custom-check",)


def test_error_string_format(tmp_path):
    """str(SpecError) is "file:line: key: message", the form editors can jump to."""
    text = mutate("framing: sse", "framing: xml")
    path = write(tmp_path, text)
    err = spec_error(path)
    line = line_of(text, "    framing: xml")
    assert str(err) == f"{path}:{line}: endpoints.events.framing: {err.message}"


# -- Variables ----------------------------------------------------------------------------


@pytest.fixture
def tiny(tmp_path) -> Spec:
    return load_spec(write(tmp_path, VALID))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param({"var", "profile", "env"}, "from-var", id="var-beats-profile-and-env"),
        pytest.param({"profile", "env"}, "from-profile", id="profile-beats-env"),
        pytest.param({"env"}, "from-env", id="env-beats-default"),
        pytest.param(set(), "it_1", id="default-when-nothing-else"),
    ],
)
def test_variable_precedence(tiny, given, expected):
    """--var over target profile over environment over the spec's default."""
    values = resolve_variables(
        tiny,
        overrides={"item_id": "from-var"} if "var" in given else {},
        profile={"item_id": "from-profile"} if "profile" in given else {},
        environ={"TINY_ITEM_ID": "from-env"} if "env" in given else {},
    )
    assert values["item_id"] == expected


def source_of(origin: str, name: str, env: str, value: str) -> dict:
    """resolve_variables keyword arguments giving `value` from one origin only."""
    return {
        "overrides": {name: value} if origin == "var" else {},
        "profile": {name: value} if origin == "profile" else {},
        "environ": {env: value} if origin == "env" else {},
    }


@pytest.mark.parametrize("origin", ["var", "profile", "env"])
def test_integer_variable_is_coerced(tiny, origin):
    """Text from the command line, a profile or the environment takes the declared type."""
    values = resolve_variables(tiny, **source_of(origin, "limit", "TINY_LIMIT", "12"))
    assert values["limit"] == 12
    assert isinstance(values["limit"], int)


@pytest.mark.parametrize("origin", ["var", "profile", "env"])
def test_bad_integer_variable(tiny, origin):
    """A value that is not an integer is a SpecError naming the variable and the value."""
    with pytest.raises(SpecError) as info:
        resolve_variables(tiny, **source_of(origin, "limit", "TINY_LIMIT", "twelve"))
    assert "limit" in str(info.value)
    assert "twelve" in str(info.value)


def test_defaults_used_by_default(tiny):
    """Against a reference server every default applies, secrets included."""
    values = resolve_variables(tiny, overrides={}, profile={}, environ={})
    assert values == {"api_key": "tiny-ref-key", "item_id": "it_1", "limit": 10}


def test_secret_default_not_sent_to_real_target(tiny):
    """A secret's default is the reference server's key: a real target must get its own,
    and the error says which environment variable to set."""
    with pytest.raises(SpecError) as info:
        resolve_variables(tiny, overrides={}, profile={}, environ={}, secret_defaults=False)
    message = str(info.value)
    assert "api_key" in message
    assert "TINY_API_KEY" in message
    assert "tiny-ref-key" not in message


def test_non_secret_defaults_kept_for_real_target(tiny):
    """secret_defaults=False only drops secrets; other defaults still apply."""
    values = resolve_variables(
        tiny, overrides={}, profile={}, environ={"TINY_API_KEY": "real"}, secret_defaults=False
    )
    assert values == {"api_key": "real", "item_id": "it_1", "limit": 10}


# -- Target profiles ----------------------------------------------------------------------

PROFILE = """\
target: http://localhost:8000
time_scale: 0.5
vars:
  item_id: shared-item
  limit: 5
specs:
  tiny:
    target: https://staging.example.com
    vars:
      item_id: tiny-item
"""


def test_profile_per_spec_overrides(tmp_path, tiny):
    """Per-spec settings win over shared ones; other specs get the shared settings."""
    profile = load_profile(write(tmp_path, PROFILE, "target.yaml"))
    own = profile.for_spec("tiny")
    assert own.target == "https://staging.example.com"
    assert own.time_scale == 0.5
    assert dict(own.vars) == {"item_id": "tiny-item", "limit": 5}
    other = profile.for_spec("other")
    assert other.target == "http://localhost:8000"
    assert dict(other.vars) == {"item_id": "shared-item", "limit": 5}
    values = resolve_variables(tiny, overrides={}, profile=own.vars, environ={})
    assert values["item_id"] == "tiny-item"
    assert values["limit"] == 5


@pytest.mark.parametrize(
    ("old", "new", "at", "key"),
    [
        pytest.param(
            "target: http://localhost:8000",
            "target: localhost:8000",
            "target:",
            "target",
            id="shared-target-without-scheme",
        ),
        pytest.param(
            "    target: https://staging.example.com",
            "    target: ftp://staging.example.com",
            "    target:",
            "specs.tiny.target",
            id="per-spec-target-not-http",
        ),
    ],
)
def test_profile_bad_target(tmp_path, old, new, at, key):
    """A target URL that is not http(s) fails with the profile's file:line and key."""
    text = mutate(old, new, PROFILE)
    path = write(tmp_path, text, "target.yaml")
    with pytest.raises(SpecError) as info:
        load_profile(path)
    assert_located(info.value, path, line_of(text, at), key)


def test_profile_unknown_key_is_named(tmp_path):
    """A misspelt profile setting is refused, and the message names it."""
    path = write(tmp_path, mutate("time_scale: 0.5", "timescale: 0.5", PROFILE), "target.yaml")
    with pytest.raises(SpecError) as info:
        load_profile(path)
    assert path.name in str(info.value)
    assert "timescale" in str(info.value)


def test_profile_missing_file(tmp_path):
    """A wrong profile path is a SpecError naming the file."""
    path = tmp_path / "absent.yaml"
    with pytest.raises(SpecError) as info:
        load_profile(path)
    assert_located(info.value, path, None)


# -- Issued tokens --------------------------------------------------------------------------

ISSUED = """\
  token:
    type: query-token
    param: token
    value: ${stream_token}
    issued_by: prepare
    expiry: {after: 60}
    binding: {elsewhere: {item_id: "${other_item}"}}
"""


def with_token(capture: str = "stream_token", other: str = "limit") -> str:
    text = mutate("endpoints:\n", ISSUED.replace("other_item", other) + "endpoints:\n")
    text = mutate("    auth: key\n    headers:", "    auth: token\n    headers:", text)
    return mutate(
        "capture: {created_id: /id}", f"capture: {{created_id: /id, {capture}: /t}}", text
    )


def test_an_issued_token_links_its_issuer_and_key(tmp_path):
    spec = load_spec(write(tmp_path, with_token()))
    credentials = spec.endpoints["events"].credentials
    assert credentials is not None
    assert credentials.issuer is spec.endpoints["create"]
    assert credentials.key is spec.auth["key"]
    assert credentials.token_variable == "stream_token"
    assert credentials.scheme.expiry == 60
    assert credentials.scheme.elsewhere == {"item_id": "${limit}"}
    assert spec.endpoints["events"].key_endpoint is spec.endpoints["create"]
    assert spec.endpoints["replay"].key_endpoint is spec.endpoints["replay"]


def test_a_token_its_flow_never_captures_is_located(tmp_path):
    declared = "variables:\n  stream_token: {default: st_fixed}\n"
    path = write(tmp_path, mutate("variables:\n", declared, with_token(capture="other_name")))
    err = spec_error(path)
    assert "flow 'prepare' captures no variable this token uses" in str(err)
    assert_located(
        err, path, line_of(path.read_text(), "    value: ${stream_token}"), "auth.token.value"
    )


def test_a_binding_to_an_unknown_variable_is_located(tmp_path):
    path = write(tmp_path, with_token(other="nowhere"))
    err = spec_error(path)
    assert "${nowhere} is not a variable" in str(err)
    assert "auth.token.binding.elsewhere" in str(err)
