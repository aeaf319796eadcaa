"""Encoding checks (encoding.*), in the framing suite: every stream body is valid UTF-8."""

from __future__ import annotations

from collections.abc import Iterator

from streamconform.checks.registry import Finding, check, from_notes
from streamconform.core.transcript import Transcript
from streamconform.model.spec import Endpoint, Level


@check(
    id="encoding.utf8.valid",
    suite="framing",
    level=Level.MUST,
    title="The body is valid UTF-8",
    requirement="""A stream body is UTF-8, whatever charset the Content-Type names; clients
        decode it as UTF-8 and show U+FFFD for invalid bytes.""",
    reference="https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream",
)
def utf8_valid(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    yield from from_notes(t, "encoding.utf8.invalid", "valid UTF-8")
