"""SSE checks (sse.*), in the framing suite: text/event-stream after the WHATWG
event-stream parsing rules."""

from __future__ import annotations

from collections.abc import Iterator

from streamconform.checks.registry import WHATWG_SSE, Finding, check, from_notes
from streamconform.core.transcript import Transcript
from streamconform.model.spec import Endpoint, Framing, Level

_SSE = {Framing.SSE}
_FIELDS = ("data", "event", "id", "retry")


def _misspelt(name: str) -> str | None:
    """The known field a name was meant to be (case, spaces, NUL aside), if any."""
    folded = name.replace("\0", "").strip().lower()
    return folded if folded in _FIELDS else None


@check(
    id="sse.bom.leading-only",
    suite="framing",
    level=Level.MUST,
    title="At most one BOM, and only at the start",
    requirement="""One leading U+FEFF is stripped; any other makes the following line's field
        name unknown, so that line is silently dropped.""",
    reference=f"{WHATWG_SSE}#parsing-an-event-stream",
    framings=_SSE,
)
def bom_leading_only(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    yield from from_notes(t, "sse.bom.not-leading", "no U+FEFF after the start of the stream")


@check(
    id="sse.event.terminated",
    suite="framing",
    level=Level.MUST,
    title="Every event ends with a blank line",
    requirement="""An event is dispatched only by the blank line after it; at end of stream an
        unterminated event is discarded by clients, and an id inside it is not applied.""",
    reference=f"{WHATWG_SSE}#event-stream-interpretation",
    framings=_SSE,
)
def event_terminated(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    yield from from_notes(t, "sse.event.unterminated", "a blank line after the last event")


@check(
    id="sse.field.name-exact",
    suite="framing",
    level=Level.MUST,
    title="Field names are spelt exactly",
    requirement="""Field names are case-sensitive and exact: `Data`, ` data` or `data\\0` are
        unknown fields, so their values never reach the client.""",
    reference=f"{WHATWG_SSE}#processField",
    framings=_SSE,
)
def field_name_exact(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    for note in t.notes_of("sse.field.unknown"):
        meant = _misspelt(note.detail)
        if meant:
            yield Finding(
                f"field name {meant!r}",
                f"field name {note.detail!r} (ignored by clients)",
                note.offset,
                note.event_index,
            )


@check(
    id="sse.field.known",
    suite="framing",
    level=Level.SHOULD,
    title="Only the four defined fields",
    requirement="""A stream uses only the fields data, event, id and retry (and comments);
        clients ignore any other field.""",
    reference=f"{WHATWG_SSE}#processField",
    framings=_SSE,
)
def field_known(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    for note in t.notes_of("sse.field.unknown"):
        if not _misspelt(note.detail):
            yield Finding(
                "data, event, id or retry",
                f"unknown field {note.detail!r}",
                note.offset,
                note.event_index,
            )


@check(
    id="sse.retry.digits-only",
    suite="framing",
    level=Level.MUST,
    title="retry is ASCII digits only",
    requirement="""A retry field is honoured only if its value is ASCII digits; anything else
        (`1000x`, `-5`, `1_000`, empty) is ignored by clients.""",
    reference=f"{WHATWG_SSE}#processField",
    framings=_SSE,
)
def retry_digits_only(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    yield from from_notes(t, "sse.retry.invalid", "retry: <ASCII digits>")


@check(
    id="sse.id.no-nul",
    suite="framing",
    level=Level.MUST,
    title="No NUL in ids",
    requirement="""An id field whose value contains U+0000 is ignored by clients, so the
        previous id stays in force and a reconnect resumes from the wrong place.""",
    reference=f"{WHATWG_SSE}#processField",
    framings=_SSE,
)
def id_no_nul(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    yield from from_notes(t, "sse.id.nul", "an id without U+0000")


def _data_is_json(ep: Endpoint) -> str | None:
    if ep.events is None or not ep.events.data_json:
        return "the spec does not declare this endpoint's data as JSON"
    return None


@check(
    id="sse.data.json",
    suite="framing",
    level=Level.MUST,
    title="data parses as JSON",
    requirement="""Where the spec says so, the data of every event is one JSON value
        (strict JSON: no NaN, no trailing garbage); declared sentinels excepted.""",
    reference="https://www.rfc-editor.org/rfc/rfc8259",
    framings=_SSE,
    applies=_data_is_json,
)
def data_json(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    allowed = (*ep.events.non_json_data, *ep.events.sentinels) if ep.events else ()
    for event in t.events:
        if event.json_error and event.data not in allowed:
            yield Finding(  # whole data: the verdict clips it once secrets are redacted
                "JSON data", f"{event.json_error}: {event.data!r}", event.offset, event.index
            )


@check(
    id="sse.event.has-data",
    suite="framing",
    level=Level.SHOULD,
    title="A typed block has data",
    requirement="""A block that sets event: but has no data: line is never dispatched, so a
        browser listener for that type never fires. Blocks with only id, retry or
        comments are legitimate.""",
    reference=f"{WHATWG_SSE}#dispatchMessage",
    framings=_SSE,
)
def event_has_data(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    yield from from_notes(t, "sse.event.no-data", "a data: line in every block with event:")
