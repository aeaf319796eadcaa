"""Load a spec: YAML with line numbers, the shipped meta-schema, then cross-references.

Every problem becomes a SpecError naming the file, the line and the offending key; this
is the only module that sees the raw YAML tree.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, cast

import jsonschema
import yaml
from jsonschema.exceptions import SchemaError, ValidationError, best_match

from streamconform.errors import SpecError
from streamconform.model.grammar import Grammar, GrammarError, covers, parse_grammar
from streamconform.model.spec import (
    Assumption,
    AuthScheme,
    Credentials,
    Endpoint,
    ErrorCase,
    EventsSpec,
    EventType,
    Failure,
    Filter,
    Flow,
    FlowStep,
    Framing,
    IdRule,
    Level,
    Reference,
    Requirement,
    Resumption,
    SizeBounds,
    Spec,
    Timing,
    Until,
    Variable,
    Variant,
)
from streamconform.model.templates import path_params, references

__all__ = [
    "compile_grammar",
    "link_credentials",
    "load_spec",
    "load_yaml",
    "meta_schema",
    "validate_tree",
]

Key = tuple[str | int, ...]
_MAX_SPEC_BYTES = 4 << 20
_MERGE = "tag:yaml.org,2002:merge"


@cache
def meta_schema() -> dict[str, Any]:
    """The JSON Schema every spec file must satisfy."""
    text = resources.files("streamconform.model").joinpath("spec-v1.schema.json").read_text()
    return json.loads(text)


def _dotted(key: Iterable[str | int]) -> str:
    return ".".join(str(k) for k in key) or "(top level)"


# libyaml's parser where PyYAML was built with it (its wheels are): the same nodes and line
# marks, several times faster than the pure-Python one
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> tuple[Any, dict[Key, int]]:
    """Parse YAML into plain values plus a map from key path to 1-based line."""
    try:
        size = path.stat().st_size
        if size > _MAX_SPEC_BYTES:
            raise SpecError(
                f"file is {size} bytes, over the {_MAX_SPEC_BYTES}-byte limit", location=str(path)
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("no such file", location=str(path)) from None
    except IsADirectoryError:
        raise SpecError("is a directory, not a spec file", location=str(path)) from None
    except UnicodeDecodeError as err:
        raise SpecError(
            f"not UTF-8 ({err.reason} at byte {err.start})", location=str(path)
        ) from None
    except OSError as err:
        raise SpecError(err.strerror or str(err), location=str(path)) from None
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise SpecError(f"invalid YAML: {err.problem or err}", location=f"{path}{line}") from None
    except yaml.YAMLError as err:
        raise SpecError(f"invalid YAML: {err}", location=str(path)) from None
    if node is None:
        raise SpecError("file is empty", location=str(path))
    lines: dict[Key, int] = {}
    constructor = yaml.constructor.SafeConstructor()
    active: set[int] = set()  # nodes being converted: an alias back into one is a loop

    def scalar(n: yaml.Node, key: Key) -> Any:
        try:
            return constructor.construct_object(n)
        except Exception as err:  # bad tagged values raise ValueError, AttributeError, ...
            problem = getattr(err, "problem", None) or f"{type(err).__name__}: {err}"
            raise SpecError(
                f"bad value: {problem}",
                location=f"{path}:{n.start_mark.line + 1}",
                key=_dotted(key),
            ) from None

    def convert(n: yaml.Node, key: Key) -> Any:
        lines.setdefault(key, n.start_mark.line + 1)
        if id(n) in active:
            raise SpecError(
                "an alias refers to itself (a recursive structure)",
                location=f"{path}:{n.start_mark.line + 1}",
                key=_dotted(key),
            )
        if isinstance(n, yaml.MappingNode):
            active.add(id(n))
            own = sum(1 for k_node, _ in n.value if k_node.tag != _MERGE)
            try:
                constructor.flatten_mapping(n)  # resolve `<<: *anchor` merge keys
            except yaml.YAMLError as err:
                raise SpecError(
                    f"bad merge key: {getattr(err, 'problem', err)}",
                    location=f"{path}:{n.start_mark.line + 1}",
                    key=_dotted(key),
                ) from None
            out: dict[str, Any] = {}
            merged = len(n.value) - own  # merged pairs come first; later keys override them
            explicit: set[str] = set()
            for index, (k_node, v_node) in enumerate(n.value):
                k = scalar(k_node, key)
                k_line = k_node.start_mark.line + 1
                if not isinstance(k, str):
                    raise SpecError(
                        f"key {k!r} is not a string", location=f"{path}:{k_line}", key=_dotted(key)
                    )
                if index >= merged:
                    if k in explicit:
                        raise SpecError(
                            "duplicate key", location=f"{path}:{k_line}", key=_dotted((*key, k))
                        )
                    explicit.add(k)
                lines[(*key, k)] = k_line
                out[k] = convert(v_node, (*key, k))
            active.discard(id(n))
            return out
        if isinstance(n, yaml.SequenceNode):
            active.add(id(n))
            items = [convert(item, (*key, i)) for i, item in enumerate(n.value)]
            active.discard(id(n))
            return items
        return scalar(n, key)

    return convert(node, ()), lines


class _Context:
    """Error reporting with line numbers while the raw tree is converted."""

    def __init__(self, path: Path, lines: dict[Key, int]):
        self.path = path
        self.lines = lines

    def error(self, key: Key, message: str) -> SpecError:
        probe = key
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        location = f"{self.path}:{line}" if line else str(self.path)
        return SpecError(message, location=location, key=_dotted(key))


def validate_tree(raw: Any, schema: dict[str, Any], path: Path, lines: dict[Key, int]) -> None:
    """Validate a loaded YAML tree; the first error becomes a SpecError at its key's line."""
    _validate(raw, _Context(path, lines), schema)


