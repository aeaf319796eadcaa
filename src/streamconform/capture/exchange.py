"""Send one request and record its answer as a transcript, without reading a stream.

Auth and token probes only need to know whether a request was refused, and how: the
status, the headers and the error body. A stream that wrongly opens is noted and dropped
at once, so a server that accepts a bad credential costs no more than one that refuses it.
"""

from __future__ import annotations

import httpx

from streamconform.capture.answer import Success, read_answer
from streamconform.capture.requests import RequestPlan
from streamconform.capture.session import TargetSession
from streamconform.core.transcript import Chunk, End, RequestRecord, Transcript
from streamconform.model.spec import Endpoint

__all__ = ["exchange"]


async def exchange(
    session: TargetSession,
    plan: RequestPlan,
    *,
    variant: str,
    endpoint: Endpoint | None = None,
    deadline: float | None = None,
    read_success: bool = False,
    client: httpx.AsyncClient | None = None,
) -> Transcript:
    """One request, bounded by `deadline` as a whole.

    The deadline is the endpoint's response bound unless given. An error answer's body is
    kept up to the error-body limit; a success is read whole only with `read_success` (a
    token endpoint's JSON), else just its first bytes. `client` replaces the session's (a
    race sends on connections of its own).
    """
    endpoint = endpoint or session.endpoint
    client = client or session.client
    redactor, limits = session.redactor, session.limits
    if deadline is None:
        deadline = session.timeouts(endpoint).response
    redactor.add(*plan.secrets)
    request = plan.build(client)
    record = RequestRecord(
        plan.method, redactor.text(str(request.url)), redactor.headers(request.headers.items())
    )
    answer = await read_answer(
        client,
        request,
        deadline=deadline,
        error_limit=limits.max_error_body,
        success=Success.WHOLE if read_success else Success.FIRST_BYTES,
        success_limit=limits.max_body_bytes,
    )
    if answer.timed_out:
        end = End.RESPONSE_TIMEOUT if answer.status is None else End.IDLE_TIMEOUT
        detail = f"no complete answer within {deadline:.1f} s"
    elif answer.error:
        end, detail = End.READ_ERROR, answer.error
    elif answer.accepted and not read_success:
        end, detail = End.CUT, "the request was accepted; the stream was dropped"
    else:
        end, detail = (End.CLOSED if answer.accepted else End.NOT_A_STREAM), ""
    body = answer.body
    return Transcript(
        session.spec.name,
        endpoint.name,
        endpoint.framing.value if endpoint.framing else "",
        record,
        status=answer.status,
        headers=redactor.headers(answer.headers),
        chunks=(Chunk(answer.headers_time or 0.0, 0, body),) if body else (),
        end=end,
        end_detail=redactor.text(detail),
        headers_time=answer.headers_time,
        duration=answer.duration,
        body_bytes=len(body),
        variant=variant,
        echoes=answer.echoes(plan.credential),
    )
