"""Reports carry the evidence that was judged: the request, every connection of a resumed
run, every request of a token trial, every generated request; redacted, and bounded."""

from __future__ import annotations

import dataclasses

from one_endpoint import spec_of

import streamconform.checks  # noqa: F401  (registers every check)
from streamconform.checks.registry import REGISTRY
from streamconform.core.evidence import BadInput, Probe, Resumed, TokenTrial
from streamconform.core.outcome import Outcome
from streamconform.core.redact import Redactor
from streamconform.core.transcript import Chunk, End, RequestRecord, Transcript
from streamconform.engine.verdict import judge
from streamconform.model import load_spec
from streamconform.report.evidence import attachments, evidence_lines
from streamconform.resources import bundled_dir

SECRET = "sk-live-0123456789abcdef"
URL = "http://127.0.0.1:9/v1/events"


def leg(status: int | None, end: End, headers: tuple[tuple[str, str], ...] = ()) -> Transcript:
    return Transcript(
        "s",
        "events",
        "sse",
        RequestRecord("GET", URL, (("authorization", f"Bearer {SECRET}"), *headers)),
        status=status,
        end=end,
        end_detail="after 3 events" if end is End.CUT else "",
    )


def test_a_resumed_run_lists_every_connection_with_its_last_event_id() -> None:
    first = leg(200, End.CUT)
    second = leg(200, End.CLOSED, (("last-event-id", "evt_0003"),))
    evidence = Resumed(primary=first, legs=(first, second), independent=())
    lines = evidence_lines(evidence, Redactor([SECRET]))
    assert lines[0] == f"Request: GET {URL}"
    assert lines[1] == "Connections (request -> answer):"
    assert lines[2] == f"  1. GET {URL} -> 200, 0 events, ended by cut after 3 events"
    assert lines[3] == f"  2. GET {URL} (last-event-id: evt_0003) -> 200, 0 events, ended by closed"
    assert lines[4] == "Read without interruption: 0 events of the run"
    assert not any(SECRET in line for line in lines)


def test_a_race_lists_its_first_requests_and_sums_up_the_rest() -> None:
    legs = tuple(leg(200 if i == 0 else 401, End.NOT_A_STREAM) for i in range(30))
    lines = evidence_lines(TokenTrial(primary=legs[0], legs=legs, race=30), Redactor())
    assert lines[1] == "Requests with the token (request -> answer):"
    assert len([line for line in lines if line.startswith("  ") and ". GET" in line]) == 12
    assert lines[-1] == "  … and 18 more: 401, ended by not-a-stream"


def test_a_request_never_sent_says_why() -> None:
    failed = Transcript.unprepared("s", "events", "sse", "resume:first", "flow start failed")
    assert evidence_lines(failed, Redactor()) == ["Request: (not sent: flow start failed)"]


def test_every_connection_and_every_generated_request_is_attached_redacted() -> None:
    first, second = leg(200, End.CUT), leg(401, End.NOT_A_STREAM)
    resumed = attachments("resume:first", Resumed(primary=first, legs=(first, second)), Redactor())
    assert [title for title, _ in resumed] == [
        "wire transcript (resume:first), connection 1 of 2",
        "wire transcript (resume:first), connection 2 of 2",
    ]
    probe = Probe("negative", f"curl -H 'x-api-key: {SECRET}' {URL}", 500, "text/plain", "boom")
    bad = BadInput(primary=Transcript("s", "events", "", RequestRecord("", "")), probes=(probe,))
    (generated, wire) = attachments("input:negative", bad, Redactor([SECRET]))
    assert generated[0] == "generated requests (input:negative)"
    assert "-> 500 text/plain boom" in generated[1] and SECRET not in generated[1]
    assert wire[0] == "wire transcript (input:negative)"
    plain = attachments("", leg(200, End.CLOSED), Redactor([SECRET]))
    assert [title for title, _ in plain] == ["wire transcript"]
    assert SECRET not in plain[0][1]


def test_a_failure_message_names_the_request_that_was_wrongly_answered() -> None:
    """A key probe answered with a stream: the message shows that request, key hidden."""
    spec = load_spec(bundled_dir("specs") / "prism-agents.yaml")
    endpoint = spec.endpoints["events"]
    accepted = Transcript(
        spec.name,
        "events",
        "sse",
        RequestRecord("GET", URL, (("authorization", f"Bearer {SECRET}"),)),
        status=200,
        headers=(("content-type", "text/event-stream"),),
        end=End.CUT,
        variant="key:missing",
    )
    result = judge(
        REGISTRY["auth.key.missing"],
        spec_of(endpoint),
        endpoint,
        accepted,
        target="t",
        strict=False,
        redactor=Redactor([SECRET]),
    )
    assert result.outcome is Outcome.FAIL
    assert f"\nRequest: GET {URL}\n" in result.message + "\n"
    assert SECRET not in result.message


def test_a_secret_cut_where_reading_stopped_is_masked_as_far_as_it_came() -> None:
    """An accepted stream read for its first bytes only stops inside an echoed key: the
    part that arrived cannot be recognised as the key, and is masked all the same."""
    body = b"token " + SECRET[:9].encode()
    cut = Transcript(
        "s",
        "events",
        "sse",
        RequestRecord("GET", URL),
        status=200,
        chunks=(Chunk(0.01, 0, body),),
        body_bytes=len(body),
        end=End.CUT,
    )
    redactor = Redactor([SECRET])
    ((_, shown),) = attachments("", cut, redactor)
    assert "token *********" in shown and SECRET[:9] not in shown
    # a body the server ended is shown as it is: only whole secrets are hidden there
    closed = dataclasses.replace(cut, chunks=(Chunk(0.01, 0, b"token sk-"),), body_bytes=9)
    ((_, whole),) = attachments("", dataclasses.replace(closed, end=End.CLOSED), redactor)
    assert "token sk-" in whole
