"""Unit tests of the reconnection checks (resume.*) over hand-built resumed runs: no server.

Every connection of a cut-and-resumed run is recorded from chosen bytes; the evidence is
put together as the resume scenarios do it (the stitched events of the run, the
uninterrupted reader's events as the baseline, the first connection carrying both). Two
resume styles: Prism's long-lived SSE stream multiplexed by run_id, resumed with
Last-Event-ID; PromptFloe's NDJSON build, re-attached on /v1/runs/{run_id}/events with a
cursor, which also documents what comes after its resume window.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    resumed,
    said,
    scenario_names,
    split,
    sse,
    unprepared,
    untestable,
)

from streamconform.checks import REGISTRY
from streamconform.core.evidence import Resumed
from streamconform.core.outcome import Outcome
from streamconform.core.transcript import End, Transcript
from streamconform.model.spec import Endpoint

STITCHED, UNKNOWN = "resume.stitched.complete", "resume.cursor.unknown-refused"
WINDOW, SUBSCRIBERS = "resume.window.expires", "resume.subscribers.agree"

PRISM = endpoint_of("prism-agents", "events")
BUILD = endpoint_of("promptfloe", "build")
RUN_EVENTS = endpoint_of("promptfloe", "run_events")
MINIAPP = endpoint_of("miniapp-studio", "prompt_stream")
R1 = {"run_id": "r1"}
X_RUN = [("content-type", "application/x-ndjson"), ("x-run-id", "run_1")]


# -- Prism: SSE, multiplexed by run_id, Last-Event-ID ----------------------------------------


def pe(id: str, label: str, run: str = "r1", *, crlf: bool = False) -> bytes:
    """One Prism event of a run: `run_status.<status>` or another type, with its SSE id."""
    base, _, status = label.partition(".")
    data: dict[str, Any] = {"run_id": run}
    if status:
        data["status"] = status
    if base == "token":
        data["delta"] = f"text of {id}"
    return sse(base, data, id=id, crlf=crlf)


E1, E2, E3 = pe("e1", "run_status.running"), pe("e2", "token"), pe("e3", "token")
E4 = pe("e4", "run_status.completed")
RUN = (E1, E2, E3, E4)


def leg(*pieces: bytes, end: End = End.CUT, ep: Endpoint = PRISM, **kw: Any) -> Transcript:
    kw.setdefault("captures", R1 if ep is PRISM else {})
    return recorded(ep, pieces, end=end, **kw)


def whole(*pieces: bytes, end: End = End.TERMINAL) -> Transcript:
    """The uninterrupted reader of the run."""
    return leg(*pieces, end=end)


def prism_run(*legs: Transcript, independent: Transcript | None = None, **kw: Any) -> Resumed:
    return resumed(PRISM, legs, independent or whole(*RUN), run="r1", **kw)


# -- PromptFloe: NDJSON, cursor on the re-attach endpoint ------------------------------------

FIELDS: dict[str, dict[str, Any]] = {
    "plan": {"summary": "a pricing page", "manifest": ["index.html"]},
    "file": {"path": "index.html", "contents": "<h1>Pricing</h1>"},
    "review": {"notes": "fine", "patched": []},
    "ready": {"appId": "app_1", "previewUrl": "https://preview.test/app_1"},
    "error": {"message": "boom"},
}


def pf(id: str, type: str, *, crlf: bool = False, **extra: Any) -> bytes:
    return line({"id": id, "type": type, **FIELDS[type], **extra}, crlf=crlf)


B1, B2, B3 = pf("ev1", "plan"), pf("ev2", "file"), pf("ev3", "file", path="app.js")
B4, B5 = pf("ev4", "review"), pf("ev5", "ready")
BUILD_RUN = (B1, B2, B3, B4, B5)


def build_cut(*pieces: bytes) -> Transcript:
    return leg(*pieces, ep=BUILD, headers=X_RUN)


def attach(*pieces: bytes, end: End = End.CLOSED) -> Transcript:
    return leg(*pieces, ep=RUN_EVENTS, end=end)


def build_run(*legs: Transcript, independent: Transcript | None = None) -> Resumed:
    baseline = independent or attach(*BUILD_RUN)
    return resumed(BUILD, legs, baseline, run="run_1", name="resume:first")


# -- resume.stitched.complete: passes --------------------------------------------------------


def test_stitched_judges_every_cut_and_each_filter() -> None:
    assert scenario_names(STITCHED, PRISM) == [
        "resume:first",
        "resume:middle",
        "resume:before-terminal",
        "resume:after-terminal",
        "resume:mid-event",
        "resume:repeated",
        "resume:filter:thread_id",
        "resume:filter:run_id",
    ]
    assert "resume:filter:thread_id" not in scenario_names(STITCHED, BUILD)  # by cursor


def test_resumed_run_equal_to_the_uninterrupted_one_passes() -> None:
    ev = prism_run(leg(E1, E2), leg(E3, E4, end=End.TERMINAL))
    assert findings(STITCHED, ev, PRISM) == []


def test_cut_inside_an_event_passes() -> None:
    """The half-received event is not dispatched, so resuming from the last id gets it whole."""
    ev = prism_run(leg(E1, E2[:17]), leg(E2, E3, E4, end=End.TERMINAL))
    assert len(ev.legs[0].events) == 1
    assert findings(STITCHED, ev, PRISM) == []


def test_crlf_events_cut_across_chunks_with_heartbeats_passes() -> None:
    body = pe("e1", "run_status.running", crlf=True) + pe("e2", "token", crlf=True)
    rest = b": keep-alive\r\n\r\n" + pe("e3", "token", crlf=True) + pe("e4", "run_status.completed")
    first = leg(*split(body, 5, 30, 41))
    ev = prism_run(first, leg(*split(rest, 3, 20), end=End.TERMINAL))
    assert [e.id for e in ev.stitched] == ["e1", "e2", "e3", "e4"]
    assert findings(STITCHED, ev, PRISM) == []


def test_other_runs_on_the_multiplexed_stream_are_left_out_passes() -> None:
    """Without a filter every connection sees the deployment's other runs: not this run's."""
    r2 = pe("f1", "token", "r2")
    baseline = whole(E1, r2, E2, E3, pe("f2", "run_status.completed", "r2"), E4)
    first, rest = leg(E1, r2, E2), leg(pe("f3", "token", "r2"), E3, E4, end=End.TERMINAL)
    ev = prism_run(first, rest, independent=baseline)
    assert [e.id for e in ev.stitched] == ["e1", "e2", "e3", "e4"]
    assert findings(STITCHED, ev, PRISM) == []


def test_cut_three_times_passes() -> None:
    legs = (leg(E1), leg(E2), leg(E3), leg(E4, end=End.TERMINAL))
    assert findings(STITCHED, prism_run(*legs), PRISM) == []


def test_resumed_after_the_terminal_event_with_nothing_more_passes() -> None:
    ev = prism_run(leg(*RUN, end=End.TERMINAL), leg(b": ping\n\n", end=End.CUT))
    assert findings(STITCHED, ev, PRISM) == []


@pytest.mark.parametrize(
    ("first", "baseline"),
    [((E1, E2), (E2, E3, E4)), ((E2,), RUN)],
    ids=["reader-joined-late", "cut-connection-joined-late"],
)
def test_readers_joining_a_live_run_a_moment_apart_pass(
    first: Sequence[bytes], baseline: Sequence[bytes]
) -> None:
    ev = prism_run(leg(*first), leg(E3, E4, end=End.TERMINAL), independent=whole(*baseline))
    assert findings(STITCHED, ev, PRISM) == []


def test_uninterrupted_reader_stopped_early_is_judged_up_to_its_last_event() -> None:
    """What came after the reader's last event cannot be told from events never sent."""
    baseline = whole(E1, E2, E3, end=End.MAX_DURATION)
    ev = prism_run(leg(E1, E2), leg(E3, E4, end=End.TERMINAL), independent=baseline)
    assert findings(STITCHED, ev, PRISM) == []


