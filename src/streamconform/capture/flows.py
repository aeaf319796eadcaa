"""Run setup flows: the requests that make a stream possible, capturing variables."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from streamconform.capture.requests import Timeouts, plan_request
from streamconform.core.pointer import MISSING, resolve_pointer
from streamconform.core.redact import Redactor
from streamconform.errors import SetupError
from streamconform.model.spec import Endpoint, FlowStep, Spec
from streamconform.model.timing import scaled

__all__ = ["describe_http_error", "run_flow"]

_MAX_SETUP_BODY = 1 << 20


def _step_deadline(endpoint: Endpoint, scale: float) -> float:
    """A setup request may take as long as its endpoint's own bounds allow."""
    timeouts = Timeouts.for_endpoint(endpoint, scale)
    return timeouts.max_duration if endpoint.is_stream else timeouts.response


async def _fetch(client: httpx.AsyncClient, request: httpx.Request) -> tuple[httpx.Response, bytes]:
    """Send a request and read at most _MAX_SETUP_BODY bytes of its answer."""
    response = await client.send(request, stream=True)
    body = bytearray()
    try:
        async for piece in response.aiter_bytes():
            body += piece
            if len(body) >= _MAX_SETUP_BODY:
                break
    finally:
        await response.aclose()
    return response, bytes(body[:_MAX_SETUP_BODY])


def describe_http_error(err: httpx.HTTPError) -> str:
    """One line for a transport failure: what failed and against which URL."""
    kind = type(err).__name__
    detail = str(err) or "no detail"
    try:
        url = str(err.request.url)
    except RuntimeError:
        url = ""
    return f"{kind} ({detail})" + (f" for {url}" if url else "")


def _captured(
    step: FlowStep, response: httpx.Response, document: Any, where: str
) -> dict[str, Any]:
    values = {}
    for name, source in step.capture.items():
        if source.startswith("header:"):
            value = response.headers.get(source[len("header:") :].strip())
        else:
            value = resolve_pointer(document, source)
        if value is None or value is MISSING:
            raise SetupError(f"{where}: response has nothing at {source} to capture as {name}")
        values[name] = value
    return values


async def run_flow(
    client: httpx.AsyncClient,
    spec: Spec,
    flow_name: str,
    base_url: str,
    variables: dict[str, Any],
    *,
    scale: float,
    redactor: Redactor,
    log: Callable[[str], None],
) -> None:
    """Run every step of a flow in order, adding its captures to `variables`."""
    flow = spec.flows[flow_name]
    for number, step in enumerate(flow.steps, 1):
        endpoint = spec.endpoints[step.endpoint]
        where = f"flow {flow_name}, step {number} ({endpoint.method} {endpoint.path})"
        deadline = time.monotonic() + (scaled(step.until.timeout, scale) if step.until else 0)
        while True:
            plan = plan_request(
                spec,
                endpoint,
                base_url,
                variables,
                body=step.body,
                query=step.query,
                headers=step.headers,
            )
            redactor.add(*plan.secrets)
            limit = _step_deadline(endpoint, scale)
            try:
                async with asyncio.timeout(limit):
                    response, body = await _fetch(client, plan.build(client))
            except TimeoutError:
                raise SetupError(f"{where}: no complete answer within {limit:.1f} s") from None
            except httpx.HTTPError as err:
                raise SetupError(redactor.text(f"{where}: {describe_http_error(err)}")) from None
            log(redactor.text(f"{plan.method} {plan.url} -> {response.status_code}"))
            expected = step.expect or endpoint.success
            if response.status_code not in expected:
                shown = body[:200].decode("utf-8", "replace")
                raise SetupError(
                    redactor.text(
                        f"{where}: expected status {' or '.join(map(str, expected))}, "
                        f"got {response.status_code} {shown!r}"
                    )
                )
            try:
                document = json.loads(body) if body else None
            except ValueError:
                document = None
            if step.until is not None:
                value = resolve_pointer(document, step.until.pointer)
                if value != step.until.equals:
                    if time.monotonic() >= deadline:
                        raise SetupError(
                            f"{where}: {step.until.pointer} was still {value!r}, not "
                            f"{step.until.equals!r}, after "
                            f"{scaled(step.until.timeout, scale):.1f} s"
                        )
                    await asyncio.sleep(scaled(step.until.interval, scale, floor=0.01))
                    continue
            captured = _captured(step, response, document, where)
            redactor.add(*(str(captured[n]) for n in step.secret_captures if n in captured))
            variables.update(captured)
            break
