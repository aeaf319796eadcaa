"""Turn a check's findings on a transcript into an outcome and a message a person can act on."""

from __future__ import annotations

import traceback
from dataclasses import replace

from streamconform.checks.registry import Check, Finding, Untestable, not_applicable
from streamconform.core.evidence import Evidence, primary
from streamconform.core.outcome import Outcome, Result, case_id
from streamconform.core.redact import MARKER, Redactor
from streamconform.core.transcript import End, Transcript
from streamconform.model.spec import Endpoint, Level, Requirement, Spec
from streamconform.report.evidence import evidence_lines
from streamconform.report.wire import excerpt

__all__ = ["crash_message", "effective_level", "judge"]

_FINDINGS_SHOWN = 3
_SHOWN_CHARS = 300
_REPLAY = "; replay: "
_TRACEBACK_FRAMES = 10  # the innermost: where the check raised
_RAISED_CHARS = 1000
_TOO_LARGE = "stream.event.too-large"


def _requirement_text(chk: Check, traced: list[Requirement]) -> str:
    quotes = [f'"{r.quote}" [{r.id}, {r.level}]' for r in traced]
    return " ".join([chk.requirement, *(f"Spec: {q}" for q in quotes)])


def effective_level(chk: Check, endpoint: Endpoint, traced: list[Requirement]) -> Level:
    """A check is graded MUST when it is one on this endpoint, or when a MUST requirement
    of the spec traces to it."""
    if chk.level_at(endpoint) is Level.MUST or any(r.level is Level.MUST for r in traced):
        return Level.MUST
    return Level.SHOULD


def _assumption_lines(assumed: list[str]) -> list[str]:
    return [
        f"Assumed: the document does not say this; the spec assumes it ({', '.join(assumed)}). "
        "A target profile can restate it for this target; --strict makes it fail."
    ]


def unjudgeable(t: Transcript, endpoint: Endpoint) -> str:
    """Why nothing of this capture can be judged, or "": the request needs what the target
    does not have, or the suite's own size limit (not a bound the document states) cut the
    stream, so what is missing is not the server's doing."""
    if t.end is End.UNAVAILABLE:
        return t.end_detail
    sizes = endpoint.sizes
    if t.end is End.SIZE_LIMIT and "body_bytes" not in sizes.stated:
        return (
            f"the stream outgrew the suite's body limit of {sizes.body_bytes} bytes and was "
            "cut, which the document does not bound; raise the limit with --max-body-bytes "
            "N or the target profile's limits.body_bytes"
        )
    if t.notes_of(_TOO_LARGE) and "event_bytes" not in sizes.stated:
        note = t.notes_of(_TOO_LARGE)[0]
        return (
            f"an event at byte {note.offset} is larger than the suite's event limit of "
            f"{sizes.event_bytes} bytes and was not decoded, which the document does not "
            "bound; raise the limit with --max-event-bytes N or the target profile's "
            "limits.event_bytes"
        )
    return ""


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
    evidence: Evidence,
    findings: list[Finding],
    r: Redactor,
    assumed: list[str] | None = None,
) -> str:
    t = primary(evidence)
    first = findings[0]
    grade = f"{level}, on the spec's assumption {', '.join(assumed)}" if assumed else level
    lines = [
        f"{chk.id} ({grade}): {chk.title}",
        f"Requirement: {requirement}",
        *(_assumption_lines(assumed) if assumed else ()),
        f"Expected: {_shown(first.expected, r)}",
        f"Actual: {_shown(first.actual, r)}",
        f"Where: {_where(t, first)}",
        "Wire (arrival time, byte offset):",
        excerpt(t, first.offset, r),
        *evidence_lines(evidence, r),
    ]
    for more in findings[1:_FINDINGS_SHOWN]:
        lines.append(f"Also: {_shown(more.actual, r)} at {_where(t, more)}")
    if len(findings) > _FINDINGS_SHOWN:
        rest = len(findings) - _FINDINGS_SHOWN
        lines.append(f"… and {rest} more finding{'s' if rest > 1 else ''} of this check")
    dropped = sum(t.notes_dropped.values())
    if dropped:
        lines.append(f"({dropped} further framing notes were counted but not kept)")
    return r.text("\n".join(lines))


