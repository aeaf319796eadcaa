"""Use issued stream tokens the ways a careless or hostile client would.

Each scenario fetches its own fresh token and then reuses it (after its stream ended,
while it streams, or from many connections at once), waits it out, forges one like it,
sends none, an empty one or the API key in its place, or takes it to another resource.
The request that should be refused is the scenario's transcript; every other request
is kept as a leg.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from streamconform.capture.exchange import exchange
from streamconform.capture.requests import new_client
from streamconform.capture.session import Prepared, TargetSession
from streamconform.capture.stream import capture_stream
from streamconform.core.evidence import Evidence, TokenTrial
from streamconform.core.pointer import resolve_pointer
from streamconform.core.transcript import Transcript
from streamconform.errors import SetupError
from streamconform.model.spec import Credentials, Endpoint, Spec, Variant
from streamconform.model.templates import MissingVariable, render
from streamconform.model.timing import scaled
from streamconform.scenarios.auth import look_alike
from streamconform.scenarios.registry import Scenario, family

__all__ = [
    "API_KEY",
    "DEFAULT_RACE",
    "ELSEWHERE",
    "EMPTY",
    "EXPIRED",
    "ISSUE",
    "MADE_UP",
    "MAX_RACE",
    "MISSING",
    "RACE",
    "REUSE_AFTER_END",
    "REUSE_WHILE_STREAMING",
    "TOKENS",
    "expiry_wait",
    "unavailable",
]

DEFAULT_RACE = 20
MAX_RACE = 500  # connections opened at once, well inside a default limit of open files
_LONGEST_WAIT = 120.0  # a token lifetime longer than this (scaled) is not waited out
_OVERLAP_ATTEMPTS = 3  # the second use must be answered while the first still streams


def expiry_wait(endpoint: Endpoint, scale: float) -> float | None:
    """How long to hold a token before using it: its lifetime, scaled (never below the
    floor of every scaled bound, which a compressed server keeps too), plus a margin."""
    credentials = endpoint.credentials
    lifetime = credentials.scheme.expiry if credentials else None
    if lifetime is None:
        return None
    span = scaled(lifetime, scale)
    return span + max(0.25, span * 0.1)


def unavailable(
    spec: Spec, endpoint: Endpoint, scenario: Scenario, on_target: bool, scale: float
) -> str:
    """Why a scenario cannot be tried here ("" when it can)."""
    credentials = endpoint.credentials
    if credentials is None or credentials.issuer is None:
        return "the endpoint is not opened with an issued token"
    scheme = credentials.scheme
    override = f"specs.{spec.name}.auth.{scheme.name}.expiry"
    if scenario is EXPIRED:
        if scheme.expiry is None:
            return f"the spec gives no token lifetime; a target profile can give one ({override})"
        if scheme.expiry_reference_only and on_target:
            return (
                "the token lifetime is the spec's assumption, tried on the reference server "
                f"only; a target profile can give this target's ({override})"
            )
        wait = expiry_wait(endpoint, scale) or 0.0
        if wait > _LONGEST_WAIT:
            return (
                f"waiting out a {wait:.0f} s token lifetime is not attempted "
                f"(over {_LONGEST_WAIT:.0f} s); a shorter --time-scale would allow it"
            )
    if scenario is API_KEY and credentials.key is None:
        return "the token endpoint takes no API key"
    return ""


class _Trial:
    """The trials of one endpoint: its session, the prepared values and the credentials."""

    def __init__(self, session: TargetSession, ready: Prepared) -> None:
        credentials = session.endpoint.credentials
        assert credentials is not None and credentials.issuer is not None
        self.session = session
        self.credentials: Credentials = credentials
        self.ready = ready

    @property
    def values(self) -> dict[str, Any]:
        return self.ready.values

    async def issue(self, name: str) -> Transcript:
        """The token endpoint's answer, read whole: its shape is judged."""
        issuer, step = self.credentials.issuer, self.credentials.issue_step
        assert issuer is not None and step is not None
        plan = self.session.plan(
            issuer, self.values, body=step.body, query=step.query, headers=step.headers
        )
        answer = await exchange(
            self.session, plan, endpoint=issuer, variant=name, read_success=True
        )
        token = _token_in(answer, step.capture[self.credentials.token_variable])
        if token:  # a real token, as secret as any the issuing flow captures
            self.session.redactor.add(token)
        return _with_log(answer, self.ready)

    async def fresh(self) -> str:
        """A token issued the way every stream gets one: the spec's issuing flow."""
        values = dict(self.values)
        await self.session.flow(self.credentials.scheme.issued_by, values, self.ready.log.append)
        return str(values[self.credentials.token_variable])

    async def stream(self, name: str, token: str, progress: list[Any] | None = None) -> Transcript:
        """The stream opened with this token, read as any stream is."""
        variant = Variant(name, variables={self.credentials.token_variable: token})
        return await capture_stream(
            self.session, values=self.values, variant=variant, progress=progress
        )

    async def use(
        self,
        name: str,
        token: str | None,
        *,
        changes: dict[str, Any] | None = None,
        client: Any = None,
    ) -> Transcript:
        """The stream request with this token (None: with none), answer only."""
        values = {**self.values, **(changes or {})}
        if token is not None:
            values[self.credentials.token_variable] = token
        plan = self.session.plan(values=values, omit_auth=token is None)
        return await exchange(self.session, plan, variant=name, client=client)


