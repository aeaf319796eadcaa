"""streamconform: conformance testing for streaming HTTP endpoints (SSE, NDJSON, text).

The public surface is listed in `__all__`; everything else is internal.
"""

from __future__ import annotations

import importlib
from typing import Any

# Each public name and the module that defines it. They load on first use, so that importing
# one part (the decoders, say) does not load the HTTP client, schemathesis or the servers.
_PUBLIC = {
    "Case": "streamconform.engine.run",
    "Check": "streamconform.checks",
    "check": "streamconform.checks",
    "Chunk": "streamconform.core.transcript",
    "ConformanceRun": "streamconform.engine.run",
    "End": "streamconform.core.transcript",
    "Endpoint": "streamconform.model",
    "Event": "streamconform.decode",
    "Finding": "streamconform.core.finding",
    "InternalError": "streamconform.errors",
    "Limits": "streamconform.capture.recorder",
    "load_spec": "streamconform.model",
    "NDJSONDecoder": "streamconform.decode",
    "Note": "streamconform.decode",
    "Outcome": "streamconform.core.outcome",
    "Recorder": "streamconform.capture.recorder",
    "REGISTRY": "streamconform.checks",
    "Result": "streamconform.core.outcome",
    "RunConfig": "streamconform.engine.run",
    "SetupError": "streamconform.errors",
    "Spec": "streamconform.model",
    "SpecError": "streamconform.errors",
    "SSEDecoder": "streamconform.decode",
    "StreamConformError": "streamconform.errors",
    "TargetError": "streamconform.errors",
    "TextDecoder": "streamconform.decode",
    "Transcript": "streamconform.core.transcript",
    "Untestable": "streamconform.core.finding",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
