"""The building blocks of faults: which requests, and what is done to them or their answers."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Scope

from streamconform.decode import Event
from streamconform.formats import schema_validator
from streamconform.model.spec import Endpoint, Spec
from streamconform.servers.common import Clock
from streamconform.servers.faults.fault import Wrap
from streamconform.servers.rewrite import (
    EventEdit,
    Headers,
    PieceEdit,
    StreamEdit,
    edit_requests,
    edit_streams,
    set_header,
)

BOM = b"\xef\xbb\xbf"


# -- matching requests ---------------------------------------------------------------------


def route(endpoint: Endpoint) -> Callable[[Scope], bool]:
    pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", endpoint.path.rstrip("/")) + "/?$")
    return lambda scope: scope["method"] == endpoint.method and bool(pattern.match(scope["path"]))


def query_of(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


def with_query(scope: Scope, query: Mapping[str, str]) -> Scope:
    return {**scope, "query_string": urlencode(dict(query)).encode()}


def on_streams(
    endpoints: tuple[str, ...],
    make: Callable[[Endpoint, Scope], StreamEdit | None],
    answers: str = "streams",
) -> Wrap:
    """A wrap that edits the answers of the named endpoints."""

    def wrap(app: ASGIApp, spec: Spec, variables: Mapping[str, Any], clock: Clock) -> ASGIApp:
        routes = [(spec.endpoints[n], route(spec.endpoints[n])) for n in endpoints]

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
        routes = [(spec.endpoints[n], route(spec.endpoints[n])) for n in endpoints]

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


def strip_final_newline(endpoint: Endpoint) -> StreamEdit:
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


def plain_401() -> StreamEdit:
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


def stop_after(endpoint: Endpoint, is_terminal: Callable[[str | None], bool]) -> StreamEdit:
    edit = EventEdit(endpoint, lambda raw, ev, label: [raw])

    def each(raw: bytes, ev: Event, label: str | None) -> list[bytes]:
        if is_terminal(label):
            edit.stop_now = True
        return [raw]

    edit.event = each
    return edit


def trailing() -> StreamEdit:
    edit = PieceEdit()
    edit.trailer = (b"and more ", 0.02)
    return edit


class Status(StreamEdit):
    """The answer's status replaced, all else kept."""

    def __init__(self, status: int) -> None:
        self.status = status

    def head(self, status: int, headers: Headers) -> tuple[int, Headers]:
        return self.status, headers


def gzipped() -> StreamEdit:
    """The body gzip-compressed piece by piece, each piece flushed so it arrives at once."""
    packer = zlib.compressobj(wbits=31)
    return PieceEdit(
        piece=lambda p: [packer.compress(p) + packer.flush(zlib.Z_SYNC_FLUSH)] if p else [],
        end=lambda: [packer.flush()],
        headers=lambda h: set_header(h, "content-encoding", "gzip"),
    )
