"""The fault catalogue: each reference server broken on purpose in one way, with the checks
that must catch it, and benign variants (correct but unusual) that must pass untouched.

A fault wraps the correct server (servers.rewrite): a request rewritten on its way in,
a stream edited on its way out; the token faults of the workflow server are built in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jsonschema
from starlette.types import ASGIApp, Scope

from streamconform.decode import Event
from streamconform.formats import schema_validator
from streamconform.model.spec import Endpoint, Spec
from streamconform.model.templates import MissingVariable, render
from streamconform.servers.common import Clock
from streamconform.servers.rewrite import (
    FOREVER,
    EventEdit,
    Headers,
    PieceEdit,
    StreamEdit,
    edit_requests,
    edit_streams,
    header_value,
    set_header,
    with_header,
)

__all__ = ["Fault", "faults_for"]

Wrap = Callable[[ASGIApp, Spec, Mapping[str, Any], Clock], ASGIApp]
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Fault:
    """One way to break (or, benign, merely to vary) a spec's reference server.

    `caught_by`: the check ids of which at least one must fail or warn; empty for a
    benign variant, on which no check of `suites` may fail or warn.
    """

    name: str
    spec: str
    breaks: str
    caught_by: tuple[str, ...] = ()
    wrap: Wrap | None = None
    flags: frozenset[str] = frozenset()
    suites: tuple[str, ...] = ()
    transport: str = ""  # "http/1.0": served through a front that answers in HTTP/1.0

    @property
    def benign(self) -> bool:
        return not self.caught_by


# -- matching requests ---------------------------------------------------------------------


def _route(endpoint: Endpoint) -> Callable[[Scope], bool]:
    pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", endpoint.path.rstrip("/")) + "/?$")
    return lambda scope: scope["method"] == endpoint.method and bool(pattern.match(scope["path"]))


def _query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


def _with_query(scope: Scope, query: Mapping[str, str]) -> Scope:
    return {**scope, "query_string": urlencode(dict(query)).encode()}


def on_streams(
    endpoints: tuple[str, ...],
    make: Callable[[Endpoint, Scope], StreamEdit | None],
    answers: str = "streams",
) -> Wrap:
    """A wrap that edits the answers of the named endpoints."""

    def wrap(app: ASGIApp, spec: Spec, variables: Mapping[str, Any], clock: Clock) -> ASGIApp:
        routes = [(spec.endpoints[n], _route(spec.endpoints[n])) for n in endpoints]

        def pick(scope: Scope) -> StreamEdit | None:
            for endpoint, matches in routes:
                if matches(scope):
                    return make(endpoint, scope)
            return None

        return edit_streams(app, pick, answers=answers)

    return wrap


def on_requests(
    endpoints: tuple[str, ...],
    change: Callable[[Endpoint, Scope, bytes, Spec, Mapping[str, Any]], Any],
) -> Wrap:
    """A wrap that rewrites (or answers) the requests of the named endpoints."""

    def wrap(app: ASGIApp, spec: Spec, variables: Mapping[str, Any], clock: Clock) -> ASGIApp:
        routes = [(spec.endpoints[n], _route(spec.endpoints[n])) for n in endpoints]

        async def edit(scope: Scope, body: bytes) -> Any:
            for endpoint, matches in routes:
                if matches(scope):
                    return change(endpoint, scope, body, spec, variables)
            return None

        return edit_requests(app, edit)

    return wrap


# -- edits of bytes and events -----------------------------------------------------------


def pieces(
    change: Callable[[bytes], list[bytes]], **kw: Any
) -> Callable[[Endpoint, Scope], StreamEdit]:
    return lambda endpoint, scope: PieceEdit(piece=change, **kw)


def header(name: str, value: str | None) -> Callable[[Endpoint, Scope], StreamEdit]:
    return lambda endpoint, scope: PieceEdit(headers=lambda h: set_header(h, name, value))


def buffered() -> Callable[[Endpoint, Scope], StreamEdit]:
    def make(endpoint: Endpoint, scope: Scope) -> StreamEdit:
        held: list[bytes] = []

        def keep(piece: bytes) -> list[bytes]:
            held.append(piece)
            return []

        return PieceEdit(piece=keep, end=lambda: [b"".join(held)])

    return make


EventFn = Callable[[int, bytes, Event, str | None], list[bytes]]


def events(
    fn: Callable[[], EventFn], end: Callable[[], list[bytes]] | None = None, **kw: Any
) -> Callable[[Endpoint, Scope], StreamEdit]:
    """An edit calling a fresh `fn()` with (index, raw, event, label) for each event."""

    def make(endpoint: Endpoint, scope: Scope) -> StreamEdit:
        count = iter(range(1 << 30))
        per_event = fn()
        return EventEdit(
            endpoint,
            lambda raw, ev, label: per_event(next(count), raw, ev, label),
            end=end or list,
            **kw,
        )

    return make


def each(change: Callable[[bytes], list[bytes]]) -> Callable[[], EventFn]:
    """Change every event's bytes alike."""
    return lambda: lambda i, raw, ev, label: change(raw)


