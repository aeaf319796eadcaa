"""Keep secrets out of everything streamconform writes.

Redaction is by value (every known secret string, wherever it appears, also in the
encoded forms it takes in URLs, form bodies, JSON and Python reprs) and by name
(credential headers, token query parameters, user:password in URLs), so a secret the
target echoes back in a body, a header or an error message is hidden too.

Anything that shows part of a text must redact (or `mask`) the whole of it first and
cut it only afterwards: a secret cut in two is no longer recognisable, and its first
half would be shown as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import AnyStr
from urllib.parse import quote, quote_plus

__all__ = ["MARKER", "SENSITIVE_HEADERS", "Redactor"]

SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)
_PARAM_NAMES = (
    "token|api_key|apikey|key|access_token|x-api-key|api-key|access-token"
    "|auth|auth_token|authorization"
)
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.I)
_SENSITIVE_PARAMS = re.compile(rf"([?&](?:{_PARAM_NAMES})=)[^&#\s]+", re.I)
_USERINFO_BYTES = re.compile(rb"(\b[a-z][a-z0-9+.-]*://)([^/@\s]+)@", re.I)
_SENSITIVE_PARAMS_BYTES = re.compile(rf"([?&](?:{_PARAM_NAMES})=)([^&#\s]+)".encode(), re.I)
_PERCENT = re.compile(r"%[0-9A-F]{2}")
_MIN_SECRET = 4
MARKER = "[REDACTED]"  # what stands for a secret in text


def _forms(secret: str) -> set[str]:
    """A secret and the encoded forms it takes in output: percent-encoded (in a path or a
    query, with upper- or lower-case hex), form-encoded, escaped in a JSON string (with
    and without \\u escapes, with and without an escaped solidus), and any of these in a
    Python repr (a finding quoting a body that holds the secret JSON-escaped)."""
    escaped = json.dumps(secret)[1:-1]
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        escaped,
        escaped.replace("/", "\\/"),
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    forms |= {_PERCENT.sub(lambda m: m.group().lower(), f) for f in forms}
    forms |= {repr(f)[1:-1] for f in forms}
    return {f for f in forms if len(f) >= _MIN_SECRET}


def _spans(haystack: AnyStr, needles: Sequence[AnyStr]) -> list[tuple[int, int]]:
    """Where any needle occurs, overlapping occurrences merged: sorted (start, stop) pairs."""
    found = []
    for needle in needles:
        at = haystack.find(needle)
        while at != -1:
            found.append((at, at + len(needle)))
            at = haystack.find(needle, at + 1)
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def _stars(match: re.Match[bytes]) -> bytes:
    """The match with its second group (a credential) turned into as many `*`."""
    name, value = match.group(1), match.group(2)
    return name + b"*" * len(value) + match.string[match.end(2) : match.end()]


class Redactor:
    """Replaces known secret values and credential-bearing fields with a marker."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._needles: tuple[str, ...] = ()
        self._byte_needles: tuple[bytes, ...] = ()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Learn more secret values (tokens issued during setup, for instance), with the
        encoded forms each can take in output."""
        fresh: set[str] = set()
        for secret in secrets:
            if isinstance(secret, str) and len(secret) >= _MIN_SECRET:
                fresh |= _forms(secret)
        if fresh - self._secrets:
            self._secrets |= fresh
            # longest first: where one secret holds another, the whole of it is hidden
            self._needles = tuple(sorted(self._secrets, key=len, reverse=True))
            self._byte_needles = tuple(s.encode("utf-8") for s in self._needles)

    @property
    def longest_secret(self) -> int:
        """The length in UTF-8 bytes (never less than in characters) of the longest known
        secret form, 0 when none is known: the margin to mask around a cut."""
        return max((len(s) for s in self._byte_needles), default=0)

    def text(self, value: str) -> str:
        """A string with every secret value and token parameter masked."""
        spans = _spans(value, self._needles)
        if spans:
            pieces, last = [], 0
            for start, stop in spans:
                pieces += [value[last:start], MARKER]
                last = stop
            value = "".join([*pieces, value[last:]])
        value = _USERINFO.sub(rf"\1{MARKER}@", value)  # https://user:pass@host
        return _SENSITIVE_PARAMS.sub(rf"\1{MARKER}", value)

    def mask(self, data: bytes) -> bytes:
        """The same bytes with every known secret (in every form, UTF-8 encoded), every
        token query parameter's value and every user:password in a URL replaced by as
        many `*`: lengths and offsets are unchanged, so it can be applied to a whole body
        before the body is cut into chunks, lines or windows."""
        spans = _spans(data, self._byte_needles)
        if spans:
            masked = bytearray(data)
            for start, stop in spans:
                masked[start:stop] = b"*" * (stop - start)
            data = bytes(masked)
        data = _USERINFO_BYTES.sub(_stars, data)
        return _SENSITIVE_PARAMS_BYTES.sub(_stars, data)

    def mask_cut(self, data: bytes) -> bytes:
        """As `mask`, for bytes that stop where reading stopped rather than where the body
        ended: the first bytes of a secret at the very end, whose rest was never read and
        so cannot be recognised, are masked too."""
        data = self.mask(data)
        cut = 0
        for needle in self._byte_needles:
            for size in range(min(len(needle) - 1, len(data)), cut, -1):
                if data.endswith(needle[:size]):
                    cut = size
                    break
        return data[: len(data) - cut] + b"*" * cut if cut else data

    def headers(self, headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        """Headers with credential headers masked whole and secrets masked in the rest."""
        return tuple(
            (k, MARKER if k.lower() in SENSITIVE_HEADERS else self.text(v)) for k, v in headers
        )