def test_cursor_resume_on_the_attach_endpoint_passes() -> None:
    body = b"".join(pf(f"ev{i}", t, crlf=True) for i, t in [(3, "file"), (4, "review")])
    ev = build_run(build_cut(B1, B2[:9]), attach(*split(B2 + body + B5, 9, 40)))
    assert [e.payload["id"] for e in ev.stitched] == ["ev1", "ev2", "ev3", "ev4", "ev5"]
    baseline = attach(B1, B2, pf("ev3", "file"), B4, B5)
    assert findings(STITCHED, replace(ev, independent=baseline.events), BUILD) == []


def test_a_filtered_resume_passes() -> None:
    ev = prism_run(leg(E1, E2), leg(E3, E4, end=End.TERMINAL), every_event=True)
    assert findings(STITCHED, ev, PRISM) == []


# -- resume.stitched.complete: fails ---------------------------------------------------------


def test_an_event_lost_over_the_resume_fails() -> None:
    (found,) = findings(STITCHED, prism_run(leg(E1, E2), leg(E4, end=End.TERMINAL)), PRISM)
    assert (found.expected, found.actual) == (
        "every event of the run",
        "1 missing after the resume, first id 'e3'",
    )


def test_the_last_event_id_replayed_fails() -> None:
    ev = prism_run(leg(E1, E2), leg(E2, E3, E4, end=End.TERMINAL))
    (found,) = findings(STITCHED, ev, PRISM)
    assert (found.expected, found.actual) == ("each event once", "token id 'e2' came twice")


