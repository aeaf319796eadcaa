"""Checks: pure functions over transcripts, registered by rule id.

Importing this package registers every built-in check.
"""

from streamconform.checks import (
    auth,
    bad_input,
    delivery,
    http,
    ndjson,
    ordering,
    reconnection,
    sse,
    terminal,
    text,
    tokens,
)
from streamconform.checks.registry import (
    REGISTRY,
    Check,
    Finding,
    Untestable,
    check,
    not_applicable,
)

__all__ = ["REGISTRY", "Check", "Finding", "Untestable", "check", "not_applicable"]
_MODULES = (
    auth,
    bad_input,
    delivery,
    http,
    ndjson,
    ordering,
    reconnection,
    sse,
    terminal,
    text,
    tokens,
)
