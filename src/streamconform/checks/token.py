"""Token checks (token.*), in the tokens suite: an issued stream token opens one stream, once,
and only while it lives.

The token endpoint answers in the documented shape and keeps the answer out of caches;
a token is refused once used (after its stream, during it, and when many requests race
with it), after its lifetime, when forged, empty, missing or replaced by the API key, and
on another resource where the spec says tokens are bound; and no response echoes it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

from jsonschema.exceptions import best_match

from streamconform.checks.headers import cache_directives
from streamconform.checks.refusals import body_text, is_accepted, refusal_findings
from streamconform.checks.registry import Finding, Untestable, check
from streamconform.checks.schema import schema_basis
from streamconform.core.evidence import TokenTrial
from streamconform.core.pointer import resolve_pointer
from streamconform.core.transcript import End, Transcript
from streamconform.formats import schema_validator
from streamconform.model.spec import Credentials, Endpoint, Level
from streamconform.scenarios import token as tokens

RFC9110_401 = "https://www.rfc-editor.org/rfc/rfc9110#name-401-unauthorized"
RFC9111_NO_STORE = "https://www.rfc-editor.org/rfc/rfc9111#name-no-store-2"
RFC6749_TOKEN = "https://www.rfc-editor.org/rfc/rfc6749#section-10.3"
_FORGED = {
    tokens.MADE_UP.name: "a look-alike token nobody issued",
    tokens.EMPTY.name: "an empty token",
    tokens.MISSING.name: "no token",
}


def _issued(ep: Endpoint) -> str | None:
    if ep.credentials is None or ep.credentials.issuer is None:
        return "the endpoint is not opened with an issued token"
    return None


def _single_use(ep: Endpoint) -> str | None:
    reason = _issued(ep)
    if reason is None and not _credentials(ep).scheme.single_use:
        return "the spec does not make tokens single-use"
    return reason


def _bound(ep: Endpoint) -> str | None:
    reason = _issued(ep)
    if reason is None and not _credentials(ep).scheme.elsewhere:
        return "the spec does not bind tokens to a resource (binding.elsewhere)"
    return reason


def _credentials(ep: Endpoint) -> Credentials:
    assert ep.credentials is not None
    return ep.credentials


def _first_stream(ev: TokenTrial) -> Transcript:
    """The leg that opened a stream with the token, which must have worked."""
    first = ev.legs[0] if ev.legs else None
    if first is None or not first.opened:
        status = f"status {first.status}" if first and first.status else "no stream"
        detail = f": {first.end_detail}" if first and first.end_detail else ""
        raise Untestable(f"a fresh token opened no stream ({status}{detail})")
    return first


@check(
    id="token.issue.answer",
    suite="tokens",
    level=Level.MUST,
    title="The token endpoint answers in the documented shape",
    requirement="""Asked with the API key, the token endpoint answers with a success status
        and a JSON body valid against its documented schema, holding the token where the
        spec's issuing flow reads it.""",
    reference=RFC6749_TOKEN,
    applies=_issued,
    needs_stream=False,
    scenarios=lambda ep: [tokens.ISSUE],
)
def issue_answer(ev: TokenTrial, ep: Endpoint) -> Iterator[Finding]:
    t = ev.primary
    credentials = _credentials(ep)
    issuer, step = credentials.issuer, credentials.issue_step
    assert issuer is not None and step is not None
    expected = f"{issuer.method} {issuer.path}: status {' or '.join(map(str, issuer.success))}"
    if t.end is End.SETUP_FAILED:
        raise Untestable(f"the request could not be prepared: {t.end_detail}")
    if t.status not in issuer.success:
        shown = body_text(t) if t.status is not None else f"no response: {t.end_detail}"
        yield Finding(expected, f"status {t.status}: {shown!r}", 0)
        return
    source = step.capture[credentials.token_variable]
    if source.startswith("header:"):
        token = t.header(source.removeprefix("header:").strip())
        document = None
    else:
        try:
            document = json.loads(body_text(t))
        except ValueError:
            yield Finding("a JSON body", f"{body_text(t)!r}", 0, basis=f"endpoints.{issuer.name}")
            return
        token = resolve_pointer(document, source)
    if issuer.response_schema is not None and document is not None:
        error = best_match(schema_validator(issuer.response_schema).iter_errors(document))
        if error is not None:
            yield Finding(
                "a body valid against the documented schema",
                f"{error.json_path}: {error.message}",
                0,
                basis=schema_basis(f"endpoints.{issuer.name}.response_schema", error),
            )
    if not isinstance(token, str) or not token:
        found = repr(token) if isinstance(token, str | int | float | list | dict) else "nothing"
        yield Finding(
            f"a token (a non-empty string) at {source}", found, 0, basis=f"endpoints.{issuer.name}"
        )


