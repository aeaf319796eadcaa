"""Each API's faults: its families, and what only its server can get wrong."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from starlette.types import Scope

from streamconform.decode import Event
from streamconform.model.spec import Endpoint, Spec
from streamconform.servers.faults.edits import (
    EventFn,
    at,
    events,
    header,
    ndjson_line,
    on_requests,
    on_streams,
    pieces,
    query_of,
    sse_event,
    stop_after,
    strip_final_newline,
    terminal_of,
    trailing,
    where,
    with_query,
)
from streamconform.servers.faults.families import (
    auth_faults,
    bad_input_faults,
    lifecycle,
    ndjson_framing,
    resume_faults,
    schema_faults,
    sse_framing,
)
from streamconform.servers.faults.fault import Fault
from streamconform.servers.rewrite import (
    FOREVER,
    EventEdit,
    PieceEdit,
    StreamEdit,
    header_value,
    set_header,
    with_header,
)


def miniapp(spec: Spec) -> Iterator[Fault]:
    name, ep = spec.name, "prompt_stream"
    yield from sse_framing(name, ep, "assistant")
    yield Fault(
        f"{name}/sse.unterminated-last-event",
        name,
        "the last event has no blank line",
        ("sse.event.terminated", "terminal.event.present"),
        on_streams((ep,), lambda endpoint, scope: strip_final_newline(endpoint)),
    )
    yield from lifecycle(
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
    yield from schema_faults(
        spec, ep, ("connection", "system.init", "assistant", "user", "result.success")
    )
    yield from auth_faults(name, ep)
    # its stream body names a deployment only setup creates: no good body to swap in
    yield from bad_input_faults(name, ep, replaced=False)


def prism(spec: Spec) -> Iterator[Fault]:
    name, ep = spec.name, "events"
    yield from sse_framing(name, ep, "token")
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
        on_streams((ep,), lambda endpoint, scope: stop_after(endpoint, is_terminal)),
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
        query = query_of(scope)
        if {"thread_id", "run_id"} & set(query):
            return with_query(
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
    yield from resume_faults(name, ep, ep, via_cursor=False)
    yield from schema_faults(
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
    yield from auth_faults(name, ep)

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


def promptfloe(spec: Spec) -> Iterator[Fault]:
    name = spec.name
    yield from ndjson_framing(name, "build")
    yield from lifecycle(
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
    yield from schema_faults(spec, "build", ("plan", "file", "review", "augmenter", "ready"))
    yield from schema_faults(spec, "skill", ("chunk", "file_written", "done"))
    yield from resume_faults(name, "build", "run_events", via_cursor=True)

    def unknown_cursor(
        endpoint: Endpoint, scope: Scope, body: bytes, spec: Spec, variables: Any
    ) -> Any:
        query = query_of(scope)
        if "cursor" in query and not re.fullmatch(r"evt_\d{4}", query["cursor"]):
            return with_query(scope, {k: v for k, v in query.items() if k != "cursor"}), body
        return None

    yield Fault(
        f"{name}/resume.unknown-cursor-accepted",
        name,
        "a cursor never issued replays the run instead of an error",
        ("resume.cursor.unknown-refused",),
        on_requests(("run_events",), unknown_cursor),
    )
    yield from auth_faults(name, "build")
    yield from bad_input_faults(name, "build")


def workflow(spec: Spec) -> Iterator[Fault]:
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
        on_streams((ep,), lambda endpoint, scope: trailing()),
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
        ("any-token", "any non-empty token is accepted", ("token.forged.refused",)),
    ):
        yield Fault(f"{name}/token.{flag}", name, breaks, caught, flags=frozenset({flag}))

    def echo(endpoint: Endpoint, scope: Scope) -> StreamEdit:
        token = query_of(scope).get("token", "")
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
    yield Fault(
        f"{name}/token.answer-without-token",
        name,
        'the token endpoint answers {"tok": ...} instead of {"token": ...}',
        ("token.issue.answer",),
        on_streams(
            ("token",),
            lambda endpoint, scope: PieceEdit(piece=lambda p: [p.replace(b'"token"', b'"tok"')]),
            answers="all",
        ),
    )
    yield from auth_faults(name, "token")
