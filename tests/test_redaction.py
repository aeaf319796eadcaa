"""No secret shows, not even in part, in anything streamconform writes.

Text is redacted whole before it is cut (into chunks, windows, lines, clipped findings
or probe bodies), and secrets are recognised in the encoded forms they take in URLs,
form bodies and JSON. Each test puts a secret across one such cut, or in one such form,
and looks for any six characters of it in the output.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterable
from urllib.parse import quote, quote_plus

import httpx
import pytest
from one_endpoint import spec_of

import streamconform.checks  # noqa: F401  (registers every check)
from streamconform.capture.recorder import Recorder
from streamconform.checks.registry import REGISTRY, Check, Finding
from streamconform.core.evidence import BadInput, Probe
from streamconform.core.outcome import Outcome
from streamconform.core.redact import Redactor
from streamconform.core.transcript import Chunk, RequestRecord, Transcript
from streamconform.engine.verdict import judge
from streamconform.model.spec import Endpoint, EventsSpec, EventType, Framing, Level
from streamconform.report.wire import excerpt, render_transcript
from streamconform.scenarios.input import _send

SECRET = "sk-test+SeCrEt/abc=xyz"
FRAGMENT = 6


def assert_hidden(text: str, secret: str, *kept: str) -> None:
    """No run of FRAGMENT characters of the secret is in the text; the rest of it is."""
    pieces = {secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}
    leaked = sorted(p for p in pieces if p in text)
    assert not leaked, f"{leaked} of the secret shown in:\n{text}"
    for word in kept:
        assert word in text, f"{word!r} missing from:\n{text}"


def transcript(*pieces: bytes, status: int = 200) -> Transcript:
    """A capture whose body arrived in these pieces, one read each."""
    chunks, offset = [], 0
    for n, piece in enumerate(pieces):
        chunks.append(Chunk(0.1 * (n + 1), offset, piece))
        offset += len(piece)
    return Transcript(
        spec="s",
        endpoint="ep",
        framing="sse",
        request=RequestRecord("GET", "http://target/x"),
        status=status,
        http_version="HTTP/1.1",
        headers=(("content-type", "text/event-stream"),),
        chunks=tuple(chunks),
        body_bytes=offset,
    )


# -- The Redactor -----------------------------------------------------------------------------


def test_a_percent_encoded_secret_is_redacted() -> None:
    r = Redactor([SECRET])
    encoded = quote(SECRET, safe="")
    lower_hex = re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), encoded)
    for form in (encoded, quote(SECRET), lower_hex):
        assert form != SECRET
        shown = r.text(f"GET /x?q=1&next={form} HTTP/1.1")
        assert_hidden(shown, form, "GET /x?q=1&next=[REDACTED] HTTP/1.1")


def test_a_plus_encoded_secret_is_redacted() -> None:
    secret = "sk-test SeCrEt/abc=xyz"  # a space: form encoding writes it as +
    form = quote_plus(secret)
    assert form not in (secret, quote(secret, safe=""))
    shown = Redactor([secret]).text(f"body: user=me&pass={form}&x=1")
    assert_hidden(shown, form, "body: user=me&pass=[REDACTED]&x=1")


@pytest.mark.parametrize("secret", ['sk-"quoted"\\key', "sk-clé-ünïcode-42"])
def test_a_json_escaped_secret_is_redacted(secret: str) -> None:
    form = json.dumps(secret)[1:-1]
    assert form != secret
    shown = Redactor([secret]).text(json.dumps({"echo": secret, "n": 1}))
    assert_hidden(shown, form, '{"echo": "[REDACTED]", "n": 1}')


def test_token_parameters_are_redacted_by_name() -> None:
    r = Redactor()
    for name in ("token", "api_key", "apikey", "key", "access_token", "KEY"):  # as before
        assert r.text(f"/x?{name}=abc123def&y=1") == f"/x?{name}=[REDACTED]&y=1"
    for name in ("x-api-key", "api-key", "access-token", "auth", "auth_token", "Authorization"):
        assert r.text(f"/x?y=1&{name}=abc123def#f") == f"/x?y=1&{name}=[REDACTED]#f"
    assert r.text("/x?keyword=abc123def&author=me") == "/x?keyword=abc123def&author=me"


def test_mask_keeps_lengths_and_offsets() -> None:
    r = Redactor([SECRET])
    encoded = quote(SECRET, safe="").encode()
    data = b"head " + SECRET.encode() + b" mid \xff\x00 " + encoded + b" ?token=tok123 tail"
    masked = r.mask(data)
    assert len(masked) == len(data)
    hidden = set()
    for needle in (SECRET.encode(), encoded, b"tok123"):
        at = data.index(needle)
        assert masked[at : at + len(needle)] == b"*" * len(needle)
        hidden |= set(range(at, at + len(needle)))
    assert all(masked[i] == data[i] for i in range(len(data)) if i not in hidden)
    assert_hidden(masked.decode("utf-8", "replace"), SECRET, "head ", " mid ", "?token=", " tail")
    assert_hidden(masked.decode("utf-8", "replace"), encoded.decode())
    assert r.longest_secret == len(encoded)


def test_mask_hides_overlapping_secrets_whole() -> None:
    r = Redactor(["abcd1234", "1234wxyz"])
    assert r.mask(b"<abcd1234wxyz>") == b"<" + b"*" * 12 + b">"
    assert r.text("<abcd1234wxyz>") == "<[REDACTED]>"


# -- Wire excerpts and rendered transcripts --------------------------------------------------


def test_render_transcript_hides_a_secret_split_across_two_chunks() -> None:
    body = b"data: before " + SECRET.encode() + b" after\n\n"
    cut = body.index(b"SeCrEt")
    shown = render_transcript(transcript(body[:cut], body[cut:]), Redactor([SECRET]))
    assert_hidden(shown, SECRET, "data: before ", " after\\n\\n", f"[{cut}]")


def test_render_transcript_hides_a_percent_encoded_secret_split_across_chunks() -> None:
    form = quote(SECRET, safe="").encode()
    body = b"GET /next?cursor=" + form + b" done"
    cut = body.index(b"%2F")
    shown = render_transcript(transcript(body[:cut], body[cut:]), Redactor([SECRET]))
    assert_hidden(shown, form.decode(), "/next?cursor=", " done")


def test_render_transcript_hides_a_secret_crossing_the_render_limit() -> None:
    size, count = 1000, 100
    filler = [b"." * size for _ in range(count)]
    plain = render_transcript(transcript(*filler), Redactor([SECRET]))
    assert "rendering stopped at 64 KiB" in plain
    rendered = sum(1 for line in plain.splitlines() if line.startswith("+"))
    assert 0 < rendered < count
    body = bytearray(b"".join(filler))
    at = rendered * size - 10  # the last 10 bytes of the last chunk rendered, and on
    body[at : at + len(SECRET)] = SECRET.encode()
    pieces = [bytes(body[i : i + size]) for i in range(0, len(body), size)]
    shown = render_transcript(transcript(*pieces), Redactor([SECRET]))
    rows = [line for line in shown.splitlines() if line.startswith("+")]
    assert len(rows) == rendered
    assert rows[-1].endswith("." * 10 + "*" * 10)
    assert_hidden(shown, SECRET, "rendering stopped at 64 KiB")


def lines_around_a_window_edge() -> tuple[bytes, int, int]:
    """A body whose excerpt around `offset` cuts a shown line, and the secret, at
    offset + 400 bytes; and where the secret starts."""
    body = b"".join(b"line %02d " % n + b"." * 91 + b"\n" for n in range(10))
    offset = len(body)
    body += b"marked\n" + b"".join(b"next %02d " % n + b"." * 91 + b"\n" for n in range(3))
    edge = offset + 400
    last = b"tail "
    last += b"." * (edge - 10 - len(body) - len(last))
    body += last
    at = len(body)
    body += SECRET.encode() + b" rest\n"
    assert at < edge < at + len(SECRET) and edge - at >= FRAGMENT
    return body, offset, at


@pytest.mark.parametrize("split", [False, True], ids=["one-chunk", "split-at-the-edge"])
def test_excerpt_hides_a_secret_crossing_the_window_edge(split: bool) -> None:
    body, offset, at = lines_around_a_window_edge()
    edge = offset + 400
    pieces = (body[:edge], body[edge:]) if split else (body,)
    shown = excerpt(transcript(*pieces), offset, Redactor([SECRET]))
    assert_hidden(shown, SECRET, "marked", "next 02", "tail ...")
    assert "*" * (edge - at) in shown


def test_excerpt_hides_a_secret_crossing_the_line_cut() -> None:
    line = b"head " + b"." * 145 + SECRET.encode() + b" rest " + b"." * 40 + b"\n"
    shown = excerpt(transcript(line, b"data: next\n"), 0, Redactor([SECRET]))
    assert_hidden(shown, SECRET, "head ....", f"… ({len(line)} bytes)", "data: next")
    assert "*" * 10 in shown


# -- Verdict messages ------------------------------------------------------------------------

EVENTS = EventsSpec(
    type_from="json-field",
    types={"delta": EventType("delta", {"type": "object"})},
    data_json=True,
)
SSE = Endpoint(
    name="ep",
    method="POST",
    path="/x",
    framing=Framing.SSE,
    content_types=("text/event-stream",),
    events=EVENTS,
    body_schema={"type": "object"},
)
TEXT = Endpoint(
    name="ep", method="POST", path="/x", framing=Framing.TEXT, content_types=("text/plain",)
)


def message(chk: Check, t: Transcript, ep: Endpoint = SSE) -> str:
    result = judge(chk, spec_of(ep), ep, t, target="t", strict=False, redactor=Redactor([SECRET]))
    assert result.outcome is Outcome.FAIL, result
    return result.message


def throwaway(findings: Iterable[Finding]) -> Check:
    """A check built directly, so the global registry is left alone."""
    kept = list(findings)
    return Check(
        id="test.redaction",
        suite="framing",
        level=Level.MUST,
        title="t",
        requirement="r",
        reference="u",
        framings=frozenset(Framing),
        func=lambda t, ep: kept,
    )


def test_a_finding_is_redacted_before_it_is_clipped() -> None:
    actual = "got " + "." * 290 + SECRET + " after"
    expected = "want " + "," * 293 + SECRET
    shown = message(throwaway([Finding(expected, actual)]), transcript(b"data: {}\n\n"))
    assert_hidden(shown, SECRET, "Actual: got ....", f"… ({len(actual) - len(SECRET) + 10} chars)")
    assert "Expected: want ,,,," in shown
    assert "[REDAC…" not in shown  # the clip never cuts into a marker


def test_also_findings_are_redacted_before_they_are_clipped() -> None:
    found = [Finding("e", "first")] + [Finding("e", "n " + "." * 294 + SECRET)] * 2
    shown = message(throwaway(found), transcript(b"data: {}\n\n"))
    assert_hidden(shown, SECRET, "Also: n ....")
    assert shown.count("Also:") == 2


def test_a_long_replay_command_is_kept_whole() -> None:
    curl = "curl -X POST 'http://t/x' --data-raw '" + "z" * 400 + "'"
    body = "e" * 280 + SECRET
    probe = Probe("negative", curl, 500, "text/plain", body)
    t = Transcript(spec="s", endpoint="ep", framing="sse", request=RequestRecord("", ""))
    chk = REGISTRY["input.invalid.refused"]
    result = judge(
        chk,
        spec_of(SSE),
        SSE,
        BadInput(primary=t, probes=(probe,)),
        target="t",
        strict=False,
        redactor=Redactor([SECRET]),
    )
    assert result.outcome is Outcome.FAIL
    assert_hidden(
        result.message, SECRET, "Actual: status 500 text/plain 'eeee", f"; replay: {curl}"
    )


def test_status_check_shows_an_error_body_redacted_before_it_is_clipped() -> None:
    body = b'{"error": "' + b"." * 280 + SECRET.encode() + b'", "code": 401}'
    assert body.index(SECRET.encode()) + FRAGMENT < 300 < body.index(SECRET.encode()) + 22
    t = transcript(body, status=401)
    shown = message(REGISTRY["http.status.success"], t)
    assert_hidden(shown, SECRET, 'Actual: status 401, body \'{"error": "....', "chars)")


def test_a_secret_json_escaped_in_a_quoted_body_is_redacted() -> None:
    """A body holding the secret as some JSON encoders write it (solidus escaped), quoted
    in a finding with its backslashes escaped once more."""
    body = b'{"error": "unknown key", "key": "' + SECRET.replace("/", "\\/").encode() + b'"}'
    shown = message(REGISTRY["http.status.success"], transcript(body, status=403))
    assert "\\\\/" not in shown  # no doubly escaped solidus: the whole form was hidden
    assert_hidden(shown.replace("\\", ""), SECRET, "Actual: status 403", '"unknown key"')


def sse_capture(data: bytes) -> Transcript:
    rec = Recorder("s", SSE)
    rec.response(200, [("content-type", "text/event-stream")], 0.01)
    rec.chunk(b"data: " + data + b"\n\n", 0.1)
    rec.closed(0.2)
    return rec.transcript(0.2)


def test_data_json_check_shows_the_data_redacted_before_it_is_clipped() -> None:
    data = b"not-json " + b"." * 100 + SECRET.encode() + b" end"
    shown = message(REGISTRY["sse.data.json"], sse_capture(data))
    assert_hidden(shown, SECRET, "Actual: Expecting value", "'not-json ....", "[REDACTED] end'")


def test_text_framing_check_shows_the_first_line_redacted_before_it_is_clipped() -> None:
    rec = Recorder("s", TEXT)
    rec.response(200, [("content-type", "text/plain")], 0.01)
    first = b"data: " + b"." * 60 + SECRET.encode() + b" more"
    rec.chunk(first + b"\ndata: two\ndata: three\n", 0.1)
    rec.closed(0.2)
    shown = message(REGISTRY["text.framing.none"], rec.transcript(0.2), TEXT)
    assert_hidden(shown, SECRET, "the first: 'data: ....", "[REDACTED] more'")


# -- Probe bodies -----------------------------------------------------------------------------


def probe_of(pieces: list[bytes], secret: str = SECRET) -> Probe:
    """The probe _send keeps for a 500 whose body arrives in these pieces."""

    async def stream() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, headers={"content-type": "text/plain"}, content=stream())

    async def send() -> Probe:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            request = client.build_request("POST", "http://target/x", content=b"{}")
            return await _send(client, request, "curl", "negative", 5.0, Redactor([secret]))

    return asyncio.run(send())


def test_a_probe_body_is_redacted_before_it_is_clipped() -> None:
    body = b"error: " + b"." * 283 + SECRET.encode() + b" " + b"," * 400
    assert body.index(SECRET.encode()) + FRAGMENT < 300
    probe = probe_of([body[:150], body[150:]])
    assert probe.status == 500
    assert_hidden(probe.body, SECRET, "error: ....", f".[REDACTED]… ({len(body) - 12} chars)")
    assert len(probe.body) < 320


def test_a_probe_body_read_in_part_never_shows_an_unfinished_secret() -> None:
    """A body cut inside a secret: what comes before the secret shrinks on redaction (a long
    token parameter), which would bring the secret's first bytes into view."""
    secret = "sk-" + "0123456789abcdefghij" * 5
    body = b"see ?token=" + b"v" * 1288 + b" " + secret.encode() + b" end " + b"." * 500
    assert body.index(secret.encode()) < 1350 < body.index(secret.encode()) + len(secret)
    probe = probe_of([body[i : i + 50] for i in range(0, len(body), 50)], secret)
    assert probe.status == 500
    assert_hidden(probe.body, secret, "see ?token=[REDACTED]", "bytes)")
    assert len(probe.body) < 320
