"""Framing check for text/plain streams: raw text, with no other protocol's framing."""

from __future__ import annotations

import re
from collections.abc import Iterator

from streamconform.checks.registry import Finding, check
from streamconform.decode.events import NOT_JSON, parse_json
from streamconform.model.spec import Endpoint, Framing, Level
from streamconform.transcript import Transcript

_SSE_FIELD = re.compile(r"(data|event|id|retry):")
_SDK_PART = re.compile(r"[0-9a-z]:([\"{\[].*)")  # AI SDK data-stream parts such as 0:"text"
_LINES_LOOKED_AT = 200


def framing_of(line: str) -> str | None:
    """Which foreign framing a line of a text stream carries, if any."""
    if _SSE_FIELD.match(line):
        return "an SSE field line"
    stripped = line.strip()
    if stripped.startswith("{") and isinstance(parse_json(stripped)[0], dict):
        return "an NDJSON object"
    part = _SDK_PART.fullmatch(stripped)
    if part and parse_json(part.group(1))[0] is not NOT_JSON:
        return "an AI SDK data-stream part"
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
    text = "".join(e.data for e in t.events)
    offset = 0
    first_line: int | None = None
    framed: list[tuple[int, str, str]] = []
    nonempty = 0
    for line in text.split("\n")[:_LINES_LOOKED_AT]:
        if line.strip():
            nonempty += 1
            first_line = offset if first_line is None else first_line
            kind = framing_of(line)
            if kind:
                framed.append((offset, kind, line))
        offset += len(line.encode("utf-8", "replace")) + 1
    if not framed:
        return
    if framed[0][0] == first_line or (len(framed) >= 2 and 2 * len(framed) >= nonempty):
        where, kind, line = framed[0]
        yield Finding(
            "plain text",
            f"{len(framed)} of {nonempty} lines look framed; first is {kind}: {line[:80]!r}",
            where,
        )
