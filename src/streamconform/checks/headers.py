"""Reading a response's headers as the checks need them: the bare media type of a
Content-Type, the media types each framing is sent with, and the Cache-Control
directives."""

from __future__ import annotations

from streamconform.core.transcript import Transcript
from streamconform.model.spec import Framing

__all__ = ["FRAMING_MEDIA", "cache_directives", "media_type"]

FRAMING_MEDIA = {
    Framing.SSE: {"text/event-stream"},
    Framing.NDJSON: {
        "application/x-ndjson",
        "application/jsonl",
        "application/json-seq",
        "application/ndjson",
        "application/jsonlines",
    },
    Framing.TEXT: {"text/plain"},
}


def media_type(value: str | None) -> str:
    """The bare media type of a Content-Type value, lower-cased."""
    return (value or "").split(";", 1)[0].strip().lower()


def cache_directives(t: Transcript) -> tuple[set[str], str]:
    """The response's Cache-Control directives, lower-cased, and the header as a finding
    shows it."""
    value = t.header("cache-control")
    shown = "no Cache-Control header" if value is None else f"Cache-Control: {value}"
    return {d.strip().lower() for d in (value or "").split(",")}, shown
