"""ASGI wrappers that change what a reference server receives or sends, for faults.

A fault is the correct server with one thing changed: a request rewritten on its way in
(a credential swapped, a cursor dropped), or a stream edited on its way out, piece by
piece so its timing survives (bytes replaced, events dropped, added or reordered).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamconform.decode import Event, decoder_for
from streamconform.model.spec import Endpoint

__all__ = [
    "FOREVER",
    "EventEdit",
    "Headers",
    "PieceEdit",
    "StreamEdit",
    "edit_requests",
    "edit_streams",
    "header_value",
    "parse_event",
    "set_header",
    "with_header",
]

Headers = list[tuple[bytes, bytes]]
FOREVER = 3600.0  # "never closes": until the client goes away and the task is cancelled


class StreamEdit:
    """Changes one response: its head, then its body piece by piece.

    `feed` returns the pieces to send for a piece the server sent (none: held back);
    `close` what to send before the end; `linger` how long to hold the end back, while
    `trailer` (a piece, every so many seconds) keeps coming; `stop_now` ends the body at
    once (the rest of the server's body is dropped).
    """

    linger: float = 0.0
    trailer: tuple[bytes, float] | None = None
    stop_now: bool = False

    def head(self, status: int, headers: Headers) -> tuple[int, Headers]:
        return status, headers

    def feed(self, piece: bytes) -> list[bytes]:
        return [piece]

    def close(self) -> list[bytes]:
        return []


@dataclass
class PieceEdit(StreamEdit):
    """An edit of the raw bytes: each piece through `piece`, the end through `end`."""

    piece: Callable[[bytes], list[bytes]] = lambda b: [b]
    end: Callable[[], list[bytes]] = list
    headers: Callable[[Headers], Headers] | None = None
    linger: float = 0.0

    def head(self, status: int, headers: Headers) -> tuple[int, Headers]:
        return status, self.headers(headers) if self.headers else headers

    def feed(self, piece: bytes) -> list[bytes]:
        return self.piece(piece)

    def close(self) -> list[bytes]:
        return self.end()


def parse_event(raw: bytes, endpoint: Endpoint) -> Event | None:
    """One event of the reference's own output, decoded as the suite decodes it."""
    assert endpoint.framing is not None
    rules = endpoint.events
    decoder = decoder_for(
        endpoint.framing.value, max_event_bytes=1 << 24, parse_json=bool(rules and rules.data_json)
    )
    events = [*decoder.feed(raw, 0.0), *decoder.close(0.0)]
    return events[0] if events else None


@dataclass
class EventEdit(StreamEdit):
    """An edit of whole events: the body is cut where the reference ends an event (a blank
    line for SSE, a newline for NDJSON) and each event, with its label, goes through
    `event`; comments pass as they are. `end` adds events before the close."""

    endpoint: Endpoint
    event: Callable[[bytes, Event, str | None], list[bytes]]
    end: Callable[[], list[bytes]] = list
    headers: Callable[[Headers], Headers] | None = None
    linger: float = 0.0
    _carry: bytes = field(default=b"", init=False)

    def head(self, status: int, headers: Headers) -> tuple[int, Headers]:
        return status, self.headers(headers) if self.headers else headers

    def feed(self, piece: bytes) -> list[bytes]:
        self._carry += piece
        mark = b"\n\n" if self.endpoint.framing and self.endpoint.framing.value == "sse" else b"\n"
        out: list[bytes] = []
        while (cut := self._carry.find(mark)) >= 0:
            raw, self._carry = self._carry[: cut + len(mark)], self._carry[cut + len(mark) :]
            if raw.startswith(b":"):
                out.append(raw)
                continue
            event = parse_event(raw, self.endpoint)
            rules = self.endpoint.events
            label = rules.label(event) if rules and event is not None else None
            out.extend(self.event(raw, event, label) if event is not None else [raw])
            if self.stop_now:
                break
        return out

    def close(self) -> list[bytes]:
        rest, self._carry = self._carry, b""
        return [*([rest] if rest else []), *self.end()]


def _is_stream(headers: Headers) -> bool:
    for name, value in headers:
        if name.lower() == b"content-type":
            kind = value.split(b";")[0].strip().lower()
            return kind in (b"text/event-stream", b"application/x-ndjson", b"text/plain")
    return False


def edit_streams(
    app: ASGIApp,
    make: Callable[[Scope], StreamEdit | None],
    *,
    answers: str = "streams",
) -> ASGIApp:
    """Wrap an app so its answers of a kind ("streams": streaming successes; "errors";
    "all") go through the edit `make` returns for their request (None: left alone)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        edit = make(scope) if scope["type"] == "http" else None
        if edit is None:
            await app(scope, receive, send)
            return
        active = False
        ended = False

        async def edited(message: Message) -> None:
            nonlocal active, ended
            if ended:
                return
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
                stream = 200 <= status < 300 and _is_stream(headers)
                active = {"streams": stream, "errors": status >= 400, "all": True}[answers]
                if active:  # an edit may change the body's length: let it be chunked
                    status, headers = edit.head(status, set_header(headers, "content-length", None))
                await send({**message, "status": status, "headers": headers})
                return
            if message["type"] != "http.response.body" or not active:
                await send(message)
                return
            more = message.get("more_body", False)
            pieces = edit.feed(message.get("body", b""))
            if not more or edit.stop_now:
                pieces += edit.close()
            for piece in pieces:
                if piece:
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
            if not more or edit.stop_now:
                if edit.trailer is not None:
                    piece, every = edit.trailer
                    while True:  # until the client goes away and the task is cancelled
                        await asyncio.sleep(every)
                        await send({"type": "http.response.body", "body": piece, "more_body": True})
                if edit.linger:
                    await asyncio.sleep(edit.linger)
                ended = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await app(scope, receive, edited)

    return wrapped


RequestEdit = Callable[[Scope, bytes], Awaitable[tuple[Scope, bytes] | Message | None]]


def edit_requests(app: ASGIApp, edit: RequestEdit) -> ASGIApp:
    """Wrap an app so each request can be rewritten (scope and whole body) or answered
    instead: `edit` returns the new (scope, body), a response to send, or None."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        result = await edit(scope, bytes(body))
        if result is None:
            result = (scope, bytes(body))
        elif not isinstance(result, tuple):  # an answer of our own
            await _answer(send, result)
            return
        new_scope, new_body = result
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": new_body, "more_body": False}
            return await receive()

        await app(new_scope, replay, send)

    return wrapped


async def _answer(send: Send, answer: Message) -> None:
    headers = [(k.encode(), v.encode()) for k, v in answer.get("headers", {}).items()]
    await send({"type": "http.response.start", "status": answer["status"], "headers": headers})
    await send({"type": "http.response.body", "body": answer.get("body", b"")})


def header_value(scope: Scope, name: str) -> str | None:
    wanted = name.lower().encode()
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return value.decode("latin-1")
    return None


def with_header(scope: Scope, name: str, value: str | None) -> Scope:
    """The scope with a request header set (None: removed)."""
    wanted = name.lower().encode()
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != wanted]
    if value is not None:
        headers.append((wanted, value.encode("latin-1")))
    return {**scope, "headers": headers}


def set_header(headers: Iterable[tuple[bytes, bytes]], name: str, value: str | None) -> Headers:
    """Response headers with one set (None: removed)."""
    wanted = name.lower().encode()
    out = [(k, v) for k, v in headers if k.lower() != wanted]
    if value is not None:
        out.append((wanted, value.encode("latin-1")))
    return out