def test_resume_replaying_the_run_from_its_start_fails() -> None:
    ev = prism_run(leg(E1, E2), leg(*RUN, end=End.TERMINAL))
    text = said(findings(STITCHED, ev, PRISM))
    assert "each event once | run_status.running id 'e1' came twice" in text
    assert "each event once | token id 'e2' came twice" in text


def test_an_event_the_run_never_sent_fails() -> None:
    ev = prism_run(leg(E1, E2), leg(E3, pe("e9", "token"), E4, end=End.TERMINAL))
    (found,) = findings(STITCHED, ev, PRISM)
    assert (found.expected, found.actual) == (
        "only the run's own events",
        "1 events the run never sent, first id 'e9'",
    )


def test_another_runs_events_through_the_filter_fails() -> None:
    ev = prism_run(
        leg(E1, E2), leg(E3, pe("f1", "token", "r2"), E4, end=End.TERMINAL), every_event=True
    )
    (found,) = findings(STITCHED, ev, PRISM)
    assert (found.expected, found.actual) == (
        "only the run's own events",
        "1 events of other runs, first id 'f1'",
    )


def test_events_in_another_order_fail() -> None:
    ev = build_run(build_cut(B1), attach(B3, B2, B4, B5))
    (found,) = findings(STITCHED, ev, BUILD)
    assert (found.expected, found.actual) == (
        "the run's order",
        "the resumed events came in another order",
    )


def test_an_order_the_grammar_forbids_fails() -> None:
    """Even when the uninterrupted reader saw the same: a token after the run completed."""
    run = (E1, E2, pe("e3", "run_status.completed"), pe("e4", "token"))
    ev = prism_run(leg(*run[:2]), leg(*run[2:], end=End.TERMINAL), independent=whole(*run))
    (found,) = findings(STITCHED, ev, PRISM)
    assert (found.expected, found.actual) == (
        "an order the grammar allows",
        "token where the run could not go on",
    )


def test_a_cursor_resume_is_judged_from_the_run_start() -> None:
    """Not a fragment: the build that was cut started the run, so it must begin with plan."""
    run = (pf("ev1", "file"), B4, B5)
    ev = build_run(build_cut(run[0]), attach(*run[1:]), independent=attach(*run))
    (found,) = findings(STITCHED, ev, BUILD)
    assert found.actual == "file where the run could not go on"


