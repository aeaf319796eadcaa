"""Auth checks (auth.*), in the auth suite: an API key that is missing, malformed or wrong
is refused with 401 and the documented body before any stream starts, and a key is taken
from its header only.

A stream opened with an issued token is judged where its key is sent: the token
endpoint. Insufficient scope (403) is a documented error of its own and is judged by
http.error.documented.
"""

from __future__ import annotations

from collections.abc import Iterator

from streamconform.checks.refusals import body_text, is_accepted, refusal_findings
from streamconform.checks.registry import Finding, Untestable, check
from streamconform.core.transcript import End, Transcript
from streamconform.model.spec import Endpoint, Level
from streamconform.scenarios import auth as keys

RFC9110_401 = "https://www.rfc-editor.org/rfc/rfc9110#name-401-unauthorized"
RFC6750_URI = "https://www.rfc-editor.org/rfc/rfc6750#section-2.3"
_WHY = {
    keys.MISSING.name: "no API key",
    keys.EMPTY.name: "an empty API key",
    keys.GARBLED.name: "a garbled API key",
    keys.LOOK_ALIKE.name: "a look-alike key nobody issued",
    keys.TRUNCATED.name: "the key less its last character",
    keys.EXTENDED.name: "the key with one more character",
}


def _takes_key(ep: Endpoint) -> str | None:
    if ep.credentials is None or ep.credentials.key is None:
        return "the endpoint takes no API key"
    return None


def _refused(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    target = ep.key_endpoint
    why = f"{target.method} {target.path} with {_WHY[t.variant]}"
    yield from refusal_findings(t, target, (401,), why)


@check(
    id="auth.key.missing",
    suite="auth",
    level=Level.MUST,
    title="A request without the API key is refused",
    requirement="""A request that carries no API key is answered 401 with the documented error
        body before any stream starts (for a stream opened with an issued token, the
        token request is).""",
    reference=RFC9110_401,
    applies=_takes_key,
    needs_stream=False,
    scenarios=lambda ep: [keys.MISSING],
)
def key_missing(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    yield from _refused(t, ep)


@check(
    id="auth.key.malformed",
    suite="auth",
    level=Level.MUST,
    title="A malformed API key is refused",
    requirement="""A request whose key is empty, or is no key at all ("not a key"), is
        answered 401 with the documented error body before any stream starts.""",
    reference=RFC9110_401,
    applies=_takes_key,
    needs_stream=False,
    scenarios=lambda ep: [keys.EMPTY, keys.GARBLED],
)
def key_malformed(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    yield from _refused(t, ep)


@check(
    id="auth.key.wrong",
    suite="auth",
    level=Level.MUST,
    title="A wrong API key is refused",
    requirement="""A well-formed key that was never issued (same length and shape as the real
        one), and the real key one character short or long, are answered 401 with the
        documented error body before any stream starts: the whole key is compared, not
        its format or a prefix.""",
    reference=RFC9110_401,
    applies=_takes_key,
    needs_stream=False,
    scenarios=lambda ep: [keys.LOOK_ALIKE, keys.TRUNCATED, keys.EXTENDED],
)
def key_wrong(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    yield from _refused(t, ep)


@check(
    id="auth.key.in-query",
    suite="auth",
    level=Level.SHOULD,
    title="An API key in the query string is not accepted",
    requirement="""A key sent in the URL (as api_key, apikey, key, access_token or token)
        instead of its header is refused with a 4xx: URLs end up in server logs, proxies
        and browser history, so a server should not teach clients to put keys there.""",
    reference=RFC6750_URI,
    applies=_takes_key,
    needs_stream=False,
    scenarios=lambda ep: [keys.IN_QUERY],
)
def key_in_query(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    if t.end is End.SETUP_FAILED:
        raise Untestable(f"the request could not be prepared: {t.end_detail}")
    target = ep.key_endpoint
    expected = f"{target.method} {target.path} with the key in the query string refused (4xx)"
    if t.status is None:
        yield Finding(expected, f"no response ({t.end.value}): {t.end_detail}")
    elif is_accepted(t):
        yield Finding(expected, f"status {t.status}: the key was taken from the URL", 0)
    elif not 400 <= t.status < 500:
        yield Finding(expected, f"status {t.status}: {body_text(t)!r}", 0)
