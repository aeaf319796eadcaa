"""The spec model: frozen dataclasses built only by `model.load` from a validated YAML file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from streamconform.decode.events import Event
from streamconform.model.grammar import Grammar

__all__ = [
    "Assumption",
    "AuthScheme",
    "Credentials",
    "Endpoint",
    "ErrorCase",
    "EventType",
    "EventsSpec",
    "Failure",
    "Filter",
    "Flow",
    "FlowStep",
    "Framing",
    "IdRule",
    "Level",
    "Reference",
    "Requirement",
    "Resumption",
    "SizeBounds",
    "Spec",
    "Timing",
    "Until",
    "Variable",
    "Variant",
]


class Level(StrEnum):
    """How binding a requirement is: a broken MUST fails, a broken SHOULD warns."""

    MUST = "MUST"
    SHOULD = "SHOULD"


class Framing(StrEnum):
    """How a streaming body is cut into events."""

    SSE = "sse"
    NDJSON = "ndjson"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Variable:
    """A value a spec needs (id, credential); defaults fit the reference server."""

    name: str
    type: str = "string"
    default: Any = None
    env: str | None = None
    secret: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class AuthScheme:
    """How a request proves who it is: an API key (a header, a bearer token) or a token
    issued by a flow and sent as a query parameter.

    `expiry` is an issued token's lifetime in seconds (`expiry_reference_only` when the
    documentation gives none and the spec assumed it); `elsewhere` holds variable values
    that point the request at another resource, for a token bound to the one it was
    issued for (empty: tokens are not bound).
    """

    name: str
    type: str
    value: str
    header: str = ""
    param: str = ""
    issued_by: str = ""
    single_use: bool = False
    expiry: float | None = None
    expiry_reference_only: bool = False
    elsewhere: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_key(self) -> bool:
        """True for an API key sent as it is (a header or a bearer token)."""
        return self.type in ("header", "bearer")

    def header_value(self, value: str) -> str:
        """What a key scheme's header carries: the key, or `Bearer <key>` ("Bearer" alone
        for an empty one, as a header value cannot end in a space)."""
        if self.type == "bearer":
            return f"Bearer {value}" if value else "Bearer"
        return value


@dataclass(frozen=True, slots=True)
class Credentials:
    """What one stream request proves itself with, resolved from the spec's schemes.

    `key` is the API key behind the request: the endpoint's own scheme, or the scheme of
    the endpoint that issues its tokens (`issuer`, called by `issue_step` of the issuing
    flow, which captures the token as `token_variable`).
    """

    scheme: AuthScheme
    key: AuthScheme | None = None
    issuer: Endpoint | None = None
    issue_step: FlowStep | None = None
    token_variable: str = ""

    @property
    def issued(self) -> bool:
        return self.issuer is not None


@dataclass(frozen=True, slots=True)
class ErrorCase:
    """A documented error status and, when known, how to provoke it."""

    status: int
    when: str
    error: str = ""
    provoke: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class EventType:
    """One event label (`type` or `type.subtype`) with its JSON Schema."""

    label: str
    schema: Mapping[str, Any] | bool
    description: str = ""


@dataclass(frozen=True, slots=True)
class IdRule:
    """Whether events must carry ids, unique and increasing."""

    required: bool = False
    unique: bool = False
    ordered: bool = False
    field: str = ""


@dataclass(frozen=True, slots=True)
class Resumption:
    """How a client resumes: Last-Event-ID on the same URL, or a cursor on another endpoint."""

    via: str
    endpoint: str = ""
    param: str = ""
    cursor_field: str = ""
    run_id_from: str = ""
    window: float | None = None
    invalid: Mapping[str, Any] | None = None  # {status, error?}: a cursor never issued
    expired: Mapping[str, Any] | None = None  # {status, error?}: a resume after the window


@dataclass(frozen=True, slots=True)
class Filter:
    """A query filter and how to show it holds: with `setup`/`trigger` making events of
    other runs, every event delivered must have `field` equal to the `equals` variable."""

    param: str
    value: str
    field: str
    equals: str
    setup: tuple[str, ...] = ()
    trigger: str = ""

    @property
    def name(self) -> str:
        return f"filter:{self.param}"


# generated requests: invalid ones must be refused, valid ones accepted (engine.bad_input)
INPUT_VARIANTS = ("input:negative", "input:positive")
_CONSTRAINTS = frozenset(
    {
        "enum",
        "const",
        "pattern",
        "format",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
    }
)


def breakable(schema: Mapping[str, Any]) -> bool:
    """A query value can be invalid only if its schema asks more than "any string"."""
    return schema.get("type", "string") != "string" or bool(_CONSTRAINTS & set(schema))


@dataclass(frozen=True, slots=True)
class Failure:
    """A documented way a run fails mid-stream, and how to provoke it (variable overrides)."""

    terminal: str
    variables: Mapping[str, Any]
    reference_only: bool = False

    @property
    def name(self) -> str:
        return f"failure:{self.terminal}"


@dataclass(frozen=True, slots=True)
class Variant:
    """The endpoint's request, changed: to filter, to provoke an error, or to make a run fail.

    `variables` (templates over the run's variables) win over every other value, captures
    of setup flows included; `trigger` None keeps the endpoint's own trigger.
    """

    name: str
    query: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None
    headers: Mapping[str, Any] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)
    omit_auth: bool = False
    setup: tuple[str, ...] = ()
    trigger: str | None = None
    reference_only: bool = False
    no_setup: bool = False
    cut_after: int | None = None
    mid_event: bool = False


@dataclass(frozen=True, slots=True)
class EventsSpec:
    """The grammar of a stream: event labels, schemas, order, terminals, ids and resumption."""

    type_from: str
    types: Mapping[str, EventType]
    type_field: str = "type"
    subtype_field: str = ""
    data_json: bool = True
    non_json_data: tuple[str, ...] = ()
    # data that is not JSON and stands for an event of a label ("[DONE]" -> done)
    sentinels: Mapping[str, str] = field(default_factory=dict)
    key_field: str = ""
    open_types: bool = False
    grammar: Grammar | None = None
    terminal: tuple[str, ...] = ()
    ids: IdRule = field(default_factory=IdRule)
    resume: Resumption | None = None
    long_lived: bool = False
    timestamps: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    failures: tuple[Failure, ...] = ()

    def label(self, event: Event) -> str | None:
        """The event's label for schemas and grammars, or None when it has no readable type."""
        sentinel = self.sentinels.get(event.data)
        if sentinel is not None:
            return sentinel
        payload = event.payload if isinstance(event.payload, dict) else {}
        if self.type_from == "sse-event":
            base: Any = event.type
        else:
            base = payload.get(self.type_field)
        if not isinstance(base, str) or not base:
            return None
        sub = payload.get(self.subtype_field) if self.subtype_field else None
        return f"{base}.{sub}" if isinstance(sub, str) and sub else base

    def run_of(self, event: Event) -> Any:
        """The run a multiplexed stream's event belongs to (its key field); None otherwise."""
        if not self.key_field or not isinstance(event.payload, dict):
            return None
        return event.payload.get(self.key_field)

    def is_terminal(self, label: str | None) -> bool:
        """True when the label ends a stream (or a run, on a multiplexed stream)."""
        return label is not None and (
            label in self.terminal or any(label.startswith(f"{t}.") for t in self.terminal)
        )


@dataclass(frozen=True, slots=True)
class Timing:
    """Time bounds in real seconds; a run multiplies them by its time scale."""

    response_timeout: float = 30.0
    idle_timeout: float = 60.0
    max_duration: float = 900.0
    close_after_terminal: float = 5.0
    heartbeat_interval: float | None = None
    generation_time: float | None = None


@dataclass(frozen=True, slots=True)
class SizeBounds:
    """How many bytes of an endpoint's stream the suite reads: per event (an SSE block, an
    NDJSON line) and per body. `stated` names the bounds the API's documentation gives (a
    stream past one breaks it); any other bound is the suite's own, and a stream cut by it
    cannot be judged."""

    event_bytes: int = 1 << 20
    body_bytes: int = 32 << 20
    stated: frozenset[str] = frozenset()

    def changed(self, **values: int) -> SizeBounds:
        """These bounds with some set by a profile or the command line (no longer stated)."""
        if not values:
            return self
        return SizeBounds(
            values.get("event_bytes", self.event_bytes),
            values.get("body_bytes", self.body_bytes),
            self.stated - set(values),
        )


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One HTTP operation; a streaming one has a framing and (usually) an events grammar."""

    name: str
    method: str
    path: str
    framing: Framing | None = None
    content_types: tuple[str, ...] = ()
    auth: str | None = None
    headers: Mapping[str, Any] = field(default_factory=dict)
    query: Mapping[str, Any] = field(default_factory=dict)
    query_schema: Mapping[str, Any] | None = None
    body: Any = None
    body_schema: Mapping[str, Any] | None = None
    response_schema: Mapping[str, Any] | None = None
    success: tuple[int, ...] = (200,)
    setup: tuple[str, ...] = ()
    trigger: str = ""
    teardown: tuple[str, ...] = ()
    errors: tuple[ErrorCase, ...] = ()
    error_schema: Mapping[str, Any] | None = None
    events: EventsSpec | None = None
    timing: Timing = field(default_factory=Timing)
    sizes: SizeBounds = field(default_factory=SizeBounds)
    summary: str = ""
    overrun: Variant | None = None
    provocations: Mapping[str, Variant] = field(default_factory=dict)
    credentials: Credentials | None = None

    @property
    def is_stream(self) -> bool:
        return self.framing is not None

    @property
    def key_endpoint(self) -> Endpoint:
        """Where this endpoint's API key is sent: the token issuer for an issued token."""
        issuer = self.credentials.issuer if self.credentials else None
        return issuer or self

    def breakable_query(self) -> list[str]:
        """Query parameters a generated request can get wrong (required, or constrained)."""
        query = self.query_schema or {}
        required = set(query.get("required", ()))
        return [
            n for n, sch in query.get("properties", {}).items() if n in required or breakable(sch)
        ]

    def error_variant_names(self) -> list[str]:
        return [f"error:{e.status}" for e in self.errors]

    def provokable_names(self) -> list[str]:
        """Variants a profile may say how to provoke: errors, failures, an overrun."""
        failures = [f.name for f in self.events.failures] if self.events else []
        return [*self.error_variant_names(), *failures, *(["overrun"] if self.overrun else [])]

    def variant(self, name: str) -> Variant | None:
        """The variant of this name; None when the spec gives no way to provoke it."""
        if name in self.provocations:  # a target profile's own way, for a real target
            return self.provocations[name]
        if self.overrun is not None and name == self.overrun.name:
            return self.overrun
        if name in INPUT_VARIANTS and (self.body_schema or self.query_schema):
            return Variant(name)
        resumable = self.events.resume if self.events else None
        if resumable is not None and name.startswith(("resume:", "cursor:", "subscribers:")):
            return Variant(name)
        rules = self.events
        for flt in rules.filters if rules else ():
            if flt.name == name:
                return Variant(
                    name, query={flt.param: flt.value}, setup=flt.setup, trigger=flt.trigger
                )
        for failure in rules.failures if rules else ():
            if failure.name == name:
                return Variant(
                    name, variables=failure.variables, reference_only=failure.reference_only
                )
        for case in self.errors:
            if f"error:{case.status}" == name and case.provoke is not None:
                how = case.provoke
                return Variant(
                    name,
                    query=how.get("query", {}),
                    body=how.get("body"),
                    headers=how.get("headers", {}),
                    variables=how.get("variables", {}),
                    omit_auth=how.get("omit_auth", False),
                    reference_only=how.get("reference_only", False),
                )
        return None


@dataclass(frozen=True, slots=True)
class Until:
    """Poll a step until the JSON value at `pointer` equals `equals`."""

    pointer: str
    equals: Any
    interval: float = 2.0
    timeout: float = 120.0


@dataclass(frozen=True, slots=True)
class FlowStep:
    """One request of a setup flow.

    `capture` maps variable names to a `/json/pointer` into the response or `header:name`.
    """

    endpoint: str
    body: Any = None
    query: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, Any] = field(default_factory=dict)
    expect: tuple[int, ...] = ()
    capture: Mapping[str, str] = field(default_factory=dict)
    secret_captures: tuple[str, ...] = ()
    until: Until | None = None