def test_the_terminal_event_sent_again_after_a_resume_fails() -> None:
    ev = prism_run(leg(*RUN, end=End.TERMINAL), leg(E4, end=End.TERMINAL), name="after-terminal")
    text = said(findings(STITCHED, ev, PRISM))
    assert "each event once | run_status.completed id 'e4' came twice" in text
    assert "exactly one terminal event | 2 terminal events" in text


def test_no_terminal_event_after_the_resume_fails() -> None:
    ev = prism_run(leg(E1, E2), leg(E3, end=End.IDLE_TIMEOUT))
    text = said(findings(STITCHED, ev, PRISM))
    assert "every event of the run | 1 missing after the resume, first id 'e4'" in text
    assert "exactly one terminal event | 0 terminal events" in text


@pytest.mark.parametrize(
    ("failing", "actual"),
    [
        (answer(PRISM, 500, {"error": "boom"}), "connection 2 answered status 500"),
        (
            answer(PRISM, 400, {"error": "invalid_last_event_id"}),
            "connection 2 answered status 400",
        ),
        (
            no_answer(PRISM, detail="no complete answer within 30.0 s"),
            "connection 2: no answer (response-timeout: no complete answer within 30.0 s)",
        ),
    ],
    ids=["5xx", "refused", "no-answer"],
)
def test_a_resume_that_gets_no_stream_fails(failing: Transcript, actual: str) -> None:
    (found,) = findings(STITCHED, prism_run(leg(E1, E2), failing), PRISM)
    assert found.actual == actual
    assert found.expected in ("the rest of the run", "an answer to the resume")


def test_a_resume_answered_after_the_window_cannot_hold_the_server_to_it() -> None:
    """From the request of the connection before, the resume was answered later than the
    run is kept alive (this process read slowly, or was held up before reconnecting): the
    server may have sent it all and started its window long before the cut, so its 404 is
    its right, not its failure; in time, it fails."""
    gone = answer(RUN_EVENTS, 404, {"error": "run_not_found", "message": "gone"})
    held_up = replace(build_run(build_cut(B1), gone), reconnected_after=(2.1,), kept_alive=1.5)
    assert untestable(STITCHED, held_up, BUILD) == (
        "connection 2 was answered 2.10 s after connection 1 was opened, later than the "
        "1.50 s the run is kept alive after what it sent (this process read or reconnected "
        "late)"
    )
    in_time = replace(held_up, reconnected_after=(0.2,))
    (found,) = findings(STITCHED, in_time, BUILD)
    assert found.actual == "connection 2 answered status 404"


def test_a_later_resume_of_several_failing_names_its_connection() -> None:
    ev = prism_run(leg(E1), leg(E2), answer(PRISM, 503, b"busy", content_type="text/plain"))
    (found,) = findings(STITCHED, ev, PRISM)
    assert found.actual == "connection 3 answered status 503"


@pytest.mark.xfail(
    strict=True,
    reason="the missing events are found, then discarded by the Untestable raised because "
    "the uninterrupted reader stopped before the run ended",
)
def test_resume_closed_by_the_server_without_the_rest_fails() -> None:
    """The re-attached connection is closed with nothing, while the replay from the start
    shows two more events of the run (the replay itself stopped at a capture bound): the
    resumed client lost events the run did send."""
    baseline = attach(B1, B2, B3, B4, end=End.MAX_DURATION)
    ev = build_run(build_cut(B1, B2), attach(end=End.CLOSED), independent=baseline)
    result = grade(STITCHED, bundled("promptfloe"), BUILD, ev)
    assert result.outcome is Outcome.FAIL, result.message
    assert "2 missing after the resume, first id 'ev3'" in result.message


# -- resume.stitched.complete: untestable ----------------------------------------------------


