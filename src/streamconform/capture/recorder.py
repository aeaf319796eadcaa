"""Record a response into a Transcript: the part of capturing that needs no network.

The live capture feeds it what the socket delivers; tests feed it bytes and times they
choose. Both go through the same decoding, so a test transcript is a real transcript.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from streamconform.core.echoes import Echo, find_echoes
from streamconform.core.redact import Redactor
from streamconform.core.transcript import Chunk, End, RequestRecord, Transcript
from streamconform.decode import Event, decoder_for
from streamconform.model.spec import Endpoint

__all__ = ["Limits", "Recorder"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Memory bounds of one capture."""

    max_event_bytes: int = 1 << 20
    max_body_bytes: int = 32 << 20
    max_error_body: int = 64 << 10

    def of(self, endpoint: Endpoint) -> Limits:
        """These limits with the endpoint's own event and body bounds."""
        sizes = endpoint.sizes
        return Limits(sizes.event_bytes, sizes.body_bytes, self.max_error_body)


class Recorder:
    """Accumulates one response (head, timed chunks, decoded events) and freezes it."""

    def __init__(
        self,
        spec: str,
        endpoint: Endpoint,
        *,
        limits: Limits | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        if endpoint.framing is None:
            raise ValueError(f"endpoint {endpoint.name} is not a stream")
        self.spec = spec
        self.endpoint = endpoint
        self.limits = limits or Limits()
        self.redactor = redactor or Redactor()
        rules = endpoint.events
        self.decoder = decoder_for(
            endpoint.framing.value,
            max_event_bytes=self.limits.max_event_bytes,
            parse_json=bool(rules and rules.data_json),
        )
        self.request = RequestRecord("", "")
        self.setup_log: list[str] = []
        self.chunks: list[Chunk] = []
        self.events: list[Event] = []
        self.body_bytes = 0
        self.status: int | None = None
        self.http_version = ""
        self.headers: tuple[tuple[str, str], ...] = ()
        self.headers_time: float | None = None
        self.end = End.CLOSED
        self.end_detail = ""
        self.captures: dict[str, object] = {}
        self.variant = ""
        self.stalls: list[tuple[float, float]] = []
        self.credential: tuple[str, str] | None = None  # looked for in what comes back
        self.echoes: list[Echo] = []

    def response(
        self, status: int, headers: Iterable[tuple[str, str]], time: float, http_version: str = ""
    ) -> None:
        """The response head arrived."""
        headers = list(headers)
        if self.credential is not None:
            self.echoes.extend(find_echoes(*self.credential, headers, b""))
        self.status = status
        self.headers = self.redactor.headers(headers)
        self.headers_time = time
        self.http_version = http_version

    def chunk(self, piece: bytes, time: float) -> bool:
        """Bytes of a stream body; False (and nothing kept) once the body limit is passed."""
        if self.body_bytes + len(piece) > self.limits.max_body_bytes:
            self.finish(End.SIZE_LIMIT, f"over {self.limits.max_body_bytes} bytes")
            return False
        self.chunks.append(Chunk(time, self.body_bytes, piece))
        self.body_bytes += len(piece)
        self.events.extend(self.decoder.feed(piece, time))
        return True

    def error_chunk(self, piece: bytes, time: float) -> bool:
        """Bytes of an error body, kept as they are up to a small limit; False when full."""
        room = self.limits.max_error_body - self.body_bytes
        kept = piece[:room]
        self.chunks.append(Chunk(time, self.body_bytes, kept))
        self.body_bytes += len(kept)
        return self.body_bytes < self.limits.max_error_body

    def closed(self, time: float) -> None:
        """The server ended the body: an unfinished event is noted as lost."""
        self.events.extend(self.decoder.close(time))
        self.finish(End.CLOSED)

    def finish(self, end: End, detail: str = "") -> None:
        self.end, self.end_detail = end, detail

    def transcript(self, duration: float) -> Transcript:
        log = self.decoder.log
        if self.credential is not None:
            body = b"".join(c.data for c in self.chunks)
            self.echoes.extend(find_echoes(*self.credential, (), body))
        return Transcript(
            spec=self.spec,
            endpoint=self.endpoint.name,
            framing=self.endpoint.framing.value if self.endpoint.framing else "",
            request=self.request,
            status=self.status,
            http_version=self.http_version,
            headers=self.headers,
            chunks=tuple(self.chunks),
            events=tuple(self.events),
            notes=tuple(log.notes),
            notes_dropped=dict(log.dropped),
            retries=tuple(getattr(self.decoder, "retries", ())),
            end=self.end,
            end_detail=self.redactor.text(self.end_detail),
            headers_time=self.headers_time,
            duration=duration,
            body_bytes=self.body_bytes,
            setup_log=tuple(self.setup_log),
            captures=dict(self.captures),
            variant=self.variant,
            stalls=tuple(self.stalls),
            echoes=tuple(self.echoes),
        )