def at(index: int, change: Callable[[bytes], list[bytes]]) -> Callable[[], EventFn]:
    """Change the event at `index` (0-based), every other as it is."""
    return lambda: lambda i, raw, ev, label: change(raw) if i == index else [raw]


def where(
    test: Callable[[str | None], bool],
    change: Callable[[bytes, Event], list[bytes]],
    once: bool = True,
) -> Callable[[], EventFn]:
    """Change the first event (or every one) whose label passes `test`."""

    def fresh() -> EventFn:
        done = False

        def fn(i: int, raw: bytes, ev: Event, label: str | None) -> list[bytes]:
            nonlocal done
            if test(label) and not (once and done):
                done = True
                return change(raw, ev)
            return [raw]

        return fn

    return fresh


def terminal_of(spec: Spec, endpoint: str) -> Callable[[str | None], bool]:
    rules = spec.endpoints[endpoint].events
    assert rules is not None
    return rules.is_terminal


def sse_event(payload: Any, *, event: str | None = None, id: str | None = None) -> bytes:
    lines = ([f"event: {event}"] if event else []) + ([f"id: {id}"] if id else [])
    return ("\n".join([*lines, f"data: {json.dumps(payload)}"]) + "\n\n").encode()


def ndjson_line(payload: Any) -> bytes:
    return (json.dumps(payload) + "\n").encode()


def replace_payload(raw: bytes, ev: Event, payload: Any, endpoint_framing: str) -> bytes:
    """The event with its JSON data replaced, other fields kept."""
    if endpoint_framing == "ndjson":
        return ndjson_line(payload)
    lines = [ln for ln in raw.decode().split("\n") if ln and not ln.startswith("data")]
    return ("\n".join([*lines, f"data: {json.dumps(payload)}"]) + "\n\n").encode()


def broken_payload(schema: Mapping[str, Any] | bool, payload: Any, keep: set[str]) -> Any:
    """A change to the payload that its schema refuses: a required field removed, or a
    field of the wrong type; None when no such change is found."""
    if not isinstance(payload, dict) or not isinstance(schema, Mapping):
        return None
    validator = schema_validator(schema)
    for name in schema.get("required", ()):
        if name not in keep and name in payload:
            changed = {k: v for k, v in payload.items() if k != name}
            if not validator.is_valid(changed):
                return changed
    for name, value in payload.items():
        if name in keep:
            continue
        for wrong in [["wrong"]] if not isinstance(value, list) else [{"wrong": 1}]:
            changed = {**payload, name: wrong}
            if not validator.is_valid(changed):
                return changed
    return None


# -- the catalogue ------------------------------------------------------------------------


def _sse_framing(spec: str, ep: str, first_kind: str) -> Iterator[Fault]:
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


def _ndjson_framing(spec: str, ep: str) -> Iterator[Fault]:
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
        on_streams(on, lambda endpoint, scope: _strip_final_newline(endpoint)),
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