def test_stitched_not_played_is_untestable() -> None:
    ev = Resumed(primary=unprepared(PRISM, "resume:first", "flow start_run: status 500"))
    assert untestable(STITCHED, ev, PRISM) == (
        "no connection was made (setup-failed: flow start_run: status 500)"
    )
    waited = replace(ev, not_waited="the resume window is too long to wait")
    assert untestable(STITCHED, waited, PRISM) == "the resume window is too long to wait"


def test_run_ended_before_the_planned_cut_is_untestable() -> None:
    ev = prism_run(leg(E1, end=End.IDLE_TIMEOUT))
    assert untestable(STITCHED, ev, PRISM) == "the run ended before the planned cut (idle-timeout)"


def test_both_readers_stopped_by_a_bound_is_untestable() -> None:
    baseline = whole(E1, E2, E3, end=End.MAX_DURATION)
    ev = prism_run(leg(E1, E2), leg(end=End.MAX_DURATION), independent=baseline)
    assert untestable(STITCHED, ev, PRISM) == (
        "the uninterrupted reader stopped before the run ended"
    )


def test_an_uninterrupted_reader_that_got_nothing_is_untestable() -> None:
    """The run was gone by the time the reader asked for it (its keep-alive window, on a
    loaded machine): the resumed events have nothing to be compared with, and are not
    events the run never sent."""
    ev = build_run(build_cut(B1), attach(B2, B3, B4, B5), independent=attach(end=End.CLOSED))
    assert untestable(STITCHED, ev, BUILD) == "the uninterrupted reader got no event of the run"


def test_a_repeat_fails_even_when_the_uninterrupted_reader_got_nothing() -> None:
    ev = build_run(build_cut(B1, B2), attach(B2, B3, B4, B5), independent=attach(end=End.CLOSED))
    assert said(findings(STITCHED, ev, BUILD)) == "each event once | file id 'ev2' came twice"


# -- resume.cursor.unknown-refused -----------------------------------------------------------

INVALID_ID = {"error": "invalid_last_event_id", "message": "no such event"}


def test_bad_cursors_are_an_unknown_id_and_a_malformed_one() -> None:
    assert scenario_names(UNKNOWN, PRISM) == ["cursor:never-issued", "cursor:malformed"]


@pytest.mark.parametrize("name", ["cursor:never-issued", "cursor:malformed"])
def test_documented_answer_to_a_bad_cursor_passes(name: str) -> None:
    t = answer(PRISM, 400, INVALID_ID, content_type="application/json; charset=utf-8")
    assert findings(UNKNOWN, replace(t, variant=name), PRISM) == []
    t = answer(RUN_EVENTS, 400, {"error": "invalid_cursor", "message": "?", "cursor": "x"})
    assert findings(UNKNOWN, replace(t, variant=name), BUILD) == []


def test_a_stream_for_a_bad_cursor_fails() -> None:
    t = recorded(PRISM, (E1, E2), end=End.CUT, variant="cursor:never-issued")
    (found,) = findings(UNKNOWN, t, PRISM)
    assert (found.expected, found.actual) == (
        "status 400",
        "a stream with 2 events for that cursor",
    )
    empty = opened_stream(PRISM, variant="cursor:malformed")
    (found,) = findings(UNKNOWN, empty, PRISM)
    assert found.actual == "a stream with 0 events for that cursor"


@pytest.mark.parametrize("status", [404, 410, 422, 500])
def test_another_status_for_a_bad_cursor_fails(status: int) -> None:
    t = answer(PRISM, status, INVALID_ID, variant="cursor:never-issued")
    (found,) = findings(UNKNOWN, t, PRISM)
    assert (found.expected, found.actual) == ("status 400", f"status {status}")


def bad_cursor_resumed(t: Transcript, gap: float) -> Resumed:
    """A bad cursor sent to a run kept alive, as the scenario hands it over by cursor."""
    return Resumed(
        primary=t, legs=(build_cut(B1), t), run="run_1", reconnected_after=(gap,), kept_alive=1.5
    )


