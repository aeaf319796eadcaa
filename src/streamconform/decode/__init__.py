"""Strict incremental decoders: raw byte chunks in, events and framing notes out."""

from streamconform.decode.events import Event, Note, NoteLog
from streamconform.decode.ndjson import NDJSONDecoder
from streamconform.decode.sse import SSEDecoder
from streamconform.decode.text import TextDecoder

__all__ = ["Event", "NDJSONDecoder", "Note", "NoteLog", "SSEDecoder", "TextDecoder", "decoder_for"]

Decoder = SSEDecoder | NDJSONDecoder | TextDecoder


def decoder_for(framing: str, *, max_event_bytes: int, parse_json: bool) -> Decoder:
    """Build the decoder for a spec framing name (`sse`, `ndjson` or `text`)."""
    if framing == "sse":
        return SSEDecoder(max_event_bytes=max_event_bytes, parse_json=parse_json)
    if framing == "ndjson":
        return NDJSONDecoder(max_event_bytes=max_event_bytes)
    if framing == "text":
        return TextDecoder()
    raise ValueError(f"no decoder for framing {framing!r}")