@check(
    id="token.issue.no-store",
    suite="tokens",
    level=Level.SHOULD,
    title="A token answer is not stored by caches",
    requirement="""The token endpoint's answer carries Cache-Control: no-store, so no cache or
        proxy keeps a credential that anyone behind it could then replay.""",
    reference=RFC9111_NO_STORE,
    applies=_issued,
    needs_stream=False,
    scenarios=lambda ep: [tokens.ISSUE],
)
def issue_no_store(ev: TokenTrial, ep: Endpoint) -> Iterator[Finding]:
    t = ev.primary
    if not is_accepted(t):
        raise Untestable(f"the token endpoint issued no token (status {t.status})")
    directives, shown = cache_directives(t)
    if "no-store" not in directives:
        yield Finding("Cache-Control: no-store", shown)


@check(
    id="token.single-use.after-end",
    suite="tokens",
    level=Level.MUST,
    title="A token is refused once its stream has ended",
    requirement="""A token that has opened a stream, read to its end, is refused with 401 and
        the documented error body when it is sent again.""",
    reference=RFC9110_401,
    applies=_single_use,
    needs_stream=False,
    scenarios=lambda ep: [tokens.REUSE_AFTER_END],
)
def reuse_after_end(ev: TokenTrial, ep: Endpoint) -> Iterator[Finding]:
    first = _first_stream(ev)
    why = f"the token already opened a stream, which ended by {first.end.value}"
    yield from refusal_findings(ev.primary, ep, (401,), why)


@check(
    id="token.single-use.while-streaming",
    suite="tokens",
    level=Level.MUST,
    title="A token is refused while its stream is still open",
    requirement="""A token whose stream is still delivering is refused with 401 and the
        documented error body when it is sent again: it is spent when first used, not
        when its stream ends.""",
    reference=RFC9110_401,
    applies=_single_use,
    needs_stream=False,
    scenarios=lambda ep: [tokens.REUSE_WHILE_STREAMING],
)
def reuse_while_streaming(ev: TokenTrial, ep: Endpoint) -> Iterator[Finding]:
    _first_stream(ev)
    if not ev.overlap:
        raise Untestable("the first stream ended before the second use was answered (3 tries)")
    yield from refusal_findings(ev.primary, ep, (401,), "the token's first stream is still open")


@check(
    id="token.single-use.race",
    suite="tokens",
    level=Level.MUST,
    title="Many requests racing with one token get exactly one stream",
    requirement="""Sent by many connections at once, one fresh token opens exactly one stream;
        every other request is refused with 401. A server that checks a token and marks
        it used in two steps lets several through.""",
    reference=RFC9110_401,
    applies=_single_use,
    needs_stream=False,
    scenarios=lambda ep: [tokens.RACE],
)
def race(ev: TokenTrial, ep: Endpoint) -> Iterator[Finding]:
    legs = ev.legs or (ev.primary,)
    if all(leg.end is End.SETUP_FAILED for leg in legs):
        raise Untestable(f"the race could not be prepared: {ev.primary.end_detail}")
    statuses = Counter("none" if leg.status is None else str(leg.status) for leg in legs)
    tally = ", ".join(f"{status} x{n}" for status, n in sorted(statuses.items()))
    opened = sum(1 for leg in legs if is_accepted(leg))
    if opened != 1:
        yield Finding(
            f"exactly one of {len(legs)} requests with the same token opens a stream",
            f"{opened} opened ({tally})",
        )
    others = [leg for leg in legs if not is_accepted(leg) and leg.status != 401]
    if others:
        first = others[0]
        detail = first.end_detail if first.status is None else repr(body_text(first))
        yield Finding(
            f"the other {len(legs) - 1} refused with 401",
            f"{len(others)} answered otherwise ({tally}); the first: {first.status} {detail}",
        )