def _validate(raw: Any, ctx: _Context, schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    error = best_match(validator.iter_errors(raw))
    if error is None:
        return
    key: Key = tuple(error.absolute_path)
    message = error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            key = (*key, extra[0])
            message = f"unknown key (allowed: {', '.join(sorted(allowed))})"
    elif error.validator == "oneOf" and error.context:
        message, field = _describe_one_of(error)
        key = (*key, field) if field else key
    elif error.validator == "anyOf" and key[:1] == ("requirements",) and len(key) == 2:
        message = "a requirement needs `checks` (check ids) or `pending` (the suites to verify it)"
    raise ctx.error(key, message)


def _describe_one_of(error: ValidationError) -> tuple[str, str]:
    """The message for a tagged union (auth schemes), and the key it is about."""
    schema = cast(Mapping[str, Any], error.schema)  # a oneOf error's schema is the oneOf's
    kinds = [s.get("properties", {}).get("type", {}).get("const") for s in schema["oneOf"]]
    kind = error.instance.get("type") if isinstance(error.instance, dict) else None
    if kind not in kinds:
        return f"type must be one of {', '.join(k for k in kinds if k)}", "type"
    branch = kinds.index(kind)
    for sub in error.context or ():
        if sub.relative_schema_path and sub.relative_schema_path[0] == branch:
            return sub.message, ""
    return error.message, ""


def _check_json_schema(schema: Any, key: Key, ctx: _Context) -> None:
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except SchemaError as err:
        raise ctx.error((*key, *err.absolute_path), f"invalid JSON Schema: {err.message}") from None


def _timing(raw: Mapping[str, Any] | None) -> Timing:
    return Timing(**(raw or {}))


def _grammar(
    raw: Mapping[str, Any], types: Mapping[str, EventType], key: Key, ctx: _Context
) -> Grammar:
    try:
        return compile_grammar(raw["grammar"], types)
    except ValueError as err:
        raise ctx.error(key, str(err)) from None


def compile_grammar(text: str, types: Mapping[str, EventType]) -> Grammar:
    """Compile a grammar; every label it names is declared, every declared one has a place
    (ValueError saying which, otherwise)."""
    try:
        grammar = parse_grammar(text)
    except GrammarError as err:
        raise ValueError(f"malformed grammar: {err}") from None
    for pattern in sorted(grammar.labels()):
        if not any(covers(pattern, label) for label in types):
            raise ValueError(f"grammar label {pattern!r} is not a declared event type")
    covered = [label for label in types if any(covers(p, label) for p in grammar.labels())]
    missing = sorted(set(types) - set(covered))
    if missing:
        raise ValueError(f"event type {missing[0]!r} has no place in the grammar")
    return grammar


def _events(raw: Mapping[str, Any], key: Key, ctx: _Context) -> EventsSpec:
    types = {}
    for label, body in raw["types"].items():
        _check_json_schema(body["schema"], (*key, "types", label, "schema"), ctx)
        types[label] = EventType(label, body["schema"], body.get("description", ""))
    sentinels = dict(raw.get("sentinels", {}))
    for data, label in sentinels.items():
        if label in types:
            raise ctx.error((*key, "sentinels", data), f"{label!r} is already an event type")
        types[label] = EventType(label, True, f"the sentinel {data!r}")
    for i, label in enumerate(raw.get("terminal", [])):
        if label not in types and not any(t.startswith(f"{label}.") for t in types):
            raise ctx.error((*key, "terminal", i), f"terminal label {label!r} has no event type")
    for i, failure in enumerate(raw.get("failures", ())):
        if failure["terminal"] not in raw.get("terminal", ()) and not any(
            failure["terminal"].startswith(t + ".") for t in raw.get("terminal", ())
        ):
            raise ctx.error((*key, "failures", i, "terminal"), "not one of the terminal labels")
    if raw["type_from"] == "json-field" and raw.get("data", "json") != "json":
        raise ctx.error((*key, "data"), "type_from json-field needs data: json")
    grammar = _grammar(raw, types, (*key, "grammar"), ctx) if "grammar" in raw else None
    resume = raw.get("resume")
    return EventsSpec(
        type_from=raw["type_from"],
        types=types,
        type_field=raw.get("type_field", "type"),
        subtype_field=raw.get("subtype_field", ""),
        data_json=raw.get("data", "json") == "json",
        non_json_data=tuple(raw.get("non_json_data", ())),
        sentinels=sentinels,
        key_field=raw.get("key_field", ""),
        open_types=raw.get("open_types", False),
        grammar=grammar,
        terminal=tuple(raw.get("terminal", ())),
        ids=IdRule(**raw.get("ids", {})),
        resume=Resumption(**resume) if resume else None,
        long_lived=raw.get("long_lived", False),
        timestamps=tuple(raw.get("timestamps", ())),
        failures=tuple(
            Failure(
                terminal=f["terminal"],
                variables=f["provoke"]["variables"],
                reference_only=f["provoke"].get("reference_only", False),
            )
            for f in raw.get("failures", ())
        ),
        filters=tuple(
            Filter(
                param=f["param"],
                value=f["value"],
                field=f["expect"]["field"],
                equals=f["expect"]["equals"],
                setup=tuple(f.get("setup", ())),
                trigger=f.get("trigger", ""),
            )
            for f in raw.get("filters", ())
        ),
    )


def _endpoint(name: str, raw: Mapping[str, Any], ctx: _Context) -> Endpoint:
    key: Key = ("endpoints", name)
    for field in ("query_schema", "body_schema", "response_schema", "error_schema"):
        if field in raw:
            _check_json_schema(raw[field], (*key, field), ctx)
    framing = Framing(raw["framing"]) if "framing" in raw else None
    if framing is None and "events" in raw:
        raise ctx.error((*key, "events"), "events need a framing (sse, ndjson or text)")
    if framing is not None and not raw.get("content_types"):
        raise ctx.error(key, "a streaming endpoint needs content_types")
    events = _events(raw["events"], (*key, "events"), ctx) if "events" in raw else None
    if framing is Framing.TEXT and events is not None:
        raise ctx.error((*key, "events"), "a text stream has no event grammar")
    if framing is Framing.NDJSON and events is not None and events.type_from == "sse-event":
        raise ctx.error((*key, "events", "type_from"), "an NDJSON stream has no SSE event field")
    errors = tuple(
        ErrorCase(e["status"], e["when"], e.get("error", ""), e.get("provoke"))
        for e in raw.get("errors", [])
    )
    return Endpoint(
        name=name,
        method=raw["method"],
        path=raw["path"],
        framing=framing,
        content_types=tuple(raw.get("content_types", ())),
        auth=raw.get("auth"),
        headers=raw.get("headers", {}),
        query=raw.get("query", {}),
        query_schema=raw.get("query_schema"),
        body=raw.get("body"),
        body_schema=raw.get("body_schema"),
        response_schema=raw.get("response_schema"),
        success=tuple(raw.get("success", (200,))),
        setup=tuple(raw.get("setup", ())),
        trigger=raw.get("trigger", ""),
        teardown=tuple(raw.get("teardown", ())),
        errors=errors,
        error_schema=raw.get("error_schema"),
        events=events,
        timing=_timing(raw.get("timing")),
        sizes=SizeBounds(**raw.get("limits", {}), stated=frozenset(raw.get("limits", {}))),
        summary=raw.get("summary", ""),
        overrun=Variant(
            "overrun",
            variables=raw["overrun"]["variables"],
            reference_only=raw["overrun"].get("reference_only", False),
        )
        if "overrun" in raw
        else None,
    )


def _auth(name: str, raw: Mapping[str, Any]) -> AuthScheme:
    kind = raw["type"]
    if kind == "header":
        return AuthScheme(name, kind, value=raw["value"], header=raw["name"])
    if kind == "bearer":
        return AuthScheme(name, kind, value=raw["token"], header="Authorization")
    return AuthScheme(
        name,
        kind,
        value=raw["value"],
        param=raw["param"],
        issued_by=raw["issued_by"],
        single_use=raw.get("single_use", True),
        expiry=raw["expiry"]["after"] if "expiry" in raw else None,
        expiry_reference_only=raw.get("expiry", {}).get("reference_only", False),
        elsewhere=raw.get("binding", {}).get("elsewhere", {}),
    )


def link_credentials(spec: Spec) -> Spec:
    """The spec with each endpoint's credentials resolved: its scheme, the API key behind
    it, and for an issued token the endpoint that issues it (cross-checked before)."""

    def scheme_of(ep: Endpoint) -> AuthScheme | None:
        return spec.auth.get(ep.auth) if ep.auth else None

    endpoints = {}
    for name, ep in spec.endpoints.items():  # keys first: issuers are linked endpoints too
        scheme = scheme_of(ep)
        own_key = scheme if scheme is not None and scheme.is_key else None
        endpoints[name] = replace(
            ep, credentials=Credentials(own_key, key=own_key) if own_key is not None else None
        )
    for name, ep in spec.endpoints.items():
        scheme = scheme_of(ep)
        if scheme is not None and not scheme.is_key:
            step, variable = _token_step(spec, scheme)
            issuer = endpoints[step.endpoint]
            key = scheme_of(issuer)
            endpoints[name] = replace(
                ep, credentials=Credentials(scheme, key, issuer, step, variable)
            )
    return replace(spec, endpoints=endpoints)


def _token_step(spec: Spec, scheme: AuthScheme) -> tuple[FlowStep, str]:
    """The issuing flow's step that captures the token, and the variable it fills."""
    wanted = references(scheme.value)
    for step in spec.flows[scheme.issued_by].steps:
        for name in step.capture:
            if name in wanted:
                return step, name
    raise AssertionError("cross-checked: the issuing flow captures the token")


def _flow(name: str, raw: Mapping[str, Any]) -> Flow:
    steps = []
    for s in raw["steps"]:
        until = s.get("until")
        steps.append(
            FlowStep(
                endpoint=s["endpoint"],
                body=s.get("body"),
                query=s.get("query", {}),
                headers=s.get("headers", {}),
                expect=tuple(s.get("expect", ())),
                capture=s.get("capture", {}),
                secret_captures=tuple(s.get("secret_captures", ())),
                until=Until(**until) if until else None,
            )
        )
    return Flow(name, tuple(steps), raw.get("description", ""))


def _coerce_default(name: str, raw: Mapping[str, Any], ctx: _Context) -> Variable:
    kind = raw.get("type", "string")
    default = raw.get("default")
    types: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
    }
    expected = types[kind]
    if default is not None and (
        not isinstance(default, expected) or (kind != "boolean" and isinstance(default, bool))
    ):
        raise ctx.error(("variables", name, "default"), f"default is not of type {kind}")
    return Variable(
        name, kind, default, raw.get("env"), raw.get("secret", False), raw.get("description", "")
    )


