"""Hand-built evidence for unit tests of checks: no server, no sockets.

Streams are recorded through the Recorder from chosen bytes and times, so they are decoded
exactly as a run decodes them; answers that are not streams (a refusal, a token answer)
are built the way the exchange records them: status, headers, one chunk holding the body,
ended as not-a-stream. Checks are reached by their rule id only, and scenarios through
the check that names them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import streamconform.checks  # noqa: F401  (registers every check)
from streamconform.capture.recorder import Recorder
from streamconform.checks import REGISTRY, Finding, Untestable
from streamconform.core.echoes import find_echoes
from streamconform.core.evidence import Resumed
from streamconform.core.outcome import Result
from streamconform.core.redact import Redactor
from streamconform.core.transcript import Chunk, End, RequestRecord, Transcript
from streamconform.engine.verdict import judge
from streamconform.model import load_spec
from streamconform.model.spec import Endpoint, Spec

SPECS = Path(__file__).resolve().parents[1] / "specs"
GAP = 0.1  # piece i of a recorded stream arrives at (i + 1) * GAP seconds
END_GAP = 0.25  # a recorded capture ends this long after its last piece

# -- Specs and scenarios -----------------------------------------------------------------


@functools.cache
def bundled(name: str) -> Spec:
    """A bundled spec, loaded once per test process."""
    return load_spec(SPECS / f"{name}.yaml")


def endpoint_of(spec: str, name: str) -> Endpoint:
    return bundled(spec).endpoints[name]


def scenario_names(check_id: str, ep: Endpoint) -> list[str]:
    """The names of the scenarios the check judges on this endpoint, in its order."""
    scenarios = REGISTRY[check_id].scenarios
    assert scenarios is not None, f"{check_id} judges the plain stream"
    return [s.name for s in scenarios(ep)]


def subject_of(check_id: str, ep: Endpoint, name: str) -> Any:
    """The spec entry (a filter, a failure, an error case) a scenario of the check provokes."""
    scenarios = REGISTRY[check_id].scenarios
    assert scenarios is not None
    (found,) = [s for s in scenarios(ep) if s.name == name]
    return found.subject


# -- Bodies ------------------------------------------------------------------------------


def sse(
    event: str | None,
    data: Any,
    *,
    id: str | None = None,
    crlf: bool = False,
) -> bytes:
    """One SSE event: an optional `id:` and `event:` line, JSON data (a str is sent as it
    is), and the blank line that dispatches it; `crlf` ends every line with CR LF."""
    lines = []
    if id is not None:
        lines.append(f"id: {id}")
    if event is not None:
        lines.append(f"event: {event}")
    text = data if isinstance(data, str) else json.dumps(data)
    lines.append(f"data: {text}")
    eol = "\r\n" if crlf else "\n"
    return (eol.join(lines) + eol + eol).encode()


def line(obj: Mapping[str, Any], *, crlf: bool = False) -> bytes:
    """One NDJSON line."""
    return json.dumps(obj, separators=(",", ":")).encode() + (b"\r\n" if crlf else b"\n")


def split(body: bytes, *sizes: int) -> tuple[bytes, ...]:
    """A body cut into pieces of the given sizes (and the rest): events across chunks."""
    pieces, at = [], 0
    for size in sizes:
        pieces.append(body[at : at + size])
        at += size
    return (*pieces, body[at:]) if at < len(body) else tuple(pieces)


# -- Transcripts -------------------------------------------------------------------------


def recorded(
    ep: Endpoint,
    pieces: Iterable[bytes],
    *,
    end: End = End.CLOSED,
    detail: str = "",
    status: int = 200,
    headers: Sequence[tuple[str, str]] | None = None,
    captures: Mapping[str, object] | None = None,
    variant: str = "",
    credential: tuple[str, str] | None = None,
    gap: float = GAP,
) -> Transcript:
    """A stream recorded from chosen pieces: the response head at 10 ms, piece i at
    (i + 1) * gap, the end END_GAP after the last piece (closed by the server, or the way
    `end` says)."""
    rec = Recorder("spec", ep)
    rec.credential = credential
    if headers is None:
        headers = [("content-type", ep.content_types[0]), ("cache-control", "no-cache")]
    rec.response(status, headers, time=0.01)
    count = 0
    for i, piece in enumerate(pieces):
        rec.chunk(piece, (i + 1) * gap)
        count = i + 1
    duration = count * gap + END_GAP
    if end is End.CLOSED:
        rec.closed(duration)
    else:
        rec.finish(end, detail or f"after {duration:.2f} s")
    rec.captures = dict(captures or {})
    rec.variant = variant
    return rec.transcript(duration)


def answer(
    ep: Endpoint,
    status: int,
    body: Any = b"",
    *,
    content_type: str | None = "application/json",
    headers: Sequence[tuple[str, str]] = (),
    variant: str = "",
    end: End | None = None,
    detail: str = "",
    credential: tuple[str, str] | None = None,
) -> Transcript:
    """An answer read whole as the exchange reads it: a dict or list body is sent as JSON,
    an error status ends as not-a-stream, a success as read to its end (`end` overrides);
    with a credential, where the answer carries it back is noted as the exchange does."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = [*([("content-type", content_type)] if content_type else []), *headers]
    if end is None:
        end = End.CLOSED if 200 <= status < 300 else End.NOT_A_STREAM
    echoes = find_echoes(*credential, head, data) if credential else ()
    return Transcript(
        "spec",
        ep.name,
        ep.framing.value if ep.framing else "",
        RequestRecord(ep.method, f"http://127.0.0.1:9{ep.path}"),
        status=status,
        headers=tuple(head),
        chunks=(Chunk(0.02, 0, data),) if data else (),
        end=end,
        end_detail=detail,
        headers_time=0.02,
        duration=0.03,
        body_bytes=len(data),
        variant=variant,
        echoes=echoes,
    )


