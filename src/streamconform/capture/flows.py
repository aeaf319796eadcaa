"""Run setup flows: the requests that make a stream possible, capturing variables."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from streamconform.capture.answer import Answer, Success, read_answer
from streamconform.capture.requests import Timeouts, plan_request
from streamconform.core.pointer import MISSING, resolve_pointer
from streamconform.core.redact import Redactor
from streamconform.errors import SetupError
from streamconform.model.spec import Endpoint, FlowStep, Spec
from streamconform.model.timing import scaled

__all__ = ["run_flow"]

_MAX_SETUP_BODY = 1 << 20


def _step_deadline(endpoint: Endpoint, scale: float) -> float:
    """A setup request may take as long as its endpoint's own bounds allow."""
    timeouts = Timeouts.for_endpoint(endpoint, scale)
    return timeouts.max_duration if endpoint.is_stream else timeouts.response


def _captured(step: FlowStep, answer: Answer, document: Any, where: str) -> dict[str, Any]:
    values = {}
    for name, source in step.capture.items():
        if source.startswith("header:"):
            value = answer.header(source[len("header:") :].strip())
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
            answer = await read_answer(
                client,
                plan.build(client),
                deadline=limit,
                error_limit=_MAX_SETUP_BODY,
                success=Success.WHOLE,
            )
            if answer.timed_out:
                raise SetupError(f"{where}: no complete answer within {limit:.1f} s")
            if answer.error:
                raise SetupError(redactor.text(f"{where}: {answer.error}"))
            body = answer.body[:_MAX_SETUP_BODY]
            log(redactor.text(f"{plan.method} {plan.url} -> {answer.status}"))
            expected = step.expect or endpoint.success
            if answer.status not in expected:
                shown = body[:200].decode("utf-8", "replace")
                raise SetupError(
                    redactor.text(
                        f"{where}: expected status {' or '.join(map(str, expected))}, "
                        f"got {answer.status} {shown!r}"
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
            captured = _captured(step, answer, document, where)
            redactor.add(*(str(captured[n]) for n in step.secret_captures if n in captured))
            variables.update(captured)
            break
