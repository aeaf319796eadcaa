"""Find a credential the server sent back: a token echoed in a header or a body is read
by every log, cache and proxy that sees the response."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["Echo", "find_echoes"]

_SHORTEST = 4  # an empty or tiny value is found everywhere and proves nothing


@dataclass(frozen=True, slots=True)
class Echo:
    """Where a response carried a credential of the request: a header, or a body offset."""

    scheme: str
    where: str
    offset: int | None = None


def _forms(value: str) -> set[bytes]:
    """The value as sent and as a URL would carry it."""
    return {value.encode(), quote(value, safe="").encode()}


def find_echoes(
    scheme: str, value: str, headers: Iterable[tuple[str, str]], body: bytes
) -> tuple[Echo, ...]:
    """Every header that holds the value, and its first place in the body."""
    if len(value) < _SHORTEST:
        return ()
    forms = _forms(value)
    found = [
        Echo(scheme, f"response header {name}")
        for name, text in headers
        if any(form in text.encode("utf-8", "replace") for form in forms)
    ]
    offsets = [at for form in forms if (at := body.find(form)) >= 0]
    if offsets:
        found.append(Echo(scheme, f"response body at byte {min(offsets)}", min(offsets)))
    return tuple(found)
