"""What a scenario hands the checks: typed, frozen evidence.

A plain stream and a key probe are each one Transcript; a provoked stream carries the
spec entry that provoked it.
The scenarios that take several requests say so in their own type: a resumed run keeps
every connection, the stitched events and the run read without interruption; a token
trial keeps every use of the token; bad input keeps each generated exchange. Reports
show every transcript of the evidence that was judged, not only the first.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamconform.core.transcript import Transcript
from streamconform.decode.events import Event
from streamconform.model.spec import ErrorCase, Failure, Filter

__all__ = [
    "BadInput",
    "Evidence",
    "Probe",
    "Provoked",
    "Resumed",
    "TokenTrial",
    "primary",
    "transcripts",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Provoked:
    """A stream requested the way the spec says provokes something: a filter on, a
    documented error, a failed run, an overrun. `subject` is that entry of the spec."""

    primary: Transcript
    subject: Filter | Failure | ErrorCase | None = None

    def transcripts(self) -> tuple[Transcript, ...]:
        return (self.primary,)


@dataclass(frozen=True, slots=True, kw_only=True)
class Resumed:
    """A run cut and resumed (or read by two clients at once).

    `primary` is the first connection with the stitched events, so findings point into
    what the client saw; `legs` are the connections one by one; `independent` is the run
    as a reader that was never cut saw it; `run` is the run's key, where runs are keyed.
    """

    primary: Transcript
    legs: tuple[Transcript, ...] = ()
    stitched: tuple[Event, ...] = ()
    independent: tuple[Event, ...] = ()
    run: object = None
    not_waited: str = ""  # why the scenario was not played out (a window too long to wait)
    # seconds from each connection's request to the answer to the next (one per later
    # leg), and how long the run is documented to be kept for a resume, in this run's
    # seconds: a resume this process read, sent or was answered too late for is not the
    # server's failure
    reconnected_after: tuple[float, ...] = ()
    kept_alive: float | None = None

    def transcripts(self) -> tuple[Transcript, ...]:
        return self.legs or (self.primary,)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenTrial:
    """An issued token used as a careless or hostile client would.

    `primary` is the request that should have been refused (or the token answer); `legs`
    every other request of the trial, in order.
    """

    primary: Transcript
    legs: tuple[Transcript, ...] = ()
    overlap: bool | None = None  # the second use was answered while the first streamed
    race: int = 0  # requests sent together with one token
    waited: float | None = None  # seconds the token was held before use
    elsewhere: tuple[str, ...] = ()  # what was changed to take it to another resource

    def transcripts(self) -> tuple[Transcript, ...]:
        if any(leg is self.primary for leg in self.legs):
            return self.legs
        return (*self.legs, self.primary)


@dataclass(frozen=True, slots=True)
class Probe:
    """One generated request and what came back (all redacted)."""

    mode: str
    curl: str
    status: int | None
    content_type: str
    body: str
    error: str = ""
    # what the request breaks, for an invalid one built to break one thing
    breaks: str = ""
    # the spec element it rests on (`body_schema.max_tokens`; `body_schema` when drawn)
    where: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BadInput:
    """Generated requests, each with its answer; `primary` holds the setup's log."""

    primary: Transcript
    probes: tuple[Probe, ...] = ()

    def transcripts(self) -> tuple[Transcript, ...]:
        return (self.primary,)


Evidence = Transcript | Provoked | Resumed | TokenTrial | BadInput


def primary(evidence: Evidence) -> Transcript:
    """The transcript findings point into: a stream's own, or the scenario's main one."""
    return evidence if isinstance(evidence, Transcript) else evidence.primary


def transcripts(evidence: Evidence) -> tuple[Transcript, ...]:
    """Every transcript the evidence holds, for reports."""
    return (evidence,) if isinstance(evidence, Transcript) else evidence.transcripts()
