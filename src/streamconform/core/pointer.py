"""JSON pointers (RFC 6901), as specs use them to name a value in a JSON answer."""

from __future__ import annotations

from typing import Any

__all__ = ["MISSING", "resolve_pointer"]

MISSING = object()  # what resolve_pointer gives where the document has no such value


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at an RFC 6901 JSON pointer, or a private marker when there is none."""
    node = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return MISSING
    return node
