"""Use issued stream tokens the ways a careless or hostile client would.

Each scenario fetches its own fresh token and then reuses it (after its stream ended,
while it streams, or from many connections at once), waits it out, forges one like it,
sends none, an empty one or the API key in its place, or takes it to another resource.
The request that should be refused is the scenario's transcript; every other request
is kept as a leg.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx

from streamconform.engine.capture import capture_stream
from streamconform.engine.exchange import Prepared, exchange, prepared
from streamconform.engine.flows import run_flow
from streamconform.engine.keys import look_alike
from streamconform.engine.recorder import Limits
from streamconform.engine.redact import Redactor
from streamconform.engine.requests import Timeouts, new_client, plan_request, scaled
from streamconform.errors import SetupError
from streamconform.model.spec import Credentials, Endpoint, Spec, Variant
from streamconform.model.templates import MissingVariable, render
from streamconform.transcript import Transcript

__all__ = [
    "DEFAULT_RACE",
    "MAX_RACE",
    "expiry_wait",
    "try_tokens",
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


def unavailable(spec: Spec, endpoint: Endpoint, name: str, on_target: bool, scale: float) -> str:
    """Why a scenario cannot be tried here ("" when it can)."""
    credentials = endpoint.credentials
    if credentials is None or credentials.issuer is None:
        return "the endpoint is not opened with an issued token"
    scheme = credentials.scheme
    override = f"specs.{spec.name}.auth.{scheme.name}.expiry"
    if name == "token:expired":
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
    if name == "token:api-key" and credentials.key is None:
        return "the token endpoint takes no API key"
    return ""


class _Session:
    """The scenarios of one endpoint: shared client, prepared values and redactor."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        spec: Spec,
        endpoint: Endpoint,
        base_url: str,
        ready: Prepared,
        scale: float,
        redactor: Redactor,
        limits: Limits | None,
    ) -> None:
        assert endpoint.credentials is not None and endpoint.credentials.issuer is not None
        self.client, self.spec, self.endpoint = client, spec, endpoint
        self.credentials: Credentials = endpoint.credentials
        self.base_url, self.ready, self.scale = base_url, ready, scale
        self.redactor, self.limits = redactor, limits
        self.deadline = Timeouts.for_endpoint(endpoint, scale).response

    @property
    def values(self) -> dict[str, Any]:
        return self.ready.values

    async def issue(self, name: str) -> Transcript:
        """The token endpoint's answer, read whole: its shape is judged."""
        issuer, step = self.credentials.issuer, self.credentials.issue_step
        assert issuer is not None and step is not None
        plan = plan_request(
            self.spec,
            issuer,
            self.base_url,
            self.values,
            body=step.body,
            query=step.query,
            headers=step.headers,
        )
        deadline = Timeouts.for_endpoint(issuer, self.scale).response
        answer = await exchange(
            self.client,
            self.spec,
            issuer,
            plan,
            deadline=deadline,
            redactor=self.redactor,
            variant=name,
            limits=self.limits,
            read_success=True,
        )
        return replace(answer, setup_log=tuple(self.ready.log))

    async def fresh(self) -> str:
        """A token issued the way every stream gets one: the spec's issuing flow."""
        values = dict(self.values)
        await run_flow(
            self.client,
            self.spec,
            self.credentials.scheme.issued_by,
            self.base_url,
            values,
            scale=self.scale,
            redactor=self.redactor,
            log=self.ready.log.append,
        )
        return str(values[self.credentials.token_variable])

    async def stream(self, name: str, token: str, progress: list[Any] | None = None) -> Transcript:
        """The stream opened with this token, read as any stream is."""
        variant = Variant(name, variables={self.credentials.token_variable: token})
        return await capture_stream(
            self.client,
            self.spec,
            self.endpoint,
            self.base_url,
            self.values,
            scale=self.scale,
            redactor=self.redactor,
            limits=self.limits,
            variant=variant,
            progress=progress,
        )

    async def use(
        self,
        name: str,
        token: str | None,
        *,
        changes: Mapping[str, Any] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> Transcript:
        """The stream request with this token (None: with none), answer only."""
        values = {**self.values, **(changes or {})}
        if token is not None:
            values[self.credentials.token_variable] = token
        plan = plan_request(
            self.spec, self.endpoint, self.base_url, values, omit_auth=token is None
        )
        return await exchange(
            client or self.client,
            self.spec,
            self.endpoint,
            plan,
            deadline=self.deadline,
            redactor=self.redactor,
            variant=name,
            limits=self.limits,
        )


def _with_legs(main: Transcript, legs: list[Transcript], **captures: Any) -> Transcript:
    return replace(main, legs=tuple(legs), captures={**main.captures, **captures})


async def _reuse_after_end(s: _Session, name: str) -> Transcript:
    token = await s.fresh()
    first = await s.stream(name, token)
    second = await s.use(name, token)
    return _with_legs(second, [first, second])


async def _reuse_while_streaming(s: _Session, name: str) -> Transcript:
    """A second use once the first stream has delivered something and before it ends."""
    result: Transcript | None = None
    for _ in range(_OVERLAP_ATTEMPTS):
        token = await s.fresh()
        progress: list[Any] = []
        reading = asyncio.create_task(s.stream(name, token, progress))
        while not progress and not reading.done():
            await asyncio.sleep(0.005)
        second = await s.use(name, token)
        overlap = not reading.done()
        first = await reading
        result = _with_legs(second, [first, second], overlap=overlap)
        if overlap or not first.opened:
            break
    assert result is not None
    return result


async def _race(s: _Session, name: str, size: int) -> Transcript:
    """`size` requests with one token, sent together over their own connections."""
    token = await s.fresh()
    async with new_client(connections=size) as client:
        legs = await asyncio.gather(*(s.use(name, token, client=client) for _ in range(size)))
    accepted = [leg for leg in legs if leg.status is not None and 200 <= leg.status < 300]
    return _with_legs((accepted or legs)[0], list(legs), race=size)


async def _expired(s: _Session, name: str) -> Transcript:
    wait = expiry_wait(s.endpoint, s.scale)
    assert wait is not None
    token = await s.fresh()
    await asyncio.sleep(wait)  # the token's lifetime passing is the condition under test
    return _with_legs(await s.use(name, token), [], waited=round(wait, 3))


async def _made_up(s: _Session, name: str) -> Transcript:
    forged = look_alike(await s.fresh())
    s.redactor.add(forged)  # shaped like a real token: shown no more than one
    return await s.use(name, forged)


async def _api_key(s: _Session, name: str) -> Transcript:
    key = s.credentials.key
    assert key is not None
    return await s.use(name, str(render(key.value, s.values)))


async def _elsewhere(s: _Session, name: str) -> Transcript:
    token = await s.fresh()
    changes = render(dict(s.credentials.scheme.elsewhere), s.values)
    return _with_legs(await s.use(name, token, changes=changes), [], elsewhere=sorted(changes))


_SCENARIOS: dict[str, Callable[[_Session, str, int], Awaitable[Transcript]]] = {
    "token:issue": lambda s, name, race: s.issue(name),
    "token:reuse-after-end": lambda s, name, race: _reuse_after_end(s, name),
    "token:reuse-while-streaming": lambda s, name, race: _reuse_while_streaming(s, name),
    "token:race": _race,
    "token:expired": lambda s, name, race: _expired(s, name),
    "token:made-up": lambda s, name, race: _made_up(s, name),
    "token:empty": lambda s, name, race: s.use(name, ""),
    "token:missing": lambda s, name, race: s.use(name, None),
    "token:api-key": lambda s, name, race: _api_key(s, name),
    "token:elsewhere": lambda s, name, race: _elsewhere(s, name),
}


def _failed(spec: Spec, endpoint: Endpoint, name: str, detail: str) -> Transcript:
    framing = endpoint.framing.value if endpoint.framing else ""
    return Transcript.unprepared(spec.name, endpoint.name, framing, name, detail)


async def try_tokens(
    client: httpx.AsyncClient,
    spec: Spec,
    endpoint: Endpoint,
    base_url: str,
    variables: Mapping[str, Any],
    names: list[str],
    *,
    scale: float,
    redactor: Redactor,
    limits: Limits | None = None,
    race: int = DEFAULT_RACE,
) -> dict[str, Transcript]:
    """One transcript per scenario. The wait for expiry runs beside the others; the rest
    run one after another, so none of them loads the machine while another is timed."""
    unknown = set(names) - set(_SCENARIOS)
    if unknown:
        raise ValueError(f"unknown token scenarios {sorted(unknown)}")
    try:
        async with prepared(
            client, spec, endpoint, base_url, variables, scale=scale, redactor=redactor
        ) as ready:
            session = _Session(client, spec, endpoint, base_url, ready, scale, redactor, limits)

            async def guarded(name: str) -> Transcript:
                try:
                    return await _SCENARIOS[name](session, name, race)
                except (SetupError, MissingVariable) as err:
                    return _failed(spec, endpoint, name, redactor.text(str(err)))

            async def in_turn() -> list[Transcript]:
                return [await guarded(n) for n in names if n != "token:expired"]

            later = [guarded("token:expired")] if "token:expired" in names else []
            done, expired = await asyncio.gather(in_turn(), asyncio.gather(*later))
    except (SetupError, MissingVariable) as err:
        return {n: _failed(spec, endpoint, n, redactor.text(str(err))) for n in names}
    return {t.variant: t for t in [*done, *expired]}