def _cross_check(spec: Spec, ctx: _Context, known_checks: Collection[str] | None) -> None:
    """References between parts of the spec must resolve."""
    captures = {
        name for flow in spec.flows.values() for step in flow.steps for name in step.capture
    }
    names = set(spec.variables) | captures
    for ep in spec.endpoints.values():
        key: Key = ("endpoints", ep.name)
        if ep.auth is not None and ep.auth not in spec.auth:
            raise ctx.error((*key, "auth"), f"no auth scheme named {ep.auth!r}")
        for field in ("setup", "teardown"):
            for i, flow in enumerate(getattr(ep, field)):
                if flow not in spec.flows:
                    raise ctx.error((*key, field, i), f"no flow named {flow!r}")
        if ep.trigger and ep.trigger not in spec.flows:
            raise ctx.error((*key, "trigger"), f"no flow named {ep.trigger!r}")
        for param in path_params(ep.path):
            if param not in names:
                raise ctx.error((*key, "path"), f"path parameter {{{param}}} is not a variable")
        for field in ("headers", "query", "body"):
            for ref in references(getattr(ep, field)):
                if ref not in names:
                    raise ctx.error((*key, field), f"${{{ref}}} is not a variable")
        for i, flt in enumerate(ep.events.filters if ep.events else ()):
            fkey = (*key, "events", "filters", i)
            for flow in (*flt.setup, *([flt.trigger] if flt.trigger else [])):
                if flow not in spec.flows:
                    raise ctx.error(fkey, f"no flow named {flow!r}")
            for ref in references(flt.value):
                if ref not in names:
                    raise ctx.error((*fkey, "value"), f"${{{ref}}} is not a variable")
            if flt.equals not in names:
                raise ctx.error((*fkey, "expect", "equals"), f"{flt.equals!r} is not a variable")
        resume = ep.events.resume if ep.events else None
        if resume and resume.via == "cursor" and resume.endpoint not in spec.endpoints:
            raise ctx.error(
                (*key, "events", "resume", "endpoint"), f"no endpoint named {resume.endpoint!r}"
            )
    for scheme in spec.auth.values():
        field = "token" if scheme.type == "bearer" else "value"
        for ref in references(scheme.value):
            if ref not in names:
                raise ctx.error(("auth", scheme.name, field), f"${{{ref}}} is not a variable")
        if scheme.issued_by and scheme.issued_by not in spec.flows:
            raise ctx.error(
                ("auth", scheme.name, "issued_by"), f"no flow named {scheme.issued_by!r}"
            )
        if scheme.issued_by:
            captured = {
                n
                for step in spec.flows[scheme.issued_by].steps
                if step.endpoint in spec.endpoints
                for n in step.capture
            }
            if not references(scheme.value) & captured:
                raise ctx.error(
                    ("auth", scheme.name, "value"),
                    f"flow {scheme.issued_by!r} captures no variable this token uses",
                )
        for ref in references(scheme.elsewhere):
            if ref not in names:
                raise ctx.error(
                    ("auth", scheme.name, "binding", "elsewhere"), f"${{{ref}}} is not a variable"
                )
    for flow in spec.flows.values():
        for i, step in enumerate(flow.steps):
            key = ("flows", flow.name, "steps", i)
            if step.endpoint not in spec.endpoints:
                raise ctx.error((*key, "endpoint"), f"no endpoint named {step.endpoint!r}")
            for field in ("headers", "query", "body"):
                for ref in references(getattr(step, field)):
                    if ref not in names:
                        raise ctx.error((*key, field), f"${{{ref}}} is not a variable")
    for i, req in enumerate(spec.requirements):
        for j, ep_name in enumerate(req.endpoints):
            if ep_name not in spec.endpoints:
                raise ctx.error(
                    ("requirements", i, "endpoints", j), f"no endpoint named {ep_name!r}"
                )
        if known_checks is not None:
            for j, check_id in enumerate(req.checks):
                if check_id not in known_checks:
                    raise ctx.error(
                        ("requirements", i, "checks", j), f"unknown check id {check_id!r}"
                    )
    for i, assumed in enumerate(spec.assumptions):
        for j, path in enumerate(assumed.covers):
            name = path.split(".")[1]
            if name != "*" and name not in spec.endpoints:
                raise ctx.error(
                    ("assumptions", i, "covers", j), f"no endpoint {name!r} in this spec"
                )
    seen: set[str] = set()
    for i, req in enumerate(spec.requirements):
        if req.id in seen:
            raise ctx.error(("requirements", i, "id"), f"duplicate requirement id {req.id!r}")
        seen.add(req.id)


