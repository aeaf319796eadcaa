"""Date-times as RFC 3339 defines them, and a JSON Schema format checker that uses them.

jsonschema only checks `format: date-time` when an optional package is installed, and
that package is stricter than the RFC (no lowercase t/z, no leap second). One parser
here serves schema validation and the timestamp checks alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jsonschema

__all__ = ["FORMAT_CHECKER", "parse_rfc3339", "schema_validator"]

_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)


def parse_rfc3339(value: object) -> datetime | None:
    """An RFC 3339 date-time (section 5.6) as an aware datetime, or None.

    A leap second (:60) is accepted and read as :59.999999.
    """
    if not isinstance(value, str):
        return None
    found = _DATE_TIME.fullmatch(value)
    if not found:
        return None
    year, month, day, hour, minute, second = (int(found.group(i)) for i in range(1, 7))
    fraction, zone = found.group(7), found.group(8)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    if second == 60:
        second, micro = 59, 999999
    if zone in ("Z", "z"):
        tz = UTC
    else:
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            return None
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError:
        return None


FORMAT_CHECKER = jsonschema.FormatChecker()
FORMAT_CHECKER.checkers = dict(jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers)


@FORMAT_CHECKER.checks("date-time")
def _is_date_time(instance: object) -> bool:
    return not isinstance(instance, str) or parse_rfc3339(instance) is not None


def schema_validator(schema: Mapping[str, Any] | bool) -> jsonschema.Draft202012Validator:
    """A draft 2020-12 validator that checks formats, date-time as RFC 3339 says."""
    return jsonschema.Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
