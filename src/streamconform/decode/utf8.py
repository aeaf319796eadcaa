"""Strict UTF-8 decoding that reports where invalid bytes are instead of raising."""

from __future__ import annotations

__all__ = ["bad_bytes", "decode_strict", "incomplete_tail"]


def decode_strict(raw: bytes) -> tuple[str, list[int]]:
    """Decode UTF-8 as a browser does (U+FFFD for bad bytes) and list where each bad run starts."""
    parts: list[str] = []
    bad: list[int] = []
    pos = 0
    while True:
        try:
            parts.append(raw[pos:].decode("utf-8"))
            return "".join(parts), bad
        except UnicodeDecodeError as err:
            parts.append(raw[pos : pos + err.start].decode("utf-8"))
            parts.append("\ufffd")
            bad.append(pos + err.start)
            pos += err.end


def incomplete_tail(raw: bytes) -> int:
    """Length of a trailing, possibly incomplete multi-byte sequence (0 to 3 bytes)."""
    for back in range(1, min(3, len(raw)) + 1):
        byte = raw[-back]
        if byte & 0xC0 == 0x80:
            continue  # continuation byte: keep looking for the lead byte
        if byte >= 0xF0:
            need = 4
        elif byte >= 0xE0:
            need = 3
        elif byte >= 0xC0:
            need = 2
        else:
            return 0
        return back if back < need else 0
    return 0


def bad_bytes(raw: bytes, index: int) -> str:
    """A note's detail for invalid UTF-8: the bytes from where decoding failed."""
    return f"invalid UTF-8 starting at bytes {raw[index : index + 4].hex(' ')}"