def _strip_final_newline(endpoint: Endpoint) -> StreamEdit:
    held: list[bytes] = []

    def piece(p: bytes) -> list[bytes]:
        if not p:
            return []
        out = held[:]
        held[:] = [p]
        return out

    def end() -> list[bytes]:  # the last newline only: an SSE event then lacks its blank line
        return [held[0][:-1] if held[0].endswith(b"\n") else held[0]] if held else []

    return PieceEdit(piece=piece, end=end)


def _lifecycle(spec: Spec, name: str, ep: str, extra: Callable[[Event], bytes]) -> Iterator[Fault]:
    """Terminal faults of a finite stream; `extra` makes an event like a given one."""
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


def _schema_faults(spec: Spec, ep: str, labels: tuple[str, ...]) -> Iterator[Fault]:
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

        yield Fault(
            f"{spec.name}/schema.{label}",
            spec.name,
            f"a {label} event that breaks its schema",
            ("schema.event.valid",),
            on_streams((ep,), events(where(lambda lb, want=label: lb == want, change))),
        )


def _auth_faults(name: str, ep: str) -> Iterator[Fault]:
    def credential(endpoint: Endpoint, spec: Spec, variables: Mapping[str, Any]) -> tuple[str, str]:
        key = spec.auth[endpoint.auth or ""]
        value = str(render(key.value, variables))
        return key.header, (f"Bearer {value}" if key.type == "bearer" else value)

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
        if "api_key" in _query(scope):
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
        on_streams((ep,), lambda endpoint, scope: _plain_401(), answers="errors"),
    )


def _plain_401() -> StreamEdit:
    class Plain(StreamEdit):
        def head(self, status: int, headers: Headers) -> tuple[int, Headers]:
            if status == 401:
                self.active = True
                return status, set_header(headers, "content-type", "text/plain")
            self.active = False
            return status, headers

        def feed(self, piece: bytes) -> list[bytes]:
            return [b"Unauthorized"] if self.active and piece else [piece]

    return Plain()


def _bad_input_faults(name: str, ep: str, replaced: bool = True) -> Iterator[Fault]:
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


def _resume_faults(name: str, ep: str, resumed: str, via_cursor: bool) -> Iterator[Fault]:
    """Replay faults, on the endpoint resumes go to (`resumed`)."""

    def cursor_of(scope: Scope) -> str | None:
        return _query(scope).get("cursor") if via_cursor else header_value(scope, "last-event-id")

    def drop_cursor(scope: Scope) -> Scope:
        if via_cursor:
            return _with_query(scope, {k: v for k, v in _query(scope).items() if k != "cursor"})
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


def _miniapp(spec: Spec) -> Iterator[Fault]:
    name, ep = spec.name, "prompt_stream"
    yield from _sse_framing(name, ep, "assistant")
    yield Fault(
        f"{name}/sse.unterminated-last-event",
        name,
        "the last event has no blank line",
        ("sse.event.terminated", "terminal.event.present"),
        on_streams((ep,), lambda endpoint, scope: _strip_final_newline(endpoint)),
    )
    yield from _lifecycle(
        spec, name, ep, lambda e: sse_event({"type": "assistant", "message": "late"})
    )
    yield Fault(
        f"{name}/order.init-after-assistant",
        name,
        "system.init after an assistant event",
        ("order.grammar.viable",),
        on_streams(
            (ep,),
            events(
                where(
                    lambda lb: lb == "assistant",
                    lambda r, e: [
                        r,
                        sse_event(
                            {
                                "type": "system",
                                "subtype": "init",
                                "message": "late",
                                "session_id": "s",
                            }
                        ),
                    ],
                )
            ),
        ),
    )
    yield Fault(
        f"{name}/schema.unknown-type",
        name,
        "an event of an undeclared type",
        ("schema.type.declared",),
        on_streams((ep,), events(at(1, lambda r: [sse_event({"type": "mystery"}), r]))),
    )

    def stays_open_after_error(endpoint: Endpoint, scope: Scope) -> StreamEdit:
        edit = EventEdit(endpoint, lambda raw, ev, label: [raw])
        original = edit.event

        def watch(raw: bytes, ev: Event, label: str | None) -> list[bytes]:
            if label == "error" or (label or "").startswith("result.error"):
                edit.linger = FOREVER
            return original(raw, ev, label)

        edit.event = watch
        return edit

    yield Fault(
        f"{name}/terminal.open-after-failure",
        name,
        "the stream stays open after a failure event",
        ("terminal.failure.reported",),
        on_streams((ep,), stays_open_after_error),
    )
    yield from _schema_faults(
        spec, ep, ("connection", "system.init", "assistant", "user", "result.success")
    )
    yield from _auth_faults(name, ep)
    # its stream body names a deployment only setup creates: no good body to swap in
    yield from _bad_input_faults(name, ep, replaced=False)


