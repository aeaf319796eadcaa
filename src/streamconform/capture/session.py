"""One target session: everything a scenario needs to talk to one endpoint of one target.

Built once per (spec, endpoint, target) by the run. It holds the client, the spec and
endpoint, the base URL, the resolved variables, the time scale, the redactor, the size
limits and a log; the capture, exchange and setup-flow helpers take it instead of those
eight values one by one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from streamconform.capture.flows import run_flow
from streamconform.capture.recorder import Limits
from streamconform.capture.requests import RequestPlan, Timeouts, new_client, plan_request
from streamconform.core.redact import Redactor
from streamconform.core.transcript import Transcript
from streamconform.errors import SetupError
from streamconform.model.spec import Endpoint, Spec

__all__ = ["Prepared", "ScenarioSettings", "TargetSession"]


@dataclass(frozen=True, slots=True)
class ScenarioSettings:
    """How hard scenarios push: generated requests per mode, their seed, a race's size."""

    input_cases: int = 12
    seed: int = 0
    token_race: int = 20


@dataclass(slots=True)
class Prepared:
    """An endpoint made ready for probes: its setup flows run, their captures kept."""

    values: dict[str, Any]
    log: list[str] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class TargetSession:
    """One endpoint of one spec on one target (a URL or an embedded reference server)."""

    spec: Spec
    endpoint: Endpoint
    base_url: str
    variables: Mapping[str, Any]
    scale: float
    redactor: Redactor
    limits: Limits = field(default_factory=Limits)
    on_target: bool = False  # a real target, not the reference server
    settings: ScenarioSettings = field(default_factory=ScenarioSettings)
    log: list[str] = field(default_factory=list)
    plain: Transcript | None = None  # the endpoint's plain capture, once made (it sizes resumes)
    _client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The session's HTTP client, made on first use in the run's event loop (and again
        after `aclose`, which ends its connections)."""
        if self._client is None:
            self._client = new_client()
        return self._client

    def fork(self) -> TargetSession:
        """A copy with a client of its own, for one play: plays side by side then share no
        connection, and each closes its own when it ends."""
        return replace(self, _client=None)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def unprepared(self, scenario: str, detail: str) -> Transcript:
        """This endpoint's transcript of a scenario whose request was never sent."""
        framing = self.endpoint.framing.value if self.endpoint.framing else ""
        return Transcript.unprepared(self.spec.name, self.endpoint.name, framing, scenario, detail)

    def timeouts(self, endpoint: Endpoint | None = None) -> Timeouts:
        """The bounds of a request to an endpoint (this one by default), scaled."""
        return Timeouts.for_endpoint(endpoint or self.endpoint, self.scale)

    def plan(
        self,
        endpoint: Endpoint | None = None,
        values: Mapping[str, Any] | None = None,
        **changes: Any,
    ) -> RequestPlan:
        """The request the spec describes for an endpoint, with these values and changes."""
        return plan_request(
            self.spec,
            endpoint or self.endpoint,
            self.base_url,
            self.variables if values is None else values,
            **changes,
        )

    async def flow(
        self, name: str, into: dict[str, Any], log: Callable[[str], None] | None = None
    ) -> dict[str, Any]:
        """Run a setup flow of the spec, its captures added to `into`."""
        await run_flow(
            self.client,
            self.spec,
            name,
            self.base_url,
            into,
            scale=self.scale,
            redactor=self.redactor,
            log=log or self.log.append,
        )
        return into

    @asynccontextmanager
    async def prepared(self, endpoint: Endpoint | None = None) -> AsyncIterator[Prepared]:
        """Run an endpoint's setup once (a real resource to probe), and its teardown after."""
        target = endpoint or self.endpoint
        ready = Prepared(dict(self.variables))
        try:
            for name in target.setup:
                await self.flow(name, ready.values, ready.log.append)
            yield ready
        finally:
            for name in target.teardown:
                try:
                    await self.flow(name, ready.values, ready.log.append)
                except SetupError as err:
                    ready.log.append(f"teardown {name} failed: {err}")