# keys of format 2, by where they sit in an endpoint
_FORMAT_2: tuple[tuple[str, ...], ...] = (("events", "sentinels"),)


def _needs_format_2(raw: Mapping[str, Any], ctx: _Context) -> None:
    """A format 1 file that uses a key of format 2 says which, so it is not read as
    something else by an older streamconform."""
    if raw["streamconform"] != 1:
        return
    for name, endpoint in raw["endpoints"].items():
        for where in _FORMAT_2:
            node: Any = endpoint
            for part in where:
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None:
                key: Key = ("endpoints", name, *where)
                raise ctx.error(key, "a key of spec format 2: declare streamconform: 2")


def load_spec(path: str | Path, *, known_checks: Collection[str] | None = None) -> Spec:
    """Load and validate one spec file; `known_checks` enables the check-id cross-check."""
    path = Path(path)
    raw, lines = load_yaml(path)
    ctx = _Context(path, lines)
    _validate(raw, ctx, meta_schema())
    _needs_format_2(raw, ctx)
    reference = raw.get("reference")
    spec = Spec(
        name=raw["name"],
        title=raw["title"],
        path=str(path),
        source_document=raw["source"]["document"],
        variables={n: _coerce_default(n, v, ctx) for n, v in raw.get("variables", {}).items()},
        auth={n: _auth(n, v) for n, v in raw.get("auth", {}).items()},
        endpoints={n: _endpoint(n, v, ctx) for n, v in raw["endpoints"].items()},
        flows={n: _flow(n, v) for n, v in raw.get("flows", {}).items()},
        requirements=tuple(
            Requirement(
                id=r["id"],
                quote=" ".join(r["quote"].split()),
                level=Level(r["level"]),
                source=r.get("source", ""),
                endpoints=tuple(r.get("endpoints", ())),
                checks=tuple(r.get("checks", ())),
                pending=tuple(r.get("pending", ())),
                assumption=r.get("assumption", ""),
                note=r.get("note", ""),
            )
            for r in raw["requirements"]
        ),
        assumptions=tuple(
            Assumption(a["id"], a["text"], a.get("override", ""), tuple(a.get("covers", ())))
            for a in raw.get("assumptions", [])
        ),
        reference=Reference(**reference) if reference else None,
        locations=lines,
    )
    _cross_check(spec, ctx, known_checks)
    return link_credentials(spec)