def _prism(spec: Spec) -> Iterator[Fault]:
    name, ep = spec.name, "events"
    yield from _sse_framing(name, ep, "token")
    is_terminal = terminal_of(spec, ep)
    yield Fault(
        f"{name}/sse.id-with-nul",
        name,
        "an id holding a NUL character",
        ("sse.id.no-nul",),
        on_streams(
            (ep,),
            events(
                at(
                    1,
                    lambda r: [
                        re.sub(rb"id: (\S+)", lambda m: b"id: " + m.group(1) + b"\0x", r, count=1)
                    ],
                )
            ),
        ),
    )
    yield Fault(
        f"{name}/ids.missing",
        name,
        "an event without an id (it inherits the one before, as SSE clients keep it)",
        ("event.id.present", "event.id.unique"),
        on_streams((ep,), events(at(1, lambda r: [re.sub(rb"id: \S+\n", b"", r, count=1)]))),
    )

    def duplicate() -> EventFn:
        previous: list[bytes] = []

        def each(i: int, raw: bytes, ev: Event, label: str | None) -> list[bytes]:
            if i == 2 and previous:
                old = re.search(rb"id: (\S+)", previous[0])
                if old:
                    return [re.sub(rb"id: \S+", b"id: " + old.group(1), raw, count=1)]
            if i == 1:
                previous.append(raw)
            return [raw]

        return each

    yield Fault(
        f"{name}/ids.duplicate",
        name,
        "two events with the same id",
        ("event.id.unique",),
        on_streams((ep,), events(duplicate)),
    )

    def swapped() -> EventFn:
        held: list[bytes] = []

        def each(i: int, raw: bytes, ev: Event, label: str | None) -> list[bytes]:
            if i == 1:  # the second event waits, to go out after the third
                held.append(raw)
                return []
            if i == 2 and held:
                return [raw, held.pop()]
            return [raw]

        return each

    yield Fault(
        f"{name}/ids.out-of-order",
        name,
        "two events (and their ids) delivered in swapped order",
        ("resume.stitched.complete", "event.id.increasing", "resume.subscribers.agree"),
        on_streams((ep,), events(swapped)),
    )
    yield Fault(
        f"{name}/terminal.closes-after-run",
        name,
        "the long-lived stream closes once a run ends",
        ("terminal.stream.stays-open",),
        on_streams((ep,), lambda endpoint, scope: _stop_after(endpoint, is_terminal)),
    )
    yield Fault(
        f"{name}/terminal.status-backwards",
        name,
        "run_status goes back to running after the run completed",
        ("terminal.event.once", "order.grammar.viable"),
        on_streams(
            (ep,),
            events(
                where(
                    is_terminal,
                    lambda r, e: [
                        r,
                        sse_event(
                            {
                                **(e.payload if isinstance(e.payload, dict) else {}),
                                "status": "running",
                            },
                            event="run_status",
                            id=f"{e.id}b",
                        ),
                    ],
                )
            ),
        ),
    )
    yield Fault(
        f"{name}/terminal.dropped",
        name,
        "a run without its terminal event",
        ("terminal.event.present",),
        on_streams((ep,), events(where(is_terminal, lambda r, e: [], once=False))),
    )
    yield Fault(
        f"{name}/schema.unknown-type",
        name,
        "an event of an undeclared type",
        ("schema.type.declared",),
        on_streams(
            (ep,),
            events(
                where(
                    lambda lb: lb == "token",
                    lambda r, e: [
                        r,
                        sse_event(
                            {
                                "run_id": e.payload.get("run_id")
                                if isinstance(e.payload, dict)
                                else None
                            },
                            event="mystery",
                            id=f"{e.id}m",
                        ),
                    ],
                )
            ),
        ),
    )

    def unfiltered(
        endpoint: Endpoint, scope: Scope, body: bytes, spec: Spec, variables: Any
    ) -> Any:
        query = _query(scope)
        if {"thread_id", "run_id"} & set(query):
            return _with_query(
                scope, {k: v for k, v in query.items() if k not in ("thread_id", "run_id")}
            ), body
        return None

    yield Fault(
        f"{name}/filter.ignored",
        name,
        "the thread_id and run_id filters are ignored",
        ("filter.only-matching",),
        on_requests((ep,), unfiltered),
    )

    def unknown_id_accepted(
        endpoint: Endpoint, scope: Scope, body: bytes, spec: Spec, variables: Any
    ) -> Any:
        last = header_value(scope, "last-event-id")
        if last and not re.fullmatch(r"evt_\d{4}", last):
            return with_header(scope, "last-event-id", None), body
        return None

    yield Fault(
        f"{name}/resume.unknown-id-accepted",
        name,
        "a Last-Event-ID never issued starts a live stream instead of an error",
        ("resume.cursor.unknown-refused",),
        on_requests((ep,), unknown_id_accepted),
    )
    yield from _resume_faults(name, ep, ep, via_cursor=False)
    yield from _schema_faults(
        spec,
        ep,
        (
            "token",
            "tool_call",
            "tool_result",
            "filesystem",
            "steering_request",
            "run_status.running",
            "run_status.waiting_on_human",
            "run_status.completed",
        ),
    )
    yield from _auth_faults(name, ep)

    def every_scope(
        endpoint: Endpoint, scope: Scope, body: bytes, spec: Spec, variables: Any
    ) -> Any:
        unscoped = f"Bearer {variables['unscoped_api_key']}"
        if header_value(scope, "authorization") == unscoped:
            return with_header(scope, "authorization", f"Bearer {variables['api_key']}"), body
        return None

    yield Fault(
        f"{name}/auth.scope-ignored",
        name,
        "a key without deployments:read may stream",
        ("http.error.documented",),
        on_requests((ep,), every_scope),
    )


