"""streamconform: conformance testing for streaming HTTP endpoints (SSE, NDJSON, text).

The public surface is listed in `__all__`; everything else is internal.
"""

from streamconform.checks import REGISTRY, Check, Finding, Untestable, check
from streamconform.decode import Event, NDJSONDecoder, Note, SSEDecoder, TextDecoder
from streamconform.engine.recorder import Limits, Recorder
from streamconform.engine.run import Case, ConformanceRun, RunConfig
from streamconform.engine.verdict import Outcome, Result
from streamconform.errors import (
    InternalError,
    SetupError,
    SpecError,
    StreamConformError,
    TargetError,
)
from streamconform.model import Endpoint, Spec, load_spec
from streamconform.transcript import Chunk, End, Transcript

__all__ = [
    "REGISTRY",
    "Case",
    "Check",
    "Chunk",
    "ConformanceRun",
    "End",
    "Endpoint",
    "Event",
    "Finding",
    "InternalError",
    "Limits",
    "NDJSONDecoder",
    "Note",
    "Outcome",
    "Recorder",
    "Result",
    "RunConfig",
    "SSEDecoder",
    "SetupError",
    "Spec",
    "SpecError",
    "StreamConformError",
    "TargetError",
    "TextDecoder",
    "Transcript",
    "Untestable",
    "check",
    "load_spec",
]
