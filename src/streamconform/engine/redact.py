"""Keep secrets out of everything streamconform writes.

Redaction is by value (every known secret string, wherever it appears) and by name
(credential headers, token query parameters, user:password in URLs), so a secret the
target echoes back in a body, a header or an error message is hidden too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["SENSITIVE_HEADERS", "Redactor"]

SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.I)
_SENSITIVE_PARAMS = re.compile(r"([?&](?:token|api_key|apikey|key|access_token)=)[^&#\s]+", re.I)
_MIN_SECRET = 4


class Redactor:
    """Replaces known secret values and credential-bearing fields with a marker."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Learn more secret values (tokens issued during setup, for instance)."""
        fresh = {s for s in secrets if isinstance(s, str) and len(s) >= _MIN_SECRET}
        if fresh - self._secrets:
            self._secrets |= fresh
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def text(self, value: str) -> str:
        """A string with every secret value and token parameter masked."""
        if self._pattern is not None:
            value = self._pattern.sub("[REDACTED]", value)
        value = _USERINFO.sub(r"\1[REDACTED]@", value)  # https://user:pass@host
        return _SENSITIVE_PARAMS.sub(r"\1[REDACTED]", value)

    def headers(self, headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        """Headers with credential headers masked whole and secrets masked in the rest."""
        return tuple(
            (k, "[REDACTED]" if k.lower() in SENSITIVE_HEADERS else self.text(v))
            for k, v in headers
        )
