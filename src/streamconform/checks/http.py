"""HTTP checks (http.*): the response that carries a stream (its status and headers), and
documented errors answered before any stream starts."""

from __future__ import annotations

from collections.abc import Iterator

from streamconform.checks.headers import FRAMING_MEDIA, cache_directives, media_type
from streamconform.checks.refusals import refusal_findings
from streamconform.checks.registry import Finding, check
from streamconform.core.evidence import Provoked
from streamconform.core.transcript import End, Transcript
from streamconform.model.spec import Endpoint, ErrorCase, Level
from streamconform.scenarios.stream import errors

RFC9110 = "https://www.rfc-editor.org/rfc/rfc9110"
RFC9111 = "https://www.rfc-editor.org/rfc/rfc9111"
RFC9110_STATUS = "https://www.rfc-editor.org/rfc/rfc9110#name-status-codes"


def _has_errors(ep: Endpoint) -> str | None:
    return None if ep.errors else "the spec documents no error status for this endpoint"


@check(
    id="http.status.success",
    suite="framing",
    level=Level.MUST,
    title="The stream opens",
    requirement="""A well-formed, authorised request, made after the documented setup,
        opens the stream with a documented success status.""",
    reference=f"{RFC9110}#name-successful-2xx",
    needs_stream=False,
)
def status_success(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    expected = "status " + " or ".join(str(s) for s in ep.success)
    if t.end is End.SETUP_FAILED:
        yield Finding(expected, f"setup failed: {t.end_detail}")
    elif t.status is None:
        yield Finding(expected, f"no response ({t.end.value}): {t.end_detail}")
    elif t.status not in ep.success:
        # whole: the verdict clips it for display only once secrets are redacted
        body = b"".join(c.data for c in t.chunks).decode("utf-8", "replace")
        # another success status breaks the documented one, which a spec may only assume
        basis = "success" if 200 <= t.status < 300 else ""
        yield Finding(expected, f"status {t.status}, body {body!r}", offset=0, basis=basis)


@check(
    id="http.content-type.framing",
    suite="framing",
    level=Level.MUST,
    title="Content-Type names the stream's framing",
    requirement="""The response's media type is one the spec allows for the endpoint and
        matches its framing; a browser fails an EventSource whose type is not
        text/event-stream, and a text client mis-reads anything but text/plain.""",
    reference=f"{RFC9110}#name-content-type",
)
def content_type_framing(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    actual = t.header("content-type")
    allowed = {media_type(c) for c in ep.content_types}
    if ep.framing is not None:
        allowed &= FRAMING_MEDIA[ep.framing]
    if media_type(actual) not in allowed:
        shown = "no Content-Type header" if actual is None else f"Content-Type {actual!r}"
        wanted = " or ".join(sorted(allowed)) or "a framing media type"
        # the framing's own media type is the standard's; which of them, the spec's
        framed = media_type(actual) in FRAMING_MEDIA.get(ep.framing, set()) if ep.framing else False
        yield Finding(wanted, shown, basis="content_types" if framed else "")


@check(
    id="http.cache-control.no-cache",
    suite="framing",
    level=Level.SHOULD,
    title="Cache-Control forbids caching",
    requirement="""A stream is sent with Cache-Control: no-cache (or no-store), so no
        cache or proxy holds or replays it.""",
    reference=f"{RFC9111}#name-no-cache-2",
)
def cache_control(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    # `no-cache="Set-Cookie"` (with field names) still lets a cache reuse the response
    directives, shown = cache_directives(t)
    if not directives & {"no-cache", "no-store"}:
        yield Finding("Cache-Control: no-cache", shown)


@check(
    id="http.content-length.absent",
    suite="framing",
    level=Level.SHOULD,
    title="No Content-Length on a stream",
    requirement="""A stream has no Content-Length: its length is not known when it starts,
        and a declared length makes intermediaries buffer the body.""",
    reference=f"{RFC9110}#name-content-length",
)
def content_length(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    value = t.header("content-length")
    if value is not None:
        yield Finding("no Content-Length header", f"Content-Length: {value}")


@check(
    id="http.content-encoding.identity",
    suite="framing",
    level=Level.SHOULD,
    title="No compression on an event stream",
    requirement="""A stream is not compressed: gzip and similar encodings hold events back
        in compressor buffers and in clients that decompress whole blocks.""",
    reference=f"{RFC9110}#name-content-encoding",
)
def content_encoding(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    value = t.header("content-encoding")
    if value is not None and value.strip().lower() not in ("", "identity"):
        yield Finding("no Content-Encoding (identity)", f"Content-Encoding: {value}")


@check(
    id="http.error.documented",
    suite="terminal",
    level=Level.MUST,
    title="Documented errors come before the stream, as documented",
    requirement="""Each documented error (missing key, missing scope, unknown resource, no
        credits, server failure) is answered with its documented status and a JSON error
        body, before any stream starts: never a 200 stream, never a 5xx for a client's
        mistake.""",
    reference=RFC9110_STATUS,
    applies=_has_errors,
    needs_stream=False,
    scenarios=errors,
)
def error_documented(ev: Provoked, ep: Endpoint) -> Iterator[Finding]:
    case = ev.subject
    assert isinstance(case, ErrorCase)
    yield from refusal_findings(ev.primary, ep, (case.status,), case.when)