def _stop_after(endpoint: Endpoint, is_terminal: Callable[[str | None], bool]) -> StreamEdit:
    edit = EventEdit(endpoint, lambda raw, ev, label: [raw])

    def each(raw: bytes, ev: Event, label: str | None) -> list[bytes]:
        if is_terminal(label):
            edit.stop_now = True
        return [raw]

    edit.event = each
    return edit


def _promptfloe(spec: Spec) -> Iterator[Fault]:
    name = spec.name
    yield from _ndjson_framing(name, "build")
    yield from _lifecycle(
        spec,
        name,
        "build",
        lambda e: ndjson_line({"type": "review", "notes": "late", "patched": [], "id": "evt_9999"}),
    )

    def duplicate() -> EventFn:
        first: list[str] = []

        def each(i: int, raw: bytes, ev: Event, label: str | None) -> list[bytes]:
            payload = ev.payload if isinstance(ev.payload, dict) else {}
            if i == 0:
                first.append(str(payload.get("id")))
            if i == 1 and first:
                return [ndjson_line({**payload, "id": first[0]})]
            return [raw]

        return each

    yield Fault(
        f"{name}/ids.duplicate",
        name,
        "two events with the same id",
        ("event.id.unique",),
        on_streams(("build",), events(duplicate)),
    )
    yield Fault(
        f"{name}/order.plan-late",
        name,
        "the plan event after a file event",
        ("order.grammar.viable",),
        on_streams(
            ("build",),
            events(
                where(
                    lambda lb: lb == "file",
                    lambda r, e: [
                        r,
                        ndjson_line(
                            {"type": "plan", "summary": "late", "manifest": [], "id": "evt_0998"}
                        ),
                    ],
                )
            ),
        ),
    )
    yield Fault(
        f"{name}/schema.unknown-type",
        name,
        "an event of an undeclared type",
        ("schema.type.declared",),
        on_streams(
            ("build",),
            events(at(1, lambda r: [ndjson_line({"type": "mystery", "id": "evt_0997"}), r])),
        ),
    )
    yield from _schema_faults(spec, "build", ("plan", "file", "review", "augmenter", "ready"))
    yield from _schema_faults(spec, "skill", ("chunk", "file_written", "done"))
    yield from _resume_faults(name, "build", "run_events", via_cursor=True)

    def unknown_cursor(
        endpoint: Endpoint, scope: Scope, body: bytes, spec: Spec, variables: Any
    ) -> Any:
        query = _query(scope)
        if "cursor" in query and not re.fullmatch(r"evt_\d{4}", query["cursor"]):
            return _with_query(scope, {k: v for k, v in query.items() if k != "cursor"}), body
        return None

    yield Fault(
        f"{name}/resume.unknown-cursor-accepted",
        name,
        "a cursor never issued replays the run instead of an error",
        ("resume.cursor.unknown-refused",),
        on_requests(("run_events",), unknown_cursor),
    )
    yield from _auth_faults(name, "build")
    yield from _bad_input_faults(name, "build")


