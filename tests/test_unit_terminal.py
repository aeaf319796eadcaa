"""Unit tests of the terminal and error checks (terminal.*, http.error.documented) and of
filter.only-matching over hand-built streams and answers: no server.

Streams are recorded through the Recorder from chosen bytes on the bundled specs'
endpoints: PromptFloe's finite NDJSON build, Prism's long-lived SSE stream multiplexed
by run_id, the mini-app studio's SSE stream typed by JSON fields with subtypes, and the
workflow's plain-text stream that can be made to overrun. Provoked streams and documented
errors carry the spec entry that provoked them, as the stream scenarios hand them over.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from evidence_builders import (
    answer,
    bundled,
    endpoint_of,
    findings,
    grade,
    line,
    no_answer,
    opened_stream,
    recorded,
    said,
    scenario_names,
    split,
    sse,
    subject_of,
    unprepared,
    untestable,
)

from streamconform.checks import REGISTRY
from streamconform.core.evidence import Provoked
from streamconform.core.outcome import Outcome
from streamconform.core.transcript import End, Transcript
from streamconform.model.spec import Endpoint

PRESENT, ONCE = "terminal.event.present", "terminal.event.once"
CLOSES, STAYS_OPEN = "terminal.stream.closes", "terminal.stream.stays-open"
FAILURE, MAX_DURATION = "terminal.failure.reported", "terminal.stream.max-duration"
ERRORS, FILTER = "http.error.documented", "filter.only-matching"

BUILD = endpoint_of("promptfloe", "build")
PRISM = endpoint_of("prism-agents", "events")
MINIAPP = endpoint_of("miniapp-studio", "prompt_stream")
WORKFLOW = endpoint_of("workflow-stream", "run_stream")
R1 = {"run_id": "r1"}

# -- Bodies ------------------------------------------------------------------------------

FIELDS: dict[str, dict[str, Any]] = {
    "plan": {"summary": "a pricing page"},
    "file": {"path": "index.html", "contents": "<h1>Pricing</h1>"},
    "ready": {"appId": "app_1", "previewUrl": "https://preview.test/app_1"},
    "error": {"message": "the build failed"},
}


def pf(type: str, *, crlf: bool = False, **extra: Any) -> bytes:
    """One PromptFloe build event."""
    return line({"type": type, **FIELDS[type], **extra}, crlf=crlf)


PLAN, FILE, READY, BOOM = pf("plan"), pf("file"), pf("ready"), pf("error")


def pe(label: str, run: str = "r1", id: str | None = None) -> bytes:
    """One Prism event: `run_status.<status>` or another type, of a run."""
    base, _, status = label.partition(".")
    data: dict[str, Any] = {"run_id": run}
    if status:
        data["status"] = status
    if base == "token":
        data["delta"] = "hi"
    return sse(base, data, id=id)


def mini(type: str, subtype: str = "", **extra: Any) -> bytes:
    """One mini-app studio event, typed by its JSON fields."""
    data = {"type": type, **({"subtype": subtype} if subtype else {}), "message": "m", **extra}
    return sse(None, data)


STAMP = "2025-09-04T16:24:35.185Z"
PING = b": ping\n\n"


def build(*pieces: bytes, end: End = End.CLOSED, **kw: Any) -> Transcript:
    return recorded(BUILD, pieces, end=end, **kw)


def prism(*pieces: bytes, end: End = End.TERMINAL, **kw: Any) -> Transcript:
    kw.setdefault("captures", R1)
    return recorded(PRISM, pieces, end=end, **kw)


def miniapp(*pieces: bytes, end: End = End.CLOSED, **kw: Any) -> Transcript:
    return recorded(MINIAPP, pieces, end=end, **kw)


def with_rules(ep: Endpoint, **changes: Any) -> Endpoint:
    assert ep.events is not None
    return replace(ep, events=replace(ep.events, **changes))


# -- terminal.event.present ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ep", "t"),
    [
        (BUILD, build(PLAN, FILE, READY)),
        (BUILD, build(PLAN, BOOM)),
        (BUILD, build(*split(pf("plan", crlf=True) + pf("ready", crlf=True), 7, 30))),
        (MINIAPP, miniapp(mini("system", "init"), mini("result", "error_max_turns"))),
        (PRISM, prism(pe("run_status.running"), pe("token", "r2"), pe("run_status.completed"))),
        (PRISM, prism(pe("run_status.running", "r2"), pe("run_status.error", "r2"), captures={})),
    ],
    ids=[
        "ready",
        "error-terminal",
        "crlf-across-chunks",
        "subtype-of-a-terminal-base-type",
        "awaited-run-ends-among-others",
        "no-awaited-run-any-run-ends-it",
    ],
)
def test_terminal_present_passes(ep: Endpoint, t: Transcript) -> None:
    assert findings(PRESENT, t, ep) == []


@pytest.mark.parametrize(
    ("ep", "t", "actual"),
    [
        (
            BUILD,
            build(PLAN, FILE),
            "the stream ended (closed) after event #1 with no terminal event",
        ),
        (BUILD, build(PLAN, end=End.IDLE_TIMEOUT), "ended (idle-timeout) after event #0"),
        (BUILD, build(PLAN, end=End.READ_ERROR), "ended (read-error) after event #0"),
        (BUILD, build(), "the stream ended (closed) before any event with no terminal event"),
        (BUILD, build(PLAN, READY[:-1]), "ended (closed) after event #0"),
        (PRISM, prism(pe("token"), pe("run_status.completed", "r2")), "after event #1"),
    ],
    ids=[
        "closed-without",
        "fell-silent",
        "broken",
        "empty",
        "terminal-line-never-finished",
        "only-another-runs-terminal",
    ],
)
def test_terminal_missing_fails(ep: Endpoint, t: Transcript, actual: str) -> None:
    (found,) = findings(PRESENT, t, ep)
    rules = ep.events
    assert rules is not None
    assert found.expected == f"one of {', '.join(rules.terminal)} before the end"
    assert actual in found.actual
    assert (found.offset, found.event_index) == (t.body_bytes, len(t.events))


# -- terminal.event.once ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ep", "t"),
    [
        (BUILD, build(PLAN, READY)),
        (BUILD, build(PLAN, READY, end=End.IDLE_TIMEOUT)),
        (BUILD, build(PLAN)),
        (PRISM, prism(pe("token"), pe("run_status.completed"), PING, PING)),
        (
            PRISM,
            prism(pe("run_status.completed", "r2"), pe("run_status.completed"), pe("token", "r3")),
        ),
    ],
    ids=[
        "one",
        "one-then-silent",
        "none-is-another-rule",
        "heartbeats-after-it",
        "other-runs-go-on",
    ],
)
def test_terminal_once_passes(ep: Endpoint, t: Transcript) -> None:
    assert findings(ONCE, t, ep) == []


@pytest.mark.parametrize(
    ("ep", "t", "expected", "actual", "index"),
    [
        (
            BUILD,
            build(PLAN, READY, READY),
            "one terminal event",
            "another terminal event, ready",
            2,
        ),
        (BUILD, build(READY, BOOM), "one terminal event", "another terminal event, error", 1),
        (BUILD, build(PLAN, READY, FILE), "nothing after the terminal event", "an event, file", 2),
        (
            PRISM,
            prism(pe("run_status.completed"), pe("run_status.error")),
            "one terminal event",
            "another terminal event, run_status.error",
            1,
        ),
        (
            MINIAPP,
            miniapp(mini("result", "success"), mini("result", "error_max_turns")),
            "one terminal event",
            "another terminal event, result.error_max_turns",
            1,
        ),
    ],
    ids=["twice", "ready-then-error", "event-after", "awaited-run-twice", "two-subtypes"],
)
def test_terminal_once_broken_fails(
    ep: Endpoint, t: Transcript, expected: str, actual: str, index: int
) -> None:
    (found,) = findings(ONCE, t, ep)
    assert found.expected == expected
    assert found.actual.startswith(actual)
    assert found.event_index == index
    assert found.offset == t.events[index].offset


def test_terminal_once_reports_every_event_after_it() -> None:
    t = build(PLAN, READY, FILE, FILE)
    assert [f.actual for f in findings(ONCE, t, BUILD)] == [
        "an event, file, after #1",
        "an event, file, after #1",
    ]


@pytest.mark.xfail(
    strict=True,
    reason="a sentinel the spec declares (non_json_data, e.g. [DONE]) after the terminal "
    "event is taken for an event after the end",
)
def test_declared_sentinel_after_the_terminal_event_passes() -> None:
    ep = with_rules(MINIAPP, non_json_data=("[DONE]",))
    t = recorded(ep, (mini("result", "success"), sse(None, "[DONE]")))
    assert findings(ONCE, t, ep) == []


# -- terminal.stream.closes ------------------------------------------------------------------


def test_closed_after_the_terminal_event_passes() -> None:
    assert findings(CLOSES, build(PLAN, READY), BUILD) == []
    assert findings(CLOSES, build(PLAN), BUILD) == []  # no terminal: another rule's


def test_left_open_after_the_terminal_event_fails() -> None:
    t = build(PLAN, READY, PING, end=End.NOT_CLOSED, detail="5.0 s after the terminal event")
    (found,) = findings(CLOSES, t, BUILD)
    assert (found.expected, found.actual) == (
        "the connection closed after the terminal event",
        "still open 5.0 s after the terminal event",
    )
    assert (found.offset, found.event_index) == (t.body_bytes, 2)


@pytest.mark.parametrize(
    "end", [End.IDLE_TIMEOUT, End.MAX_DURATION, End.READ_ERROR, End.SIZE_LIMIT]
)
def test_stream_that_ended_otherwise_is_untestable(end: End) -> None:
    why = untestable(CLOSES, build(PLAN, end=end), BUILD)
    assert why == f"the stream ended by {end.value}, not after a terminal event"


# -- terminal.stream.stays-open --------------------------------------------------------------


@pytest.mark.parametrize("end", [End.TERMINAL, End.IDLE_TIMEOUT, End.MAX_DURATION])
def test_open_after_the_run_ended_passes(end: End) -> None:
    t = prism(pe("run_status.running"), pe("run_status.completed"), PING, end=end)
    assert findings(STAYS_OPEN, t, PRISM) == []


def test_closed_with_the_run_fails() -> None:
    t = prism(pe("run_status.running"), pe("run_status.completed"), end=End.CLOSED)
    (found,) = findings(STAYS_OPEN, t, PRISM)
    assert (found.expected, found.actual) == (
        "the stream open after the run ended",
        "closed 0.250 s after the run's end",
    )


def test_broken_after_the_run_fails() -> None:
    t = prism(pe("run_status.completed"), PING, PING, end=End.READ_ERROR, detail="connection reset")
    (found,) = findings(STAYS_OPEN, t, PRISM)
    assert found.actual == "broken (connection reset) 0.450 s after the run's end"


@pytest.mark.parametrize(
    "pieces",
    [(pe("run_status.running"),), (pe("run_status.running"), pe("run_status.completed", "r2"))],
    ids=["run-never-ended", "only-another-run-ended"],
)
def test_run_that_never_ended_is_untestable(pieces: tuple[bytes, ...]) -> None:
    why = untestable(STAYS_OPEN, prism(*pieces, end=End.CLOSED), PRISM)
    assert why == "the run never ended, so nothing can follow its end"


# -- terminal.failure.reported ---------------------------------------------------------------


def failed(ep: Endpoint, t: Transcript, terminal: str) -> Provoked:
    name = f"failure:{terminal}"
    assert name in scenario_names(FAILURE, ep)
    return Provoked(primary=replace(t, variant=name), subject=subject_of(FAILURE, ep, name))


@pytest.mark.parametrize(
    ("ep", "t", "terminal"),
    [
        (BUILD, build(PLAN, FILE, BOOM), "error"),
        (BUILD, build(PLAN, pf("error", code="E_BUILD", retry=False)), "error"),
        (BUILD, build(pf("error", crlf=True)), "error"),
        (
            MINIAPP,
            miniapp(mini("system", "init"), mini("result", "error_max_turns")),
            "result.error_max_turns",
        ),
        (MINIAPP, miniapp(mini("error", timestamp=STAMP)), "error"),
        (PRISM, prism(pe("run_status.running"), pe("run_status.error"), PING), "run_status.error"),
    ],
    ids=[
        "build-error",
        "extra-fields",
        "error-alone-crlf",
        "subtype",
        "miniapp-error",
        "long-lived",
    ],
)
def test_failure_reported_as_documented_passes(ep: Endpoint, t: Transcript, terminal: str) -> None:
    assert findings(FAILURE, failed(ep, t, terminal), ep) == []


def test_failure_reported_as_success_fails() -> None:
    (found,) = findings(FAILURE, failed(BUILD, build(PLAN, READY), "error"), BUILD)
    assert (found.expected, found.actual) == ("the failure's terminal event, error", "ready")
    ev = failed(MINIAPP, miniapp(mini("result", "success")), "result.error_during_execution")
    (found,) = findings(FAILURE, ev, MINIAPP)
    assert found.actual == "result.success"


def test_failure_without_a_terminal_event_fails() -> None:
    t = build(PLAN, end=End.IDLE_TIMEOUT)
    (found,) = findings(FAILURE, failed(BUILD, t, "error"), BUILD)
    assert found.actual == "no terminal event (idle-timeout)"
    assert (found.offset, found.event_index) == (t.body_bytes, 1)


def test_failure_event_breaking_its_schema_fails() -> None:
    (found,) = findings(FAILURE, failed(MINIAPP, miniapp(mini("error")), "error"), MINIAPP)
    assert found.expected == "the error event valid against its schema"
    assert found.actual == "$: 'timestamp' is a required property"
    bad = failed(BUILD, build(pf("error", message=7)), "error")
    (found,) = findings(FAILURE, bad, BUILD)
    assert found.actual == "$.message: 7 is not of type 'string'"


def test_failure_then_left_open_fails() -> None:
    t = build(PLAN, BOOM, PING, end=End.NOT_CLOSED)
    (found,) = findings(FAILURE, failed(BUILD, t, "error"), BUILD)
    assert (found.expected, found.actual) == (
        "the stream closed after the failure",
        "it ended by not-closed",
    )


def test_failed_run_closing_a_long_lived_stream_fails() -> None:
    t = prism(pe("run_status.error"), end=End.CLOSED)
    (found,) = findings(FAILURE, failed(PRISM, t, "run_status.error"), PRISM)
    assert (found.expected, found.actual) == (
        "the stream open after the failure",
        "it ended by closed",
    )


def test_failure_every_way_wrong_says_each() -> None:
    t = miniapp(mini("result", "success"), mini("error"), end=End.NOT_CLOSED)
    text = said(findings(FAILURE, failed(MINIAPP, t, "error"), MINIAPP))
    assert "the failure's terminal event, error | result.success" in text
    assert "the stream closed after the failure | it ended by not-closed" in text


# -- terminal.stream.max-duration ------------------------------------------------------------


def overrun(t: Transcript) -> Provoked:
    assert scenario_names(MAX_DURATION, WORKFLOW) == ["overrun"]
    return Provoked(primary=replace(t, variant="overrun"))


def text(*pieces: bytes, end: End = End.CLOSED, **kw: Any) -> Transcript:
    return recorded(WORKFLOW, pieces, end=end, **kw)


def test_overrun_stream_ended_by_the_server_passes() -> None:
    assert findings(MAX_DURATION, overrun(text(b"once upon ", b"a time")), WORKFLOW) == []


def test_overrun_stream_still_streaming_fails() -> None:
    t = text(b"and on ", b"and on", end=End.MAX_DURATION, detail="after 0.60 s (scaled 300 s)")
    (found,) = findings(MAX_DURATION, overrun(t), WORKFLOW)
    assert (found.expected, found.actual) == (
        "the server ends the stream within 300 s (scaled)",
        "still streaming after 0.60 s (scaled 300 s)",
    )


@pytest.mark.parametrize("end", [End.IDLE_TIMEOUT, End.READ_ERROR, End.SIZE_LIMIT])
def test_overrun_stream_ended_otherwise_is_untestable(end: End) -> None:
    why = untestable(MAX_DURATION, overrun(text(b"and on", end=end)), WORKFLOW)
    assert why == f"the overrun stream ended by {end.value}"


# -- http.error.documented -------------------------------------------------------------------


def documented(ep: Endpoint, t: Transcript, status: int) -> Provoked:
    name = f"error:{status}"
    assert name in scenario_names(ERRORS, ep)
    return Provoked(primary=replace(t, variant=name), subject=subject_of(ERRORS, ep, name))


@pytest.mark.parametrize(
    ("ep", "status", "body"),
    [
        (PRISM, 401, {"error": "unauthorized"}),
        (PRISM, 403, {"error": "forbidden", "message": "needs deployments:read"}),
        (PRISM, 404, {"error": "not_found", "message": "no such deployment", "id": "d_9"}),
        (MINIAPP, 400, {"error": "bad_request", "message": "prompt is empty"}),
        (MINIAPP, 404, {"error": "anything", "message": "no such deployment"}),
        (WORKFLOW, 402, {"error": "no_credits"}),
        (WORKFLOW, 500, {"error": "execution_failed", "message": "the model crashed"}),
    ],
    ids=["prism-401", "prism-403", "prism-404-extra-field", "mini-400", "mini-404", "402", "500"],
)
def test_documented_error_passes(ep: Endpoint, status: int, body: object) -> None:
    t = answer(
        ep,
        status,
        body,
        content_type="application/json; charset=utf-8",
        headers=[("www-authenticate", "Bearer")] if status == 401 else [],
    )
    assert findings(ERRORS, documented(ep, t, status), ep) == []


def test_documented_error_expected_names_the_case() -> None:
    t = opened_stream(PRISM, pe("token"))
    (found,) = findings(ERRORS, documented(PRISM, t, 404), PRISM)
    assert found.expected == (
        "status 404 (Deployment does not exist) with the documented JSON error body, "
        "before any stream"
    )
    assert found.actual.startswith("status 200, a stream: 'event: token")


@pytest.mark.parametrize(
    ("t", "status", "actual"),
    [
        (answer(PRISM, 500, {"error": "not_found"}), 404, "status 500, an error: "),
        (answer(PRISM, 401, {"error": "forbidden"}), 403, "status 401, an error: "),
        (
            answer(PRISM, 404, {"error": "not_found"}, content_type="text/event-stream"),
            404,
            "an error status with a stream content type text/event-stream",
        ),
        (
            answer(PRISM, 404, b"<h1>Not Found</h1>", content_type="text/html"),
            404,
            "a body that is not JSON: '<h1>Not Found</h1>'",
        ),
        (answer(PRISM, 404, {"code": "not_found"}), 404, "$: 'error' is a required property"),
        (no_answer(PRISM), 403, "no response (response-timeout)"),
    ],
    ids=["5xx", "another-4xx", "stream-type", "html", "schema", "no-answer"],
)
def test_documented_error_answered_otherwise_fails(t: Transcript, status: int, actual: str) -> None:
    found = findings(ERRORS, documented(PRISM, t, status), PRISM)
    assert found
    assert actual in found[0].actual


def test_documented_error_schema_and_code_both_broken_says_both() -> None:
    t = answer(PRISM, 404, {"code": "not_found"})
    text = said(findings(ERRORS, documented(PRISM, t, 404), PRISM))
    assert "$: 'error' is a required property" in text
    assert "error code 'not_found' | error None" in text


def test_documented_error_code_differs_fails() -> None:
    t = answer(PRISM, 404, {"error": "deployment_missing"})
    (found,) = findings(ERRORS, documented(PRISM, t, 404), PRISM)
    assert (found.expected, found.actual) == (
        "error code 'not_found'",
        "error 'deployment_missing'",
    )


def test_documented_error_not_provoked_is_untestable() -> None:
    t = unprepared(WORKFLOW, "error:402", "missing variable no_credit_api_key")
    why = untestable(ERRORS, documented(WORKFLOW, t, 402), WORKFLOW)
    assert why == "the request could not be prepared: missing variable no_credit_api_key"


# -- filter.only-matching --------------------------------------------------------------------


def filtered(t: Transcript, param: str = "run_id") -> Provoked:
    name = f"filter:{param}"
    assert name in scenario_names(FILTER, PRISM)
    return Provoked(primary=replace(t, variant=name), subject=subject_of(FILTER, PRISM, name))


def test_filter_delivering_only_the_run_passes() -> None:
    body = pe("run_status.running", id="e1") + pe("token", id="e2") + PING
    t = prism(*split(body.replace(b"\n", b"\r\n"), 9, 50), pe("run_status.completed"))
    assert len(t.events) == 3
    assert findings(FILTER, filtered(t), PRISM) == []
    assert findings(FILTER, filtered(t, "thread_id"), PRISM) == []


def test_filter_letting_another_run_through_fails() -> None:
    t = prism(pe("token"), pe("token", "r2"), pe("run_status.completed"))
    (found,) = findings(FILTER, filtered(t), PRISM)
    assert (found.expected, found.actual) == ("run_id 'r1' only (run_id filter)", "run_id 'r2'")
    assert (found.offset, found.event_index) == (t.events[1].offset, 1)


def test_filter_letting_an_event_of_no_run_through_fails() -> None:
    t = prism(pe("token"), sse("filesystem", {"path": "/a"}))
    (found,) = findings(FILTER, filtered(t, "thread_id"), PRISM)
    assert (found.expected, found.actual) == ("run_id 'r1' only (thread_id filter)", "run_id None")


def test_filter_untestable_without_capture_or_events() -> None:
    no_capture = prism(pe("token"), captures={})
    assert untestable(FILTER, filtered(no_capture), PRISM) == (
        "the filter's setup did not capture 'run_id'"
    )
    quiet = prism(PING, end=End.IDLE_TIMEOUT)
    assert untestable(FILTER, filtered(quiet, "thread_id"), PRISM) == (
        "no event arrived through the thread_id filter"
    )


# -- Where these checks apply ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("chk", "ep", "reason"),
    [
        (PRESENT, with_rules(BUILD, terminal=()), "the spec declares no terminal events here"),
        (ONCE, WORKFLOW, "applies to ndjson, sse streams; this endpoint streams text"),
        (CLOSES, PRISM, "a long-lived stream is not closed after a run"),
        (STAYS_OPEN, BUILD, "only a long-lived stream stays open after a run"),
        (FAILURE, with_rules(BUILD, failures=()), "the spec documents no mid-stream failure"),
        (MAX_DURATION, BUILD, "the spec gives no way to make this stream overrun"),
        (ERRORS, replace(PRISM, errors=()), "the spec documents no error status"),
        (FILTER, BUILD, "the spec declares no filters for this endpoint"),
    ],
    ids=lambda v: v if isinstance(v, str) and "." in v and " " not in v else None,
)
def test_inapplicable_is_skipped(chk: str, ep: Endpoint, reason: str) -> None:
    result = grade(chk, bundled("promptfloe"), ep, None)
    assert result.outcome is Outcome.SKIP
    assert result.message.startswith(reason)


def test_every_check_of_this_file_is_registered() -> None:
    terminal = {c for c in REGISTRY if c.startswith("terminal.")}
    assert terminal == {PRESENT, ONCE, CLOSES, STAYS_OPEN, FAILURE, MAX_DURATION}
    assert {ERRORS, FILTER} <= set(REGISTRY)


# -- Through the verdict ---------------------------------------------------------------------


def test_verdict_of_a_truncated_stream() -> None:
    t = build(PLAN, FILE)
    result = grade(PRESENT, bundled("promptfloe"), BUILD, t)
    assert result.outcome is Outcome.FAIL
    lines = result.message.splitlines()
    assert (
        lines[0] == "terminal.event.present (MUST): The stream (or run) ends with a terminal event"
    )
    assert lines[1].startswith(f"Requirement: {REGISTRY[PRESENT].requirement}")
    assert lines[2] == "Expected: one of ready, error before the end"
    assert lines[3] == "Actual: the stream ended (closed) after event #1 with no terminal event"
    assert lines[4] == f"Where: event #2, byte {t.body_bytes}"


def test_verdict_of_a_second_terminal_event_points_at_it() -> None:
    t = build(PLAN, READY, READY)
    result = grade(ONCE, bundled("promptfloe"), BUILD, t)
    assert result.outcome is Outcome.FAIL
    assert "Actual: another terminal event, ready, after #1" in result.message
    assert f"Where: event #2, byte {t.events[2].offset}, +0.300 s" in result.message


def test_verdicts_of_provoked_streams() -> None:
    spec = bundled("prism-agents")
    leak = filtered(prism(pe("token"), pe("token", "r2")))
    result = grade(FILTER, spec, PRISM, leak)
    assert result.outcome is Outcome.FAIL
    assert "Expected: run_id 'r1' only (run_id filter)\nActual: run_id 'r2'" in result.message
    stream_for_error = documented(PRISM, opened_stream(PRISM, pe("token")), 403)
    result = grade(ERRORS, spec, PRISM, stream_for_error)
    assert result.outcome is Outcome.FAIL
    assert "Actual: status 200, a stream: " in result.message
    refused = overrun(answer(WORKFLOW, 500, {"error": "boom"}))
    result = grade(MAX_DURATION, bundled("workflow-stream"), WORKFLOW, refused)
    assert (result.outcome, result.message) == (
        Outcome.UNTESTABLE,
        "no stream to judge (status 500)",
    )
    closed = grade(CLOSES, bundled("promptfloe"), BUILD, build(PLAN, READY))
    assert (closed.outcome, closed.message) == (Outcome.PASS, "")