def crash_message(what: str, err: BaseException, r: Redactor) -> str:
    """The message of a check or a scenario's play that raised: its innermost frames and
    the exception, each redacted whole before the exception is clipped (it may quote a
    body that holds a key)."""
    frames = r.text("".join(traceback.format_tb(err.__traceback__, -_TRACEBACK_FRAMES)))
    raised = r.text("".join(traceback.format_exception_only(err)).rstrip())
    return (
        f"internal error: {what} raised {type(err).__name__} (a streamconform bug, "
        "not the server's; please report it)\n"
        f"Traceback (most recent call last):\n{frames}{_clip(raised, _RAISED_CHARS)}"
    )


def judge(
    chk: Check,
    spec: Spec,
    endpoint: Endpoint,
    evidence: Evidence | None,
    *,
    target: str,
    strict: bool,
    redactor: Redactor,
    strict_assumptions: bool = False,
) -> Result:
    """Run one check and grade it; a check that raises is an error, never passed and never
    blamed on the target.

    `evidence` is None only where nothing could be gathered: an inapplicable check, or a
    scenario the caller reports as untestable. Findings point into its primary transcript.
    Findings that rest only on the spec's assumptions warn, tagged with them, unless
    `strict_assumptions` (--strict, or the target profile's `strict`) makes them fail.
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
    if evidence is None:  # the caller grades this case itself (an unplayable scenario)
        return result(Outcome.UNTESTABLE, "no capture")
    transcript = primary(evidence)
    cut = unjudgeable(transcript, endpoint)
    if cut:
        return result(Outcome.UNTESTABLE, redactor.text(cut))
    if chk.needs_stream and not transcript.opened:
        status = f"status {transcript.status}" if transcript.status else transcript.end.value
        detail = redactor.text(transcript.end_detail)
        return result(Outcome.UNTESTABLE, f"no stream to judge ({status}) {detail}".strip())
    try:
        findings = chk.run(evidence, endpoint)
    except Untestable as why:
        return result(Outcome.UNTESTABLE, redactor.text(str(why)))
    except Exception as err:  # a defect in the check, not in the target
        return result(Outcome.ERROR, crash_message(f"check {chk.id}", err, redactor))
    if not findings:
        return result(Outcome.PASS, "")
    behind = [spec.assumption_behind(endpoint.name, f.basis) for f in findings]
    waived = sorted({a.id for a in behind if a is not None and a.id in spec.waived})
    if waived:  # the target says it does not follow these: what rests on them is moot
        kept = [
            (f, a)
            for f, a in zip(findings, behind, strict=True)
            if a is None or a.id not in spec.waived
        ]
        if not kept:
            return replace(
                result(
                    Outcome.SKIP,
                    f"waived: the target profile says this target does not follow the spec's "
                    f"assumption {', '.join(waived)}, and only that was contradicted",
                ),
                assumptions=tuple(waived),
            )
        findings, behind = [f for f, _ in kept], [a for _, a in kept]
    graded = Outcome.FAIL if level is Level.MUST or strict else Outcome.WARN
    if all(behind):
        # only what the spec assumed was broken: the document says nothing of it
        assumed = sorted({a.id for a in behind if a is not None})
        outcome = graded if strict_assumptions else Outcome.WARN
        message = _message(chk, level, requirement, evidence, findings, redactor, assumed)
        return replace(result(outcome, message), assumptions=tuple(assumed))
    documented = [f for f, a in zip(findings, behind, strict=True) if a is None]
    rest = [f for f, a in zip(findings, behind, strict=True) if a is not None]
    return result(
        graded, _message(chk, level, requirement, evidence, [*documented, *rest], redactor)
    )