def opened_stream(ep: Endpoint, first: bytes = b"", **kw: Any) -> Transcript:
    """A stream that opened where a refusal was due, dropped after its first bytes."""
    kw.setdefault("content_type", ep.content_types[0] if ep.content_types else None)
    return answer(
        ep, 200, first, end=End.CUT, detail="the request was accepted; the stream was dropped", **kw
    )


def no_answer(
    ep: Endpoint,
    *,
    end: End = End.RESPONSE_TIMEOUT,
    detail: str = "no complete answer within 30.0 s",
    variant: str = "",
) -> Transcript:
    """A request that got no response at all."""
    return Transcript(
        "spec",
        ep.name,
        ep.framing.value if ep.framing else "",
        RequestRecord(ep.method, f"http://127.0.0.1:9{ep.path}"),
        end=end,
        end_detail=detail,
        duration=30.0,
        variant=variant,
    )


def unprepared(ep: Endpoint, variant: str = "", detail: str = "setup flow failed") -> Transcript:
    """No request was sent: a setup flow failed first."""
    framing = ep.framing.value if ep.framing else ""
    return Transcript.unprepared("spec", ep.name, framing, variant, detail)


# -- Resumed runs ------------------------------------------------------------------------


def resumed(
    ep: Endpoint,
    legs: Sequence[Transcript],
    independent: Transcript | Sequence[Any],
    *,
    run: object = None,
    every_event: bool = False,
    name: str = "resume:middle",
) -> Resumed:
    """A cut-and-resumed run as the scenario hands it over: the stitched events are each
    leg's events of the run (all of them with `every_event`, as with a filter on), the
    uninterrupted reader's events of the run are the baseline, and the first leg carries
    the stitched events and the last leg's end."""
    rules = ep.events
    assert rules is not None

    def own(events: Sequence[Any], keep_all: bool = False) -> list[Any]:
        if keep_all or not rules.key_field:
            return list(events)
        return [e for e in events if rules.run_of(e) == run]

    stitched = [e for leg in legs for e in own(leg.events, every_event)]
    baseline = independent.events if isinstance(independent, Transcript) else independent
    first = legs[0]
    primary = replace(
        first,
        events=tuple(stitched),
        end=legs[-1].end,
        end_detail=legs[-1].end_detail,
        variant=name,
    )
    return Resumed(
        primary=primary,
        legs=tuple(legs),
        stitched=tuple(stitched),
        independent=tuple(own(baseline)),
        run=run,
    )


# -- Judging -----------------------------------------------------------------------------


def findings(check_id: str, evidence: object, ep: Endpoint) -> list[Finding]:
    """What the check finds (asserting it did not call the evidence untestable)."""
    try:
        return REGISTRY[check_id].run(evidence, ep)
    except Untestable as why:  # pragma: no cover - a failing test shows the reason
        pytest.fail(f"{check_id} found the evidence untestable: {why}")


def untestable(check_id: str, evidence: object, ep: Endpoint) -> str:
    """Why the check could judge nothing (failing the test if it judged)."""
    with pytest.raises(Untestable) as raised:
        REGISTRY[check_id].run(evidence, ep)
    return str(raised.value)


def said(found: Sequence[Finding]) -> str:
    """Every finding as one text (expected | actual per line), for assertions."""
    return "\n".join(f"{f.expected} | {f.actual}" for f in found)


def grade(
    check_id: str,
    spec: Spec,
    ep: Endpoint,
    evidence: object,
    *,
    strict: bool = False,
    secrets: Sequence[str] = (),
) -> Result:
    """The check graded as a run grades it, on the spec's own requirements."""
    return judge(
        REGISTRY[check_id],
        spec,
        ep,
        evidence,  # type: ignore[arg-type]
        target="unit",
        strict=strict,
        redactor=Redactor(secrets),
    )
