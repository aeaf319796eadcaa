"""Checks: pure functions over transcripts, registered by rule id.

Importing this package registers every built-in check. Each rule family lives in the
module named after its id prefix (auth.* in checks/auth.py, token.* in checks/token.py);
helpers shared by several families sit in modules named for what they hold
(event_fields, headers, refusals), and the registry in registry.
"""

# The modules are imported in this order, not alphabetically, so that the checks register,
# and so run and are reported, in the order they did before each family had its own module.
# isort: off
from streamconform.checks import (
    http,
    auth,
    input,
    encoding,
    stream,
    ndjson,
    schema,
    order,
    event,
    filter,
    resume,
    sse,
    terminal,
    text,
    token,
)

# isort: on
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
    http,
    auth,
    input,
    encoding,
    stream,
    ndjson,
    schema,
    order,
    event,
    filter,
    resume,
    sse,
    terminal,
    text,
    token,
)