def _token_in(answer: Transcript, source: str) -> str:
    """The token a token answer carries where the spec says ("" where it has none)."""
    if source.startswith("header:"):
        return answer.header(source.removeprefix("header:").strip()) or ""
    try:
        document = json.loads(b"".join(c.data for c in answer.chunks))
    except ValueError:
        return ""
    token = resolve_pointer(document, source)
    return token if isinstance(token, str) else ""


def _with_log(answer: Transcript, ready: Prepared) -> Transcript:
    return replace(answer, setup_log=tuple(ready.log))


async def _issue(t: _Trial, name: str) -> TokenTrial:
    return TokenTrial(primary=await t.issue(name))


async def _reuse_after_end(t: _Trial, name: str) -> TokenTrial:
    token = await t.fresh()
    first = await t.stream(name, token)
    second = await t.use(name, token)
    return TokenTrial(primary=second, legs=(first, second))


async def _reuse_while_streaming(t: _Trial, name: str) -> TokenTrial:
    """A second use once the first stream has delivered something and before it ends."""
    result: TokenTrial | None = None
    for _ in range(_OVERLAP_ATTEMPTS):
        token = await t.fresh()
        progress: list[Any] = []
        reading = asyncio.create_task(t.stream(name, token, progress))
        while not progress and not reading.done():
            await asyncio.sleep(0.005)
        second = await t.use(name, token)
        overlap = not reading.done()
        first = await reading
        result = TokenTrial(primary=second, legs=(first, second), overlap=overlap)
        if overlap or not first.opened:
            break
    assert result is not None
    return result


async def _race(t: _Trial, name: str) -> TokenTrial:
    """`size` requests with one token, sent together over their own connections."""
    size = t.session.settings.token_race
    token = await t.fresh()
    async with new_client(connections=size) as client:
        legs = await asyncio.gather(*(t.use(name, token, client=client) for _ in range(size)))
    accepted = [leg for leg in legs if leg.status is not None and 200 <= leg.status < 300]
    return TokenTrial(primary=(accepted or legs)[0], legs=tuple(legs), race=size)


async def _expired(t: _Trial, name: str) -> TokenTrial:
    wait = expiry_wait(t.session.endpoint, t.session.scale)
    assert wait is not None
    token = await t.fresh()
    await asyncio.sleep(wait)  # the token's lifetime passing is the condition under test
    return TokenTrial(primary=await t.use(name, token), waited=round(wait, 3))


async def _made_up(t: _Trial, name: str) -> TokenTrial:
    forged = look_alike(await t.fresh())
    t.session.redactor.add(forged)  # shaped like a real token: shown no more than one
    return TokenTrial(primary=await t.use(name, forged))


async def _api_key(t: _Trial, name: str) -> TokenTrial:
    key = t.credentials.key
    assert key is not None
    return TokenTrial(primary=await t.use(name, str(render(key.value, t.values))))


async def _elsewhere(t: _Trial, name: str) -> TokenTrial:
    token = await t.fresh()
    changes = render(dict(t.credentials.scheme.elsewhere), t.values)
    answer = await t.use(name, token, changes=changes)
    return TokenTrial(primary=answer, elsewhere=tuple(sorted(changes)))


async def _empty(t: _Trial, name: str) -> TokenTrial:
    return TokenTrial(primary=await t.use(name, ""))


async def _missing(t: _Trial, name: str) -> TokenTrial:
    return TokenTrial(primary=await t.use(name, None))


def _failed(session: TargetSession, name: str, detail: str) -> TokenTrial:
    return TokenTrial(primary=session.unprepared(name, detail))


def _unavailable(session: TargetSession, scenario: Scenario) -> str:
    return unavailable(session.spec, session.endpoint, scenario, session.on_target, session.scale)


@family("token", unavailable=_unavailable)
async def TOKENS(session: TargetSession, scenarios: Sequence[Scenario]) -> dict[str, Evidence]:
    """Every trial after one setup. The wait for expiry runs beside the others; the rest
    run one after another, so none of them loads the machine while another is timed."""
    redactor = session.redactor
    try:
        async with session.prepared() as ready:
            trial = _Trial(session, ready)

            async def guarded(scenario: Scenario) -> TokenTrial:
                try:
                    return await scenario.subject(trial, scenario.name)
                except (SetupError, MissingVariable) as err:
                    return _failed(session, scenario.name, redactor.text(str(err)))

            async def in_turn() -> list[TokenTrial]:
                return [await guarded(s) for s in scenarios if s is not EXPIRED]

            later = [guarded(EXPIRED)] if EXPIRED in scenarios else []
            done, expired = await asyncio.gather(in_turn(), asyncio.gather(*later))
    except (SetupError, MissingVariable) as err:
        return {s.name: _failed(session, s.name, redactor.text(str(err))) for s in scenarios}
    trials = [s for s in scenarios if s is not EXPIRED] + ([EXPIRED] if later else [])
    return {s.name: e for s, e in zip(trials, [*done, *expired], strict=True)}


ISSUE = Scenario("token:issue", TOKENS, _issue)
REUSE_AFTER_END = Scenario("token:reuse-after-end", TOKENS, _reuse_after_end)
REUSE_WHILE_STREAMING = Scenario("token:reuse-while-streaming", TOKENS, _reuse_while_streaming)
RACE = Scenario("token:race", TOKENS, _race)
EXPIRED = Scenario("token:expired", TOKENS, _expired)
MADE_UP = Scenario("token:made-up", TOKENS, _made_up)
EMPTY = Scenario("token:empty", TOKENS, _empty)
MISSING = Scenario("token:missing", TOKENS, _missing)
API_KEY = Scenario("token:api-key", TOKENS, _api_key)
ELSEWHERE = Scenario("token:elsewhere", TOKENS, _elsewhere)
