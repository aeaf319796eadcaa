"""Show the evidence a check judged, whole: the request that was refused or accepted, every
connection of a resumed run, every request of a token trial, every generated request.

A failure message carries the short form (a line per connection); report attachments
carry every transcript in full. Everything shown is redacted.
"""

from __future__ import annotations

from collections.abc import Iterator

from streamconform.core.evidence import BadInput, Evidence, Resumed, TokenTrial, primary
from streamconform.core.redact import Redactor
from streamconform.core.transcript import Transcript
from streamconform.report.wire import render_transcript

__all__ = ["attachments", "evidence_lines"]

_LEGS_SHOWN = 12  # connections listed in a message; a race of 500 is summed up after these
_SHOWN_REQUEST_HEADERS = frozenset({"last-event-id"})  # what tells one leg from another


def _answer(t: Transcript) -> str:
    if t.status is None:
        return f"no answer ({t.end.value}{': ' + t.end_detail if t.end_detail else ''})"
    events = f", {len(t.events)} events" if t.opened else ""
    detail = f" {t.end_detail}" if t.end_detail else ""
    return f"{t.status}{events}, ended by {t.end.value}{detail}"


def _request(t: Transcript) -> str:
    if not t.request.method:
        return f"(not sent: {t.end_detail})" if t.end_detail else "(not sent)"
    shown = [f"{k}: {v}" for k, v in t.request.headers if k.lower() in _SHOWN_REQUEST_HEADERS]
    return f"{t.request.method} {t.request.url}" + (f" ({', '.join(shown)})" if shown else "")


def _legs(title: str, legs: tuple[Transcript, ...]) -> Iterator[str]:
    yield title
    for number, leg in enumerate(legs[:_LEGS_SHOWN], 1):
        yield f"  {number}. {_request(leg)} -> {_answer(leg)}"
    if len(legs) > _LEGS_SHOWN:
        rest = legs[_LEGS_SHOWN:]
        yield f"  … and {len(rest)} more: " + ", ".join(sorted({_answer(leg) for leg in rest}))


def evidence_lines(evidence: Evidence, redactor: Redactor) -> list[str]:
    """The request judged and, for a scenario of several requests, each of them in a line."""
    lines = [f"Request: {_request(primary(evidence))}"]
    if isinstance(evidence, Resumed) and evidence.legs:
        lines += _legs("Connections (request -> answer):", evidence.legs)
        lines.append(f"Read without interruption: {len(evidence.independent)} events of the run")
    elif isinstance(evidence, TokenTrial) and evidence.legs:
        lines += _legs("Requests with the token (request -> answer):", evidence.legs)
    elif isinstance(evidence, BadInput):
        lines.append(f"Generated requests: {len(evidence.probes)}")
    return [redactor.text(line) for line in lines]


def attachments(name: str, evidence: Evidence, redactor: Redactor) -> list[tuple[str, str]]:
    """(title, text) of every transcript the evidence holds, and of every generated request."""
    label = f" ({name})" if name else ""
    out = []
    if isinstance(evidence, BadInput):
        probes = [
            f"{p.curl}\n-> {p.status} {p.content_type} {p.body or p.error}" for p in evidence.probes
        ]
        out.append((f"generated requests{label}", redactor.text("\n\n".join(probes))))
    legs = evidence.legs if isinstance(evidence, Resumed | TokenTrial) else ()
    if not legs:
        out.append((f"wire transcript{label}", render_transcript(primary(evidence), redactor)))
    for number, leg in enumerate(legs, 1):
        title = f"wire transcript{label}, connection {number} of {len(legs)}"
        out.append((title, render_transcript(leg, redactor)))
    return out