def test_a_bad_cursor_answered_after_the_window_may_find_the_run_gone() -> None:
    gone = answer(RUN_EVENTS, 404, {"error": "run_not_found", "message": "gone"})
    assert untestable(UNKNOWN, bad_cursor_resumed(gone, 1.9), BUILD).startswith(
        "connection 2 was answered 1.90 s after connection 1 was opened"
    )
    (found,) = findings(UNKNOWN, bad_cursor_resumed(gone, 0.1), BUILD)
    assert (found.expected, found.actual) == ("status 400", "status 404")
    broken = answer(RUN_EVENTS, 500, {"error": "boom", "message": "?"})
    (found,) = findings(UNKNOWN, bad_cursor_resumed(broken, 1.9), BUILD)
    assert found.actual == "status 500"


def test_no_answer_to_a_bad_cursor_fails() -> None:
    t = no_answer(RUN_EVENTS, end=End.READ_ERROR, detail="connection reset")
    (found,) = findings(UNKNOWN, t, BUILD)
    assert found.actual == "no answer (read-error: connection reset)"


def undocumented() -> Endpoint:
    """Prism with no documented answer to a bad cursor: any 4xx will do."""
    assert PRISM.events is not None and PRISM.events.resume is not None
    resume = replace(PRISM.events.resume, invalid=None)
    return replace(PRISM, events=replace(PRISM.events, resume=resume))


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_undocumented_answer_any_4xx_passes(status: int) -> None:
    t = answer(PRISM, status, b"no", content_type="text/plain", variant="cursor:malformed")
    assert findings(UNKNOWN, t, undocumented()) == []


@pytest.mark.parametrize("status", [302, 500, 502])
def test_undocumented_answer_otherwise_fails(status: int) -> None:
    t = answer(PRISM, status, b"", variant="cursor:malformed")
    (found,) = findings(UNKNOWN, t, undocumented())
    assert (found.expected, found.actual) == ("a 4xx error", f"status {status}")


def test_bad_cursor_not_sent_is_untestable() -> None:
    t = unprepared(BUILD, "cursor:never-issued", "no x-run-id header to resume by")
    assert untestable(UNKNOWN, t, BUILD) == "no x-run-id header to resume by"


@pytest.mark.xfail(
    strict=True,
    reason="only the status is compared: the documented error code (invalid_last_event_id) "
    "is not, so any 400 body passes",
)
def test_a_400_naming_another_error_than_documented_fails() -> None:
    t = answer(PRISM, 400, {"error": "server_exploded"}, variant="cursor:never-issued")
    assert findings(UNKNOWN, t, PRISM) != []


# -- resume.window.expires -------------------------------------------------------------------


def late(t: Transcript, **kw: Any) -> Resumed:
    """A run dropped after its first event, resumed once the window has passed."""
    return Resumed(primary=t, legs=(build_cut(B1), t), run="run_1", **kw)


def test_documented_answer_after_the_window_passes() -> None:
    t = answer(RUN_EVENTS, 404, {"error": "run_not_found", "message": "gone", "run": "run_1"})
    assert findings(WINDOW, late(t), BUILD) == []


@pytest.mark.parametrize(
    ("t", "actual"),
    [
        (attach(B2, B3, B4, B5), "status 200"),
        (answer(RUN_EVENTS, 400, {"error": "invalid_cursor", "message": "?"}), "status 400"),
        (answer(RUN_EVENTS, 410, {"error": "run_not_found", "message": "gone"}), "status 410"),
        (no_answer(RUN_EVENTS), "no answer (response-timeout)"),
    ],
    ids=["resumed-anyway", "cursor-error", "410", "no-answer"],
)
def test_anything_else_after_the_window_fails(t: Transcript, actual: str) -> None:
    (found,) = findings(WINDOW, late(t), BUILD)
    assert (found.expected, found.actual) == ("status 404 once the window has passed", actual)