def _workflow(spec: Spec) -> Iterator[Fault]:
    name, ep = spec.name, "run_stream"
    yield Fault(
        f"{name}/content-type.octet",
        name,
        "the text is sent as application/octet-stream",
        ("http.content-type.framing",),
        on_streams((ep,), header("content-type", "application/octet-stream")),
    )
    yield Fault(
        f"{name}/text.sse-framed",
        name,
        "each text piece framed as an SSE event",
        ("text.framing.none",),
        on_streams((ep,), pieces(lambda p: [b"data: " + p + b"\n\n"])),
    )
    yield Fault(
        f"{name}/text.invalid-utf8",
        name,
        "a byte that is not UTF-8 in the text",
        ("encoding.utf8.valid",),
        on_streams((ep,), pieces(lambda p: [p + b"\xff"])),
    )
    yield Fault(
        f"{name}/terminal.no-max-duration",
        name,
        "a stream that would overrun goes on past 300 s",
        ("terminal.stream.max-duration",),
        on_streams((ep,), lambda endpoint, scope: _trailing()),
    )
    for flag, breaks, caught in (
        (
            "reusable",
            "a token opens any number of streams",
            (
                "token.single-use.after-end",
                "token.single-use.while-streaming",
                "token.single-use.race",
            ),
        ),
        (
            "spent-at-end",
            "a token is spent only when its stream ends",
            ("token.single-use.while-streaming", "token.single-use.race"),
        ),
        ("racy", "a token is checked, then spent a moment later", ("token.single-use.race",)),
        ("never-expires", "an expired token is accepted", ("token.expiry",)),
        ("key-accepted", "the API key works as a stream token", ("token.api-key.refused",)),
    ):
        yield Fault(f"{name}/token.{flag}", name, breaks, caught, flags=frozenset({flag}))

    def echo(endpoint: Endpoint, scope: Scope) -> StreamEdit:
        token = _query(scope).get("token", "")
        return PieceEdit(headers=lambda h: set_header(h, "x-stream-token", token))

    yield Fault(
        f"{name}/token.echoed",
        name,
        "the stream echoes its token in a header",
        ("token.not-echoed",),
        on_streams((ep,), echo),
    )
    yield Fault(
        f"{name}/token.answer-cached",
        name,
        "the token answer may be cached",
        ("token.issue.no-store",),
        on_streams(("token",), header("cache-control", "max-age=60"), answers="all"),
    )
    yield from _auth_faults(name, "token")