@check(
    id="token.expiry",
    suite="tokens",
    level=Level.MUST,
    title="An expired token is refused",
    requirement="""A token used after its lifetime (in the run's time scale, with a margin)
        is refused with 401 and the documented error body, though it was never used.""",
    reference=RFC9110_401,
    applies=_issued,
    needs_stream=False,
    scenarios=lambda ep: [tokens.EXPIRED],
)
def expiry(ev: TokenTrial, ep: Endpoint) -> Iterator[Finding]:
    lifetime = _credentials(ep).scheme.expiry
    why = f"the token was sent {ev.waited} s after issue; its lifetime is {lifetime:g} s, scaled"
    yield from refusal_findings(ev.primary, ep, (401,), why)


@check(
    id="token.forged.refused",
    suite="tokens",
    level=Level.MUST,
    title="A made-up, empty or missing token is refused",
    requirement="""A stream request with a token nobody issued (shaped like a real one), an
        empty token, or none, is refused with 401 and the documented error body before
        any stream starts.""",
    reference=RFC9110_401,
    applies=_issued,
    needs_stream=False,
    scenarios=lambda ep: [tokens.MADE_UP, tokens.EMPTY, tokens.MISSING],
)
def forged_refused(ev: TokenTrial, ep: Endpoint) -> Iterator[Finding]:
    t = ev.primary
    yield from refusal_findings(t, ep, (401,), _FORGED[t.variant])


@check(
    id="token.api-key.refused",
    suite="tokens",
    level=Level.MUST,
    title="The API key does not work as a stream token",
    requirement="""The API key put where the stream token goes is refused with 401 before any
        stream starts: the key is for the server side only, so a client that never holds
        it must not be able to stream with it either.""",
    reference=RFC9110_401,
    applies=_issued,
    needs_stream=False,
    scenarios=lambda ep: [tokens.API_KEY],
)
def api_key_refused(ev: TokenTrial, ep: Endpoint) -> Iterator[Finding]:
    yield from refusal_findings(ev.primary, ep, (401,), "the API key in the token's place")


@check(
    id="token.binding",
    suite="tokens",
    level=Level.MUST,
    title="A token is refused on another resource",
    requirement="""Where the spec binds tokens to the resource they were issued for, a fresh
        token sent for another resource of the same account (binding.elsewhere) is
        refused with 401 or 403 before any stream starts.""",
    reference=RFC9110_401,
    applies=_bound,
    needs_stream=False,
    scenarios=lambda ep: [tokens.ELSEWHERE],
)
def binding(ev: TokenTrial, ep: Endpoint) -> Iterator[Finding]:
    where = ", ".join(ev.elsewhere)
    yield from refusal_findings(
        ev.primary, ep, (401, 403), f"a fresh token sent with another {where}"
    )


@check(
    id="token.not-echoed",
    suite="tokens",
    level=Level.MUST,
    title="No response echoes a token",
    requirement="""Neither the stream a token opens nor a refusal of a token (spent, or made
        up) carries the token back, in a header or the body: responses are logged and
        cached where the token would be exposed.""",
    reference=RFC6749_TOKEN,
    applies=_issued,
    needs_stream=False,
    scenarios=lambda ep: [tokens.REUSE_AFTER_END, tokens.MADE_UP],
)
def not_echoed(ev: TokenTrial, ep: Endpoint) -> Iterator[Finding]:
    scheme, t = _credentials(ep).scheme.name, ev.primary
    answers = [leg for leg in ev.transcripts() if leg.end is not End.SETUP_FAILED]
    if not answers:
        raise Untestable(f"no request could be sent: {t.end_detail}")
    seen: set[tuple[int, str]] = set()
    for leg in answers:
        for echo in leg.echoes:
            if echo.scheme != scheme or (id(leg), echo.where) in seen:
                continue
            seen.add((id(leg), echo.where))
            what = "the stream" if leg.opened else f"the {leg.status} answer"
            yield Finding(
                "the token never sent back",
                f"{what} carries it in {echo.where}",
                echo.offset if leg is t else None,
            )
