"""NDJSON checks (ndjson.*), in the framing suite: one complete JSON object per
LF-terminated line."""

from __future__ import annotations

from collections.abc import Iterator

from streamconform.checks.registry import Finding, check, from_notes
from streamconform.core.transcript import Transcript
from streamconform.model.spec import Endpoint, Framing, Level

_NDJSON = {Framing.NDJSON}
NDJSON_SPEC = "https://github.com/ndjson/ndjson-spec"


@check(
    id="ndjson.line.json-object",
    suite="framing",
    level=Level.MUST,
    title="Each line is one complete JSON object",
    requirement="""Each line is a self-contained JSON object; an object pretty-printed over
        several lines, or a line holding anything but one object, breaks line readers.""",
    reference=f"{NDJSON_SPEC}#31-serialization",
    framings=_NDJSON,
)
def line_json_object(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    for kind in ("ndjson.line.not-json", "ndjson.line.not-object"):
        yield from from_notes(t, kind, "one JSON object on the line")


@check(
    id="ndjson.line.terminated",
    suite="framing",
    level=Level.MUST,
    title="Every line ends with LF",
    requirement="""Each line is terminated by \\n, the last one too: line readers never
        process a final line without it.""",
    reference=f"{NDJSON_SPEC}#31-serialization",
    framings=_NDJSON,
)
def line_terminated(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    yield from from_notes(t, "ndjson.line.unterminated", "a final \n")


@check(
    id="ndjson.line.no-blank",
    suite="framing",
    level=Level.SHOULD,
    title="No blank lines",
    requirement="""A stream has no blank lines between objects; lenient readers skip them,
        strict ones fail to parse them.""",
    reference=f"{NDJSON_SPEC}#31-serialization",
    framings=_NDJSON,
)
def line_no_blank(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    yield from from_notes(t, "ndjson.line.blank", "no blank line")


@check(
    id="ndjson.line.no-cr",
    suite="framing",
    level=Level.SHOULD,
    title="Lines end with LF, not CRLF",
    requirement="""Lines end with \\n alone; a CR before it is tolerated by lenient readers
        but left in the line by strict ones.""",
    reference=f"{NDJSON_SPEC}#31-serialization",
    framings=_NDJSON,
)
def line_no_cr(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    yield from from_notes(t, "ndjson.line.cr", "\n line endings")