def _trailing() -> StreamEdit:
    edit = PieceEdit()
    edit.trailer = (b"and more ", 0.02)
    return edit


def _benign() -> Iterator[Fault]:
    """Correct but unusual: every check must still pass."""
    ms, pr, pf, wf = "miniapp-studio", "prism-agents", "promptfloe", "workflow-stream"
    sse = ("framing", "ordering", "terminal")

    def endings(new: bytes) -> Callable[[bytes], list[bytes]]:
        return lambda p: [p.replace(b"\n", new)]

    def every_byte(p: bytes) -> list[bytes]:
        return [p[i : i + 1] for i in range(len(p))]

    def mixed(p: bytes) -> list[bytes]:
        out = bytearray()
        for i, line in enumerate(p.split(b"\n")[:-1]):
            out += line + (b"\r\n", b"\n", b"\r")[i % 3]
        return [bytes(out) + p.split(b"\n")[-1]]

    def multiline(raw: bytes) -> list[bytes]:
        text = raw.decode()
        lines = []
        for line in text.split("\n"):
            if line.startswith("data: "):
                pretty = json.dumps(json.loads(line[6:]), indent=1)
                lines += [f"data: {part}" for part in pretty.split("\n")]
            else:
                lines.append(line)
        return ["\n".join(lines).encode()]

    def extra_fields(endpoint: Endpoint, scope: Scope) -> StreamEdit:
        rules = endpoint.events
        assert rules is not None and endpoint.framing is not None
        framing = endpoint.framing.value

        def change(raw: bytes, ev: Event, label: str | None) -> list[bytes]:
            kind = rules.types.get(label or "")
            if kind is None or not isinstance(ev.payload, dict):
                return [raw]
            extended = {**ev.payload, "x_extra_note": "ignored by clients"}
            if not schema_validator(kind.schema).is_valid(extended):
                return [raw]
            return [replace_payload(raw, ev, extended, framing)]

        return EventEdit(endpoint, change)

    def large(framing: str) -> Callable[[bytes], list[bytes]]:
        pad = " " * 300_000
        if framing == "sse":
            return lambda raw: [raw.replace(b"data: {", b"data: {" + pad.encode(), 1)]
        return lambda raw: [raw.replace(b"{", b"{" + pad.encode(), 1)]

    yield Fault(
        f"{ms}/benign.crlf",
        ms,
        "CRLF line endings",
        wrap=on_streams(("prompt_stream",), pieces(endings(b"\r\n"))),
        suites=sse,
    )
    yield Fault(
        f"{ms}/benign.cr-only",
        ms,
        "CR-only line endings",
        wrap=on_streams(("prompt_stream",), pieces(endings(b"\r"))),
        suites=sse,
    )
    yield Fault(
        f"{ms}/benign.mixed-endings",
        ms,
        "CRLF, LF and CR mixed",
        wrap=on_streams(("prompt_stream",), events(each(lambda r: mixed(r)))),
        suites=sse,
    )
    yield Fault(
        f"{ms}/benign.comments",
        ms,
        "comment lines between and inside events",
        wrap=on_streams(
            ("prompt_stream",),
            events(each(lambda r: [b": keep-alive\n\n", b": note\n" + r])),
        ),
        suites=sse,
    )
    yield Fault(
        f"{ms}/benign.retry-fields",
        ms,
        "a retry field before each event",
        wrap=on_streams(("prompt_stream",), events(each(lambda r: [b"retry: 3000\n" + r]))),
        suites=sse,
    )
    yield Fault(
        f"{ms}/benign.leading-bom",
        ms,
        "one byte order mark at the start",
        wrap=on_streams(("prompt_stream",), events(at(0, lambda r: [BOM + r]))),
        suites=sse,
    )
    yield Fault(
        f"{ms}/benign.multi-line-data",
        ms,
        "JSON data spread over several data lines",
        wrap=on_streams(("prompt_stream",), events(each(lambda r: multiline(r)))),
        suites=sse,
    )
    yield Fault(
        f"{ms}/benign.split-every-byte",
        ms,
        "every event split at every byte",
        wrap=on_streams(("prompt_stream",), events(each(lambda r: every_byte(r)))),
        suites=sse,
    )
    yield Fault(
        f"{ms}/benign.no-space-after-colon",
        ms,
        "'data:{...}' without the optional space",
        wrap=on_streams(("prompt_stream",), pieces(lambda p: [p.replace(b"data: ", b"data:")])),
        suites=sse,
    )
    yield Fault(
        f"{ms}/benign.large-events",
        ms,
        "events of 300 KB (JSON padded with spaces)",
        wrap=on_streams(("prompt_stream",), events(each(lambda r: large("sse")(r)))),
        suites=sse,
    )
    yield Fault(
        f"{ms}/benign.optional-events-absent",
        ms,
        "no connection and no system.init event",
        wrap=on_streams(
            ("prompt_stream",),
            events(
                where(lambda lb: lb in ("connection", "system.init"), lambda r, e: [], once=False)
            ),
        ),
        suites=sse,
    )
    yield Fault(
        f"{ms}/benign.extra-fields",
        ms,
        "unknown JSON fields where schemas allow them",
        wrap=on_streams(
            ("prompt_stream",),
            extra_fields,
        ),
        suites=sse,
    )
    yield Fault(
        f"{pr}/benign.crlf",
        pr,
        "CRLF line endings on the long-lived stream, resumes too",
        wrap=on_streams(("events",), pieces(endings(b"\r\n"))),
        suites=(*sse, "reconnection"),
    )
    yield Fault(
        f"{pr}/benign.events-cut-in-two",
        pr,
        "every event sent in two pieces, cut mid-line (also on resumes)",
        wrap=on_streams(("events",), events(each(lambda r: [r[: len(r) // 2], r[len(r) // 2 :]]))),
        suites=(*sse, "reconnection"),
    )
    yield Fault(
        f"{pf}/benign.one-byte-chunks",
        pf,
        "one byte per chunk",
        wrap=on_streams(("build", "skill", "run_events"), pieces(every_byte)),
        suites=(*sse, "reconnection"),
    )
    yield Fault(
        f"{pf}/benign.extra-fields",
        pf,
        "unknown JSON fields where schemas allow them",
        wrap=on_streams(("build",), extra_fields),
        suites=sse,
    )
    yield Fault(
        f"{pf}/benign.large-lines",
        pf,
        "lines of 300 KB (JSON padded with spaces)",
        wrap=on_streams(("build",), events(each(lambda r: large("ndjson")(r)))),
        suites=sse,
    )
    for spec_name in (ms, pf, wf):
        yield Fault(
            f"{spec_name}/benign.http-1.0",
            spec_name,
            "HTTP/1.0 answers: no chunked encoding, each body ends when the connection closes",
            suites=sse,
            transport="http/1.0",
        )
    yield Fault(
        f"{wf}/benign.one-byte-chunks",
        wf,
        "one byte per chunk, UTF-8 characters split",
        wrap=on_streams(("run_stream",), pieces(every_byte)),
        suites=sse,
    )


def faults_for(specs: Mapping[str, Spec]) -> list[Fault]:
    """Every fault and benign variant of the specs that have a reference server here."""
    makers = {
        "miniapp-studio": _miniapp,
        "prism-agents": _prism,
        "promptfloe": _promptfloe,
        "workflow-stream": _workflow,
    }
    out = [f for name, make in makers.items() if name in specs for f in make(specs[name])]
    return out + [f for f in _benign() if f.spec in specs]