@dataclass(frozen=True, slots=True)
class Flow:
    """Requests that make a stream possible (create, poll until ready, fetch a token)."""

    name: str
    steps: tuple[FlowStep, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Requirement:
    """A normative sentence quoted from the API's documentation, traced to checks."""

    id: str
    quote: str
    level: Level
    source: str = ""
    endpoints: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    assumption: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Assumption:
    """A design choice made where the source document is silent; a profile may override it.

    `covers` names the spec elements it stands behind, as paths from the spec's root with
    `*` for any one name (`endpoints.*.error_schema`, `endpoints.events.timing`); a
    finding resting on a covered element is the assumption's.
    """

    id: str
    text: str
    override: str = ""
    covers: tuple[str, ...] = ()

    def covers_element(self, path: str) -> bool:
        """True when the element at `path` (or one that holds it) is covered."""
        parts = path.split(".")
        for pattern in self.covers:
            wanted = pattern.split(".")
            if len(wanted) <= len(parts) and all(
                w == "*" or w == p for w, p in zip(wanted, parts, strict=False)
            ):
                return True
        return False


@dataclass(frozen=True, slots=True)
class Reference:
    """Which embedded reference server implements the spec, and how much it compresses time."""

    server: str
    time_scale: float = 0.002


@dataclass(frozen=True, slots=True)
class Spec:
    """A whole API: endpoints, flows, variables and traced requirements."""

    name: str
    title: str
    path: str
    source_document: str
    variables: Mapping[str, Variable]
    auth: Mapping[str, AuthScheme]
    endpoints: Mapping[str, Endpoint]
    flows: Mapping[str, Flow]
    requirements: tuple[Requirement, ...]
    assumptions: tuple[Assumption, ...]
    reference: Reference | None
    locations: Mapping[tuple[str | int, ...], int] = field(default_factory=dict, repr=False)
    # elements a target profile restated: the target's own contract, no longer assumed
    restated: frozenset[str] = frozenset()
    # assumptions a target profile says the target does not follow: findings on them drop
    waived: frozenset[str] = frozenset()

    @property
    def stream_endpoints(self) -> list[Endpoint]:
        return [e for e in self.endpoints.values() if e.is_stream]

    def requirements_for(self, check_id: str, endpoint: str) -> list[Requirement]:
        """Requirements traced to a check, limited to those that concern the endpoint."""
        return [
            r
            for r in self.requirements
            if check_id in r.checks and (not r.endpoints or endpoint in r.endpoints)
        ]

    def assumption_behind(self, endpoint: str, basis: str) -> Assumption | None:
        """The assumption a finding on this element of the endpoint (or, given from the
        root, of another one) rests on; None when the element is the document's, or the
        target profile restated it."""
        if not basis:
            return None
        path = basis if basis.startswith("endpoints.") else f"endpoints.{endpoint}.{basis}"
        parts = path.split(".")
        if any(".".join(parts[:n]) in self.restated for n in range(3, len(parts) + 1)):
            return None
        return next((a for a in self.assumptions if a.covers_element(path)), None)

    def where(self, *key: str | int) -> str:
        """ "file:line" of a key path, for error messages."""
        line = self.locations.get(tuple(key))
        return f"{self.path}:{line}" if line else self.path

    @property
    def secret_variables(self) -> frozenset[str]:
        return frozenset(v.name for v in self.variables.values() if v.secret)
