"""Text checks (text.*), in the framing suite: a text/plain stream is raw text, with no
other protocol's framing."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from streamconform.checks.registry import Finding, check
from streamconform.core.transcript import Transcript
from streamconform.decode.events import NOT_JSON, parse_json
from streamconform.model.spec import Endpoint, Framing, Level

_SSE_FIELD = re.compile(r"(data|event|id|retry):")
_SDK_PART = re.compile(r"[0-9a-z]:([\"{\[].*)")  # AI SDK data-stream parts such as 0:"text"
_LINES_LOOKED_AT = 200
_MANY = 3
_SSE = "SSE field lines"
_NDJSON = "NDJSON objects"
_SDK = "AI SDK data-stream parts"


def framing_of(line: str) -> str | None:
    """Which foreign framing a line of a text stream carries, if any."""
    if _SSE_FIELD.match(line):
        return _SSE
    stripped = line.strip()
    if stripped.startswith("{") and isinstance(parse_json(stripped)[0], dict):
        return _NDJSON
    part = _SDK_PART.fullmatch(stripped)
    if part and parse_json(part.group(1))[0] is not NOT_JSON:
        return _SDK
    return None


@check(
    id="text.framing.none",
    suite="framing",
    level=Level.MUST,
    title="No SSE or NDJSON framing in a text stream",
    requirement="""A text/plain stream carries the generated text itself; data: prefixes,
        JSON lines or data-stream parts mean the server speaks another protocol to a text
        client.""",
    reference="https://ai-sdk.dev/docs/ai-sdk-ui/stream-protocol#text-stream-protocol",
    framings={Framing.TEXT},
)
def no_framing(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    """Framed when one framing dominates: at least half the lines, and either the first
    line or at least three lines. One JSON object alone is not NDJSON (a workflow may
    well answer with JSON), and a JSON example inside prose is prose.
    """
    text = "".join(e.data for e in t.events)
    offset = 0
    lines: list[tuple[int, str | None, str]] = []
    for line in text.split("\n")[:_LINES_LOOKED_AT]:
        if line.strip():
            lines.append((offset, framing_of(line), line))
        offset += len(line.encode("utf-8", "replace")) + 1
    counts = Counter(kind for _, kind, _ in lines if kind)
    if not counts:
        return
    kind, count = counts.most_common(1)[0]
    starts_framed = lines[0][1] == kind
    if 2 * count < len(lines) or not (starts_framed or count >= _MANY):
        return
    if kind == _NDJSON and count < 2:
        return
    where, _, first = next(entry for entry in lines if entry[1] == kind)
    yield Finding(
        "plain text",
        f"{count} of {len(lines)} lines are {kind}; the first: {first!r}",  # clipped later
        where,
    )
