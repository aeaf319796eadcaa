"""Faults every API of a kind can have: framing, lifecycle, schemas, auth, bad input, replay."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jsonschema
from starlette.types import Scope

from streamconform.decode import Event
from streamconform.model.spec import Endpoint, Spec
from streamconform.model.templates import MissingVariable, render
from streamconform.servers.faults.edits import (
    BOM,
    EventFn,
    Status,
    at,
    broken_payload,
    buffered,
    each,
    events,
    gzipped,
    header,
    on_requests,
    on_streams,
    plain_401,
    query_of,
    replace_payload,
    strip_final_newline,
    terminal_of,
    where,
    with_query,
)
from streamconform.servers.faults.fault import Fault
from streamconform.servers.rewrite import (
    FOREVER,
    Headers,
    PieceEdit,
    StreamEdit,
    header_value,
    with_header,
)


def sse_framing(spec: str, ep: str, first_kind: str) -> Iterator[Fault]:
    """Framing faults of an SSE stream (`first_kind`: a label the stream starts with)."""
    on = (ep,)
    yield Fault(
        f"{spec}/content-type.plain",
        spec,
        "the stream is sent as text/plain",
        ("http.content-type.framing",),
        on_streams(on, header("content-type", "text/plain; charset=utf-8")),
    )
    yield Fault(
        f"{spec}/sse.bom-mid-stream",
        spec,
        "a byte order mark before the second event",
        ("sse.bom.leading-only",),
        on_streams(on, events(at(1, lambda r: [BOM + r]))),
    )
    yield Fault(
        f"{spec}/sse.invalid-utf8",
        spec,
        "a byte that is not UTF-8 in the second event",
        ("encoding.utf8.valid",),
        on_streams(on, events(at(1, lambda r: [r.replace(b"data: ", b"data: \xff", 1)]))),
    )
    yield Fault(
        f"{spec}/sse.json-split-wrongly",
        spec,
        "JSON cut across two data lines inside a string, so the joined data breaks",
        ("sse.data.json",),
        on_streams(on, events(at(1, lambda r: [r.replace(b'":"', b'":"\ndata: ', 1)]))),
    )
    yield Fault(
        f"{spec}/sse.field-name-case",
        spec,
        "'Data:' instead of 'data:'",
        ("sse.field.name-exact",),
        on_streams(on, events(at(1, lambda r: [r.replace(b"data:", b"Data:", 1)]))),
    )
    yield Fault(
        f"{spec}/sse.retry-not-digits",
        spec,
        "a retry field of '1.5s'",
        ("sse.retry.digits-only",),
        on_streams(on, events(at(0, lambda r: [b"retry: 1.5s\n" + r]))),
    )
    yield Fault(
        f"{spec}/sse.event-without-data",
        spec,
        "an event with an event field only",
        ("sse.event.has-data",),
        on_streams(on, events(at(1, lambda r: [f"event: {first_kind}\n\n".encode(), r]))),
    )
    yield Fault(
        f"{spec}/sse.unknown-field",
        spec,
        "a field no SSE client knows ('dat:')",
        ("sse.field.known", "sse.field.name-exact"),
        on_streams(on, events(at(1, lambda r: [b"dat: x\n" + r]))),
    )


def ndjson_framing(spec: str, ep: str) -> Iterator[Fault]:
    on = (ep,)
    yield Fault(
        f"{spec}/content-type.json",
        spec,
        "the stream is sent as application/json",
        ("http.content-type.framing",),
        on_streams(on, header("content-type", "application/json")),
    )
    yield Fault(
        f"{spec}/ndjson.pretty-printed",
        spec,
        "an object pretty-printed over lines",
        ("ndjson.line.json-object",),
        on_streams(
            on, events(at(1, lambda r: [(json.dumps(json.loads(r), indent=2) + "\n").encode()]))
        ),
    )
    yield Fault(
        f"{spec}/ndjson.no-final-newline",
        spec,
        "the last line has no newline",
        ("ndjson.line.terminated",),
        on_streams(on, lambda endpoint, scope: strip_final_newline(endpoint)),
    )
    yield Fault(
        f"{spec}/ndjson.blank-lines",
        spec,
        "a blank line after every object",
        ("ndjson.line.no-blank",),
        on_streams(on, events(each(lambda r: [r + b"\n"]))),
    )
    yield Fault(
        f"{spec}/ndjson.crlf",
        spec,
        "lines end with CRLF",
        ("ndjson.line.no-cr",),
        on_streams(on, events(each(lambda r: [r[:-1] + b"\r\n"]))),
    )
    yield Fault(
        f"{spec}/ndjson.invalid-utf8",
        spec,
        "a byte that is not UTF-8 in a line",
        ("encoding.utf8.valid",),
        on_streams(on, events(at(1, lambda r: [r.replace(b'":"', b'":"\xff', 1)]))),
    )


def lifecycle(spec: Spec, name: str, ep: str, extra: Callable[[Event], bytes]) -> Iterator[Fault]:
    """Terminal faults of a finite stream; `extra` makes an event like a given one."""
    yield Fault(
        f"{name}/http.status-203",
        name,
        "the stream opens with 203, a status the API never documents",
        ("http.status.success",),
        on_streams((ep,), lambda endpoint, scope: Status(203)),
    )
    yield Fault(
        f"{name}/http.gzip",
        name,
        "the stream is gzip-compressed (flushed per piece, so it still streams)",
        ("http.content-encoding.identity",),
        on_streams((ep,), lambda endpoint, scope: gzipped()),
    )
    on, is_terminal = (ep,), terminal_of(spec, ep)
    yield Fault(
        f"{name}/delivery.buffered",
        name,
        "the whole response is held until the end",
        ("stream.delivery.incremental",),
        on_streams(on, buffered()),
    )
    yield Fault(
        f"{name}/terminal.events-after",
        name,
        "an event after the terminal event",
        ("terminal.event.once",),
        on_streams(on, events(where(is_terminal, lambda r, e: [r, extra(e)]))),
    )
    yield Fault(
        f"{name}/terminal.twice",
        name,
        "the terminal event sent twice",
        ("terminal.event.once",),
        on_streams(on, events(where(is_terminal, lambda r, e: [r, r]))),
    )
    yield Fault(
        f"{name}/terminal.dropped",
        name,
        "no terminal event",
        ("terminal.event.present",),
        on_streams(on, events(where(is_terminal, lambda r, e: []))),
    )
    yield Fault(
        f"{name}/terminal.left-open",
        name,
        "the stream stays open after its end",
        ("terminal.stream.closes",),
        on_streams(on, lambda endpoint, scope: PieceEdit(linger=FOREVER)),
    )
    yield Fault(
        f"{name}/cache-control.missing",
        name,
        "no Cache-Control header",
        ("http.cache-control.no-cache",),
        on_streams(on, header("cache-control", None)),
    )


def schema_faults(spec: Spec, ep: str, labels: tuple[str, ...]) -> Iterator[Fault]:
    endpoint = spec.endpoints[ep]
    rules = endpoint.events
    assert rules is not None and endpoint.framing is not None
    keep = {rules.type_field, rules.subtype_field} - {""}
    framing = endpoint.framing.value

    for label in labels:
        schema = rules.types[label].schema

        def change(raw: bytes, ev: Event, schema: Any = schema) -> list[bytes]:
            payload = broken_payload(schema, ev.payload, keep)
            return [raw if payload is None else replace_payload(raw, ev, payload, framing)]

        def is_label(lb: str | None, want: str = label) -> bool:
            return lb == want

        yield Fault(
            f"{spec.name}/schema.{label}",
            spec.name,
            f"a {label} event that breaks its schema",
            ("schema.event.valid",),
            on_streams((ep,), events(where(is_label, change))),
        )


def auth_faults(name: str, ep: str) -> Iterator[Fault]:
    def credential(endpoint: Endpoint, spec: Spec, variables: Mapping[str, Any]) -> tuple[str, str]:
        key = spec.auth[endpoint.auth or ""]
        value = str(render(key.value, variables))
        return key.header, key.header_value(value)

    def valid_always(
        endpoint: Endpoint, scope: Scope, body: bytes, spec: Spec, variables: Any
    ) -> Any:
        name_, value = credential(endpoint, spec, variables)
        return with_header(scope, name_, value), body

    def prefix(endpoint: Endpoint, scope: Scope, body: bytes, spec: Spec, variables: Any) -> Any:
        name_, value = credential(endpoint, spec, variables)
        sent = header_value(scope, name_) or ""
        if sent and (value.startswith(sent) or sent.startswith(value)) and len(sent) > 8:
            return with_header(scope, name_, value), body
        return None

    def from_query(
        endpoint: Endpoint, scope: Scope, body: bytes, spec: Spec, variables: Any
    ) -> Any:
        name_, value = credential(endpoint, spec, variables)
        if "api_key" in query_of(scope):
            return with_header(scope, name_, value), body
        return None

    yield Fault(
        f"{name}/auth.not-checked",
        name,
        "any key, or none, is accepted",
        ("auth.key.missing", "auth.key.malformed", "auth.key.wrong"),
        on_requests((ep,), valid_always),
    )
    yield Fault(
        f"{name}/auth.prefix-compared",
        name,
        "a key that is the real one's prefix or extension is accepted",
        ("auth.key.wrong",),
        on_requests((ep,), prefix),
    )
    yield Fault(
        f"{name}/auth.key-from-query",
        name,
        "the key is also read from ?api_key=",
        ("auth.key.in-query",),
        on_requests((ep,), from_query),
    )
    yield Fault(
        f"{name}/auth.401-plain-text",
        name,
        "401 answered with a text/plain body",
        ("auth.key.missing", "http.error.documented"),
        on_streams((ep,), lambda endpoint, scope: plain_401(), answers="errors"),
    )


def bad_input_faults(name: str, ep: str, replaced: bool = True) -> Iterator[Fault]:
    """Bad input answered 500; with `replaced`, bad input streamed as if it were good."""

    class ServerError(StreamEdit):
        def head(self, status: int, headers: Headers) -> tuple[int, Headers]:
            return (500 if status in (400, 422) else status), headers

    yield Fault(
        f"{name}/input.500-on-bad-input",
        name,
        "bad input answered 500, not 400",
        ("input.invalid.refused",),
        on_streams((ep,), lambda endpoint, scope: ServerError(), answers="errors"),
    )

    if not replaced:
        return
    valid: list[bytes] = []  # the last body the schema allowed

    def valid_body(
        endpoint: Endpoint, scope: Scope, body: bytes, spec: Spec, variables: Any
    ) -> Any:
        try:
            jsonschema.validate(json.loads(body), endpoint.body_schema or {})
        except (ValueError, jsonschema.ValidationError):
            if valid:
                return scope, valid[-1]
            try:  # none seen yet: the spec's own body, where the server knows its values
                return scope, json.dumps(render(endpoint.body, variables)).encode()
            except MissingVariable:
                return None
        valid.append(body)
        return None

    yield Fault(
        f"{name}/input.bad-input-streamed",
        name,
        "a body that breaks the schema is streamed as if it were the default one",
        ("input.invalid.refused",),
        on_requests((ep,), valid_body),
    )


def resume_faults(name: str, ep: str, resumed: str, via_cursor: bool) -> Iterator[Fault]:
    """Replay faults, on the endpoint resumes go to (`resumed`)."""

    def cursor_of(scope: Scope) -> str | None:
        return query_of(scope).get("cursor") if via_cursor else header_value(scope, "last-event-id")

    def drop_cursor(scope: Scope) -> Scope:
        if via_cursor:
            return with_query(scope, {k: v for k, v in query_of(scope).items() if k != "cursor"})
        return with_header(scope, "last-event-id", None)

    def ignore(endpoint: Endpoint, scope: Scope, body: bytes, spec: Spec, variables: Any) -> Any:
        return (drop_cursor(scope), body) if cursor_of(scope) else None

    def skip_one(endpoint: Endpoint, scope: Scope) -> StreamEdit | None:
        if not cursor_of(scope):
            return None
        return events(at(0, lambda r: []))(endpoint, scope)

    seen: dict[str, bytes] = {}

    def remember(endpoint: Endpoint, scope: Scope) -> StreamEdit | None:
        cursor = cursor_of(scope)

        def fn() -> EventFn:
            def each(i: int, raw: bytes, ev: Event, label: str | None) -> list[bytes]:
                ident = ev.id or (ev.payload.get("id") if isinstance(ev.payload, dict) else None)
                if ident:
                    seen[str(ident)] = raw
                if i == 0 and cursor and cursor in seen and seen[cursor] != raw:
                    return [seen[cursor], raw]
                return [raw]

            return each

        return events(fn)(endpoint, scope)

    def forget(endpoint: Endpoint, scope: Scope, body: bytes, spec: Spec, variables: Any) -> Any:
        if cursor_of(scope):
            doc = {"error": "run_not_found", "message": "no such run"}
            return {
                "status": 404,
                "headers": {"content-type": "application/json"},
                "body": json.dumps(doc).encode(),
            }
        return None

    yield Fault(
        f"{name}/resume.cursor-ignored",
        name,
        "a resume replays from the start",
        ("resume.stitched.complete",),
        on_requests((resumed,), ignore),
    )
    yield Fault(
        f"{name}/resume.skips-one",
        name,
        "a resume skips the first missed event",
        ("resume.stitched.complete",),
        on_streams((resumed,), skip_one),
    )
    yield Fault(
        f"{name}/resume.repeats-cursor-event",
        name,
        "a resume repeats the event the client had last",
        ("resume.stitched.complete",),
        on_streams((ep, resumed) if ep != resumed else (ep,), remember),
    )
    yield Fault(
        f"{name}/resume.run-forgotten",
        name,
        "a run is forgotten once its client disconnects",
        ("resume.stitched.complete",),
        on_requests((resumed,), forget),
    )
