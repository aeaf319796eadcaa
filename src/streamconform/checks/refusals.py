"""How a refused request must look: its status, before any stream, with the endpoint's
documented error body. Documented errors, bad keys and spent tokens are all judged so."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator

from jsonschema.exceptions import best_match

from streamconform.checks.headers import FRAMING_MEDIA, media_type
from streamconform.checks.registry import Finding, Untestable
from streamconform.core.transcript import End, Transcript
from streamconform.formats import schema_validator
from streamconform.model.spec import Endpoint, Framing

__all__ = ["body_text", "is_accepted", "refusal_findings"]

# an error answer in a stream's media type would be read as (a broken) stream
_STREAM_MEDIA = FRAMING_MEDIA[Framing.SSE] | FRAMING_MEDIA[Framing.NDJSON]


def body_text(t: Transcript) -> str:
    """The body as captured, decoded for a message (the verdict redacts and clips it)."""
    return b"".join(c.data for c in t.chunks).decode("utf-8", "replace")


def is_accepted(t: Transcript) -> bool:
    return t.status is not None and 200 <= t.status < 300


def refusal_findings(
    t: Transcript, ep: Endpoint, statuses: Collection[int], why: str
) -> Iterator[Finding]:
    """Findings unless the answer has one of `statuses`, a non-stream media type and, when
    the spec documents one, a JSON body valid against the endpoint's error schema (with
    the documented error code for that status).

    An accepted request is the document's finding (it asked for a refusal); which refusal
    status and what body rest on the endpoint's `errors` and `error_schema`, which a spec
    may only assume.
    """
    if t.end is End.SETUP_FAILED:
        raise Untestable(f"the request could not be prepared: {t.end_detail}")
    codes = " or ".join(str(s) for s in sorted(statuses))
    body_kind = "the documented JSON error body" if ep.error_schema is not None else "an error"
    expected = f"status {codes} ({why}) with {body_kind}, before any stream"
    where = f"endpoints.{ep.name}"
    if t.status is None:
        yield Finding(expected, f"no response ({t.end.value}): {t.end_detail}")
        return
    shown = body_text(t)
    if t.status not in statuses:
        if is_accepted(t):
            what = "a stream" if ep.is_stream else "the request was accepted"
            yield Finding(expected, f"status {t.status}, {what}: {shown!r}", 0)
        else:
            basis = f"{where}.errors.{min(statuses)}"
            yield Finding(expected, f"status {t.status}, an error: {shown!r}", 0, basis=basis)
        return
    body = f"{where}.error_schema"
    content_type = media_type(t.header("content-type"))
    if content_type in _STREAM_MEDIA:
        yield Finding(
            expected, f"an error status with a stream content type {content_type}", 0, basis=body
        )
    if ep.error_schema is None:
        return
    try:
        document = json.loads(shown)
    except ValueError:
        yield Finding(expected, f"a body that is not JSON: {shown!r}", 0, basis=body)
        return
    error = best_match(schema_validator(ep.error_schema).iter_errors(document))
    if error is not None:
        yield Finding(expected, f"{error.json_path}: {error.message}", 0, basis=body)
    case = next((e for e in ep.errors if e.status == t.status and e.error), None)
    if case is not None and isinstance(document, dict) and document.get("error") != case.error:
        yield Finding(
            f"error code {case.error!r}",
            f"error {document.get('error')!r}",
            0,
            basis=f"{where}.errors.{case.status}.error",
        )
