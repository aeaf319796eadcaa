"""Benign variants: correct but unusual answers, on which no check may fail or warn."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from starlette.types import Scope

from streamconform.decode import Event
from streamconform.formats import schema_validator
from streamconform.model.spec import Endpoint
from streamconform.servers.faults.edits import (
    BOM,
    at,
    each,
    events,
    on_streams,
    pieces,
    replace_payload,
    where,
)
from streamconform.servers.faults.fault import Fault
from streamconform.servers.rewrite import (
    EventEdit,
    StreamEdit,
)


def benign() -> Iterator[Fault]:
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