def test_a_stream_after_the_window_says_how_long_after_the_disconnect_it_was_asked() -> None:
    cut = build_cut(B1)  # the gap counts from its request; the message, from its end
    ev = Resumed(
        primary=(t := attach(B2, B3, B4, B5)),
        legs=(cut, t),
        run="run_1",
        reconnected_after=(cut.duration + 4.0,),
        kept_alive=2.0,
    )
    (found,) = findings(WINDOW, ev, BUILD)
    assert found.actual == (
        "status 200, 4.00 s after the connection before it ended (the run is kept alive 2.00 s)"
    )


def test_window_not_waited_or_not_played_is_untestable() -> None:
    reason = "waiting out a 300 s resume window is not done on this target"
    skipped = Resumed(primary=unprepared(BUILD, "resume:after-window", "not waited"))
    assert untestable(WINDOW, replace(skipped, not_waited=reason), BUILD) == reason
    no_header = Resumed(primary=unprepared(BUILD, "resume:after-window", "no x-run-id header"))
    assert untestable(WINDOW, no_header, BUILD) == "no x-run-id header"


def test_window_is_skipped_without_a_documented_window() -> None:
    result = grade(WINDOW, bundled("prism-agents"), PRISM, None)
    assert result.outcome is Outcome.SKIP
    assert result.message == (
        "the spec declares no resume window with a documented answer after it"
    )


# -- resume.subscribers.agree ----------------------------------------------------------------


def two(a: Transcript, b: Transcript, ep: Endpoint = PRISM, run: str = "r1") -> Resumed:
    """Two subscribers of one run, as the scenario keeps them: each one's events of the run."""
    rules = ep.events
    assert rules is not None

    def own(t: Transcript) -> tuple[Any, ...]:
        return tuple(e for e in t.events if not rules.key_field or rules.run_of(e) == run)

    return Resumed(
        primary=replace(a, events=own(a), variant="subscribers:two"),
        legs=(a, b),
        stitched=own(a),
        independent=own(b),
        run=run,
    )


def test_subscribers_with_the_same_events_pass() -> None:
    r2 = pe("f1", "token", "r2")
    a = whole(E1, r2, E2, E3, E4)
    b = whole(*split(b"".join((E1, E2, r2, E3, E4)), 7, 90))
    assert findings(SUBSCRIBERS, two(a, b), PRISM) == []


@pytest.mark.parametrize("late", ["a", "b"])
def test_a_subscriber_joining_a_moment_later_passes(late: str) -> None:
    full, joined = whole(*RUN), whole(E2, E3, E4)
    a, b = (joined, full) if late == "a" else (full, joined)
    assert findings(SUBSCRIBERS, two(a, b), PRISM) == []


def test_subscribers_of_a_cursor_run_pass() -> None:
    a, b = attach(*BUILD_RUN), attach(*split(b"".join(BUILD_RUN), 50))
    assert findings(SUBSCRIBERS, two(a, b, BUILD, "run_1"), BUILD) == []


def test_subscribers_with_another_id_fail() -> None:
    a, b = whole(E1, pe("x2", "token"), E3, E4), whole(*RUN)
    (found,) = findings(SUBSCRIBERS, two(a, b), PRISM)
    assert (found.expected, found.actual) == (
        "event 1 the same for both: id 'e2'",
        "one subscriber got id 'x2', the other 'e2'",
    )


def test_subscribers_with_other_data_under_one_id_fail() -> None:
    other = sse("token", {"run_id": "r1", "delta": "something else"}, id="e2")
    (found,) = findings(SUBSCRIBERS, two(whole(E1, other, E3, E4), whole(*RUN)), PRISM)
    assert found.expected == "event 1 the same for both: id 'e2'"
    assert found.actual == "one subscriber got id 'e2', the other 'e2'"


