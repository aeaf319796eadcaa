"""Turn a check's findings on a transcript into an outcome and a message a person can act on."""

from __future__ import annotations

import traceback
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from streamconform.checks.registry import Check, Finding, Untestable, not_applicable
from streamconform.engine.redact import MARKER, Redactor
from streamconform.model.spec import Endpoint, Level, Requirement, Spec
from streamconform.report.wire import excerpt
from streamconform.transcript import Transcript

__all__ = ["Outcome", "Result", "case_id", "effective_level", "judge"]

_FINDINGS_SHOWN = 3
_SHOWN_CHARS = 300
_REPLAY = "; replay: "
_TRACEBACK_FRAMES = 10  # the innermost: where the check raised
_RAISED_CHARS = 1000


class Outcome(StrEnum):
    """pass; fail (a MUST broken); warn (a SHOULD broken); skip (not applicable by the spec);
    untestable (applicable, but nothing could be judged); error (the check raised: a bug of
    streamconform's own, never the server's)."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"
    UNTESTABLE = "untestable"
    ERROR = "error"

    @property
    def gravity(self) -> int:
        """Its weight where several outcomes become one (a case judged on several captures,
        a cell of the report's matrix): skip < pass < warn < untestable < fail < error. An
        error is gravest: whatever else was judged, the verdict cannot be trusted."""
        return _GRAVITY.index(self)


_GRAVITY = (
    Outcome.SKIP,
    Outcome.PASS,
    Outcome.WARN,
    Outcome.UNTESTABLE,
    Outcome.FAIL,
    Outcome.ERROR,
)


@dataclass(frozen=True, slots=True)
class Result:
    """The verdict of one check on one endpoint of one spec against one target."""

    id: str
    check: str
    suite: str
    spec: str
    endpoint: str
    target: str
    level: str
    outcome: Outcome
    message: str
    requirement: str
    # the endpoint's plain stream: seconds to the first event and in all (for comparisons)
    timing: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        return cls(**{**data, "outcome": Outcome(data["outcome"])})


def case_id(spec: str, endpoint: str, check: str) -> str:
    """The stable id of a case: spec, endpoint and rule, never a position."""
    return f"{spec}::{endpoint}::{check}"


def _requirement_text(chk: Check, traced: list[Requirement]) -> str:
    quotes = [f'"{r.quote}" [{r.id}, {r.level}]' for r in traced]
    return " ".join([chk.requirement, *(f"Spec: {q}" for q in quotes)])


def effective_level(chk: Check, endpoint: Endpoint, traced: list[Requirement]) -> Level:
    """A check is graded MUST when it is one on this endpoint, or when a MUST requirement
    of the spec traces to it."""
    if chk.level_at(endpoint) is Level.MUST or any(r.level is Level.MUST for r in traced):
        return Level.MUST
    return Level.SHOULD


def _where(t: Transcript, f: Finding) -> str:
    parts = []
    if f.event_index is not None:
        parts.append(f"event #{f.event_index}")
    if f.offset is not None:
        parts.append(f"byte {f.offset}")
        when = t.time_at(f.offset)
        if when is not None:
            parts.append(f"+{when:.3f} s")
    return ", ".join(parts) or "response head"


def _clip(text: str, limit: int = _SHOWN_CHARS) -> str:
    """A redacted text cut for display, saying how long it was (never inside a marker)."""
    if len(text) <= limit:
        return text
    cut = limit
    marker = text.find(MARKER, max(0, limit - len(MARKER) + 1))
    if -1 < marker < limit:  # the clip would fall inside it
        cut = marker
    return f"{text[:cut]}… ({len(text)} chars)"


def _shown(text: str, r: Redactor) -> str:
    """A finding's text as a message shows it: redacted whole first, only then clipped
    (a secret cut in two would no longer be recognised). A replay command at the end is
    kept whole, so it can still be run."""
    text = r.text(text)
    head, replay, command = text.partition(_REPLAY)
    if replay and command.startswith(("curl ", "printf ")):
        return _clip(head) + replay + command
    return _clip(text)


def _message(
    chk: Check,
    level: Level,
    requirement: str,
    t: Transcript,
    findings: list[Finding],
    r: Redactor,
) -> str:
    first = findings[0]
    lines = [
        f"{chk.id} ({level}): {chk.title}",
        f"Requirement: {requirement}",
        f"Expected: {_shown(first.expected, r)}",
        f"Actual: {_shown(first.actual, r)}",
        f"Where: {_where(t, first)}",
        "Wire (arrival time, byte offset):",
        excerpt(t, first.offset, r),
    ]
    for more in findings[1:_FINDINGS_SHOWN]:
        lines.append(f"Also: {_shown(more.actual, r)} at {_where(t, more)}")
    if len(findings) > _FINDINGS_SHOWN:
        more = len(findings) - _FINDINGS_SHOWN
        lines.append(f"… and {more} more finding{'s' if more > 1 else ''} of this check")
    dropped = sum(t.notes_dropped.values())
    if dropped:
        lines.append(f"({dropped} further framing notes were counted but not kept)")
    return r.text("\n".join(lines))


def _crash(chk: Check, err: Exception, r: Redactor) -> str:
    """The message of a check that raised: its innermost frames and the exception, each
    redacted whole before the exception is clipped (it may quote a body that holds a key)."""
    frames = r.text("".join(traceback.format_tb(err.__traceback__, -_TRACEBACK_FRAMES)))
    raised = r.text("".join(traceback.format_exception_only(err)).rstrip())
    return (
        f"internal error: check {chk.id} raised {type(err).__name__} (a streamconform bug, "
        "not the server's; please report it)\n"
        f"Traceback (most recent call last):\n{frames}{_clip(raised, _RAISED_CHARS)}"
    )


def judge(
    chk: Check,
    spec: Spec,
    endpoint: Endpoint,
    transcript: Transcript | None,
    *,
    target: str,
    strict: bool,
    redactor: Redactor,
) -> Result:
    """Run one check and grade it; a check that raises is an error, never passed and never
    blamed on the target.

    `transcript` is None only where no capture could be made: an inapplicable check, or a
    variant the caller reports as untestable.
    """
    traced = spec.requirements_for(chk.id, endpoint.name)
    requirement = _requirement_text(chk, traced)
    level = effective_level(chk, endpoint, traced)

    def result(outcome: Outcome, message: str) -> Result:
        return Result(
            id=case_id(spec.name, endpoint.name, chk.id),
            check=chk.id,
            suite=chk.suite,
            spec=spec.name,
            endpoint=endpoint.name,
            target=target,
            level=level.value,
            outcome=outcome,
            message=message,
            requirement=requirement,
        )

    reason = not_applicable(chk, endpoint)
    if reason:
        return result(Outcome.SKIP, reason)
    if transcript is None:  # the caller grades this case itself (an unprovokable variant)
        return result(Outcome.UNTESTABLE, "no capture")
    if chk.needs_stream and not transcript.opened:
        status = f"status {transcript.status}" if transcript.status else transcript.end.value
        detail = redactor.text(transcript.end_detail)
        return result(Outcome.UNTESTABLE, f"no stream to judge ({status}) {detail}".strip())
    try:
        findings = chk.run(transcript, endpoint)
    except Untestable as why:
        return result(Outcome.UNTESTABLE, redactor.text(str(why)))
    except Exception as err:  # a defect in the check, not in the target
        return result(Outcome.ERROR, _crash(chk, err, redactor))
    if not findings:
        return result(Outcome.PASS, "")
    outcome = Outcome.FAIL if level is Level.MUST or strict else Outcome.WARN
    return result(outcome, _message(chk, level, requirement, transcript, findings, redactor))
