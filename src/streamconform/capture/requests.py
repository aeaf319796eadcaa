"""Turn a spec endpoint plus variables into an HTTP request, and make the client that sends it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from streamconform.errors import AbsentVariable, absent_detail
from streamconform.model.spec import Endpoint, Spec
from streamconform.model.templates import MissingVariable, render, render_path
from streamconform.model.timing import MIN_BOUND, scaled

__all__ = ["CONNECT_TIMEOUT", "RequestPlan", "Timeouts", "new_client", "plan_request"]

CONNECT_TIMEOUT = 5.0
# How long a long-lived stream is watched after the awaited terminal event: a server that
# closes it "because the run ended" does so at once, so a short look is enough.
LINGER = 1.0


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Effective bounds in seconds for one capture, already scaled and floored."""

    response: float
    idle: float
    max_duration: float
    close_after_terminal: float
    linger: float

    @classmethod
    def for_endpoint(cls, endpoint: Endpoint, scale: float) -> Timeouts:
        t = endpoint.timing
        return cls(
            response=scaled(t.response_timeout, scale),
            idle=scaled(t.idle_timeout, scale),
            max_duration=t.max_duration * scale + MIN_BOUND,
            close_after_terminal=scaled(t.close_after_terminal, scale),
            linger=LINGER,
        )


@dataclass(slots=True)
class RequestPlan:
    """A request ready to send; `secrets` are values it carries that reports must hide."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    secrets: list[str] = field(default_factory=list)
    credential: tuple[str, str] | None = None  # (auth scheme, value) the request carries

    def build(self, client: httpx.AsyncClient) -> httpx.Request:
        return client.build_request(
            self.method,
            self.url,
            headers=self.headers,
            params=self.params or None,
            json=self.json,
        )


def new_client(connections: int = 100) -> httpx.AsyncClient:
    """An HTTP client that ignores proxy and netrc settings from the environment.

    A conformance verdict must not depend on the machine it runs on, and a proxy
    between us and the target would change exactly what we measure. `connections`
    bounds how many requests are in flight at once.
    """
    return httpx.AsyncClient(
        trust_env=False,
        follow_redirects=False,
        # every wait after the connect is bounded by the endpoint's own bounds (response,
        # idle, maximum duration: capture.stream, capture.answer); a constant read timeout
        # here would cut a stream whose documented silence is longer
        timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT),
        headers={"user-agent": "streamconform"},
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=20),
    )


def _as_text(mapping: Mapping[str, Any]) -> dict[str, str]:
    return {
        k: v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in mapping.items()
    }


def plan_request(
    spec: Spec,
    endpoint: Endpoint,
    base_url: str,
    variables: Mapping[str, Any],
    *,
    body: Any = None,
    query: Mapping[str, Any] | None = None,
    headers: Mapping[str, Any] | None = None,
    omit_auth: bool = False,
) -> RequestPlan:
    """Render an endpoint's request; `body`, `query` and `headers` override the spec's."""
    try:
        url = base_url.rstrip("/") + render_path(endpoint.path, variables)
        plan = RequestPlan(
            method=endpoint.method,
            url=url,
            headers=_as_text(render({**endpoint.headers, **(headers or {})}, variables)),
            params=_as_text(render({**endpoint.query, **(query or {})}, variables)),
            json=render(body if body is not None else endpoint.body, variables),
        )
        scheme = spec.auth.get(endpoint.auth) if endpoint.auth else None
        if scheme is not None and not omit_auth:
            value = str(render(scheme.value, variables))
            plan.secrets.append(value)
            plan.credential = (scheme.name, value)
            if scheme.is_key:
                plan.headers[scheme.header] = scheme.header_value(value)
            else:
                plan.params[scheme.param] = value
    except MissingVariable as err:
        raise AbsentVariable(f"{endpoint.name}: {absent_detail(err.args[0])}") from None
    return plan