def test_subscribers_in_another_order_fail() -> None:
    (found,) = findings(SUBSCRIBERS, two(whole(E1, E3, E2, E4), whole(*RUN)), PRISM)
    assert found.actual == "one subscriber got id 'e3', the other 'e2'"


def test_a_subscriber_missing_the_end_fails() -> None:
    (found,) = findings(SUBSCRIBERS, two(whole(*RUN), whole(E1, E2, E3)), PRISM)
    assert (found.expected, found.actual) == ("as many events for both", "4 against 3")


def test_subscribers_not_opened_or_empty_are_untestable() -> None:
    failed = Resumed(primary=unprepared(PRISM, "subscribers:two", "flow start_run: status 500"))
    assert untestable(SUBSCRIBERS, failed, PRISM) == (
        "two subscribers could not be opened (setup-failed: flow start_run: status 500)"
    )
    quiet = two(whole(E1, E2), whole(b": ping\n\n", end=End.IDLE_TIMEOUT))
    assert untestable(SUBSCRIBERS, quiet, PRISM) == "a subscriber received none of the run's events"


@pytest.mark.xfail(
    strict=True,
    reason="a second subscriber refused (here 409) is taken for one that got no events: "
    "untestable, though the rule (two clients at once get the same events) is broken",
)
def test_a_second_subscriber_refused_fails() -> None:
    refused = answer(PRISM, 409, {"error": "already_subscribed"})
    result = grade(SUBSCRIBERS, bundled("prism-agents"), PRISM, two(whole(*RUN), refused))
    assert result.outcome is Outcome.FAIL, result.message


# -- Where the resume checks apply -----------------------------------------------------------

RESUME_CHECKS = sorted(c.id for c in REGISTRY.values() if c.id.startswith("resume."))


def test_every_resume_check_is_covered_here() -> None:
    assert set(RESUME_CHECKS) == {STITCHED, UNKNOWN, WINDOW, SUBSCRIBERS}


@pytest.mark.parametrize("chk", RESUME_CHECKS)
def test_a_stream_that_cannot_be_resumed_is_skipped(chk: str) -> None:
    result = grade(chk, bundled("miniapp-studio"), MINIAPP, None)
    assert result.outcome is Outcome.SKIP
    assert result.message in (
        "the spec declares no way to resume this stream",
        "the spec declares no resume window with a documented answer after it",
    )


# -- Through the verdict ---------------------------------------------------------------------


def test_verdict_of_a_resume_that_lost_an_event() -> None:
    ev = prism_run(leg(E1, E2), leg(E4, end=End.TERMINAL))
    result = grade(STITCHED, bundled("prism-agents"), PRISM, ev)
    assert result.outcome is Outcome.FAIL
    lines = result.message.splitlines()
    assert lines[0] == (
        "resume.stitched.complete (MUST): A resumed run misses nothing and repeats nothing"
    )
    assert lines[1].startswith(f"Requirement: {REGISTRY[STITCHED].requirement}")
    assert lines[2] == "Expected: every event of the run"
    assert lines[3] == "Actual: 1 missing after the resume, first id 'e3'"
    assert lines[4] == "Where: response head"


def test_verdicts_of_the_other_resume_checks() -> None:
    spec, floe = bundled("prism-agents"), bundled("promptfloe")
    gone = late(answer(RUN_EVENTS, 200, b""))
    window = grade(WINDOW, floe, BUILD, gone)
    assert window.outcome is Outcome.FAIL
    assert "Expected: status 404 once the window has passed\nActual: status 200" in window.message
    ok = grade(UNKNOWN, spec, PRISM, answer(PRISM, 400, INVALID_ID, variant="cursor:malformed"))
    assert (ok.outcome, ok.message) == (Outcome.PASS, "")
    refused_first = prism_run(answer(PRISM, 401, {"error": "unauthorized"}))
    unjudged = grade(STITCHED, spec, PRISM, refused_first)
    assert unjudged.outcome is Outcome.UNTESTABLE
    assert unjudged.message == "no stream to judge (status 401)"
