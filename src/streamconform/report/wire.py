"""Render transcripts for people: timestamped wire excerpts with control bytes made visible.

Secrets are masked in the body bytes before they are cut into chunks, windows or lines,
so a secret that crosses any of those cuts is hidden whole.
"""

from __future__ import annotations

from streamconform.core.redact import Redactor
from streamconform.core.transcript import End, Transcript

__all__ = ["excerpt", "render_transcript", "show_bytes"]

_CONTEXT_BYTES = 400
_LINES_BEFORE = 6
_LINES_AFTER = 4
_MAX_LINE = 160
_MAX_RENDER = 64 << 10
# a rendered character stands for at most 4 bytes (one UTF-8 sequence), so no more of the
# body than this can fit in a rendering
_MAX_RENDER_BYTES = 4 * _MAX_RENDER


def show_bytes(raw: bytes) -> str:
    """Bytes as readable text: UTF-8 where valid, escapes for CR, LF, NUL, BOM and bad bytes."""
    text = raw.decode("utf-8", "backslashreplace")
    return (
        text.replace("\r", "\\r")
        .replace("\n", "\\n")
        .replace("\0", "\\0")
        .replace("\ufeff", "\\ufeff")
        .replace("\t", "\\t")
    )


def _window(t: Transcript, start: int, stop: int) -> bytes:
    pieces = []
    for chunk in t.chunks:
        end = chunk.offset + len(chunk.data)
        if end > start and chunk.offset < stop:
            pieces.append(chunk.data[max(0, start - chunk.offset) : stop - chunk.offset])
    return b"".join(pieces)


def _masked_window(t: Transcript, start: int, stop: int, redactor: Redactor) -> bytes:
    """The body bytes [start, stop) with secrets masked, a secret crossing either edge
    included: the mask runs on a window wider by the longest secret on both sides."""
    margin = redactor.longest_secret
    wide_start = max(0, start - margin)
    wide = _mask(t, _window(t, wide_start, stop + margin), redactor, stop + margin)
    return wide[start - wide_start : stop - wide_start]


def _mask(t: Transcript, data: bytes, redactor: Redactor, stop: int) -> bytes:
    """Bytes of the body up to `stop` masked; where they reach the end of a body the server
    did not finish (cut, timed out, over a limit), a secret cut there is masked too."""
    if stop >= t.body_bytes and t.end is not End.CLOSED:
        return redactor.mask_cut(data)
    return redactor.mask(data)


def _masked_body(t: Transcript, redactor: Redactor) -> bytes:
    """As much of the body as a rendering can show, plus a margin, with secrets masked."""
    limit = _MAX_RENDER_BYTES + redactor.longest_secret
    pieces, size = [], 0
    for chunk in t.chunks:
        if size >= limit:
            break
        pieces.append(chunk.data)
        size += len(chunk.data)
    return _mask(t, b"".join(pieces)[:limit], redactor, size)


def excerpt(t: Transcript, offset: int | None, redactor: Redactor) -> str:
    """The lines around a byte offset, each with arrival time and offset; `>` marks the line."""
    if offset is None or not t.chunks:
        head = [f"HTTP {t.status} ({t.http_version or 'no response'})"]
        head += [f"{k}: {v}" for k, v in t.headers]
        return redactor.text("\n".join("  " + line for line in head))
    start = max(0, offset - _CONTEXT_BYTES)
    raw = _masked_window(t, start, offset + _CONTEXT_BYTES, redactor)
    lines = raw.splitlines(True)
    rows: list[tuple[int, bytes]] = []
    at = start
    for line in lines:
        rows.append((at, line))
        at += len(line)
    if start > 0 and rows:
        rows = rows[1:]  # the first line is probably cut
    marked = max((i for i, (o, _) in enumerate(rows) if o <= offset), default=0)
    shown = rows[max(0, marked - _LINES_BEFORE) : marked + _LINES_AFTER + 1]
    out = []
    for row_offset, line in shown:
        when = t.time_at(row_offset)
        stamp = f"+{when:.3f}s" if when is not None else "?"
        text = show_bytes(line)
        if len(text) > _MAX_LINE:
            text = text[:_MAX_LINE] + f"… ({len(line)} bytes)"
        mark = ">" if row_offset == rows[marked][0] else " "
        out.append(f"{mark} {stamp:>9} @{row_offset:<7} {text}")
    return redactor.text("\n".join(out))


def render_transcript(t: Transcript, redactor: Redactor) -> str:
    """The whole capture as text (bounded), for report attachments."""
    lines = [f"{t.request.method} {t.request.url}"]
    lines += [f"  {k}: {v}" for k, v in t.request.headers]
    lines += [f"setup: {entry}" for entry in t.setup_log]
    lines.append(f"HTTP {t.status} {t.http_version} (headers at +{t.headers_time or 0:.3f}s)")
    lines += [f"  {k}: {v}" for k, v in t.headers]
    lines.append(f"end: {t.end.value} {t.end_detail} after {t.duration:.3f}s, {t.body_bytes} bytes")
    size = sum(len(line) for line in lines)
    body = _masked_body(t, redactor)  # masked whole, then shown chunk by chunk
    at = 0
    for chunk in t.chunks:
        data = body[at : at + len(chunk.data)]
        at += len(chunk.data)
        row = f"+{chunk.time:.3f}s @{chunk.offset} [{len(chunk.data)}] {show_bytes(data)}"
        size += len(row)
        if size > _MAX_RENDER or len(data) < len(chunk.data):
            lines.append(f"… ({len(t.chunks)} chunks in all, rendering stopped at 64 KiB)")
            break
        lines.append(row)
    return redactor.text("\n".join(lines))
