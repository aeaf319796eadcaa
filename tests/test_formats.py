"""RFC 3339 date-times: one parser for the timestamp checks and for `format: date-time`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import jsonschema
import pytest

from streamconform.formats import FORMAT_CHECKER, parse_rfc3339


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "2025-09-04T16:24:35.185Z",
            datetime(2025, 9, 4, 16, 24, 35, 185000, UTC),
            id="zulu-millis",
        ),
        pytest.param(
            "2025-09-04t16:24:35z",
            datetime(2025, 9, 4, 16, 24, 35, tzinfo=UTC),
            id="lowercase-t-and-z",
        ),
        pytest.param(
            "2025-09-04T16:24:35+05:30",
            datetime(2025, 9, 4, 16, 24, 35, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            id="positive-offset",
        ),
        pytest.param(
            "2025-09-04T16:24:35-00:00",
            datetime(2025, 9, 4, 16, 24, 35, tzinfo=UTC),
            id="unknown-local-offset",
        ),
        pytest.param(
            "2016-12-31T23:59:60Z",
            datetime(2016, 12, 31, 23, 59, 59, 999999, UTC),
            id="leap-second",
        ),
        pytest.param(
            "2025-09-04T16:24:35.1234567Z",
            datetime(2025, 9, 4, 16, 24, 35, 123456, UTC),
            id="long-fraction",
        ),
    ],
)
def test_valid_date_times_parse(text: str, expected: datetime) -> None:
    assert parse_rfc3339(text) == expected
    assert FORMAT_CHECKER.conforms(text, "date-time")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2025-09-04T16:24:35", id="no-zone"),
        pytest.param("2025-09-04 16:24:35Z", id="space-separator"),
        pytest.param("20250904T162435Z", id="basic-format"),
        pytest.param("2025-09-04T16Z", id="hour-only"),
        pytest.param("2025-09-04T16:24:35+0000", id="offset-without-colon"),
        pytest.param("2025-02-30T00:00:00Z", id="no-such-day"),
        pytest.param("2025-09-04T24:00:00Z", id="hour-24"),
        pytest.param("2025-09-04T16:24:35+24:00", id="offset-out-of-range"),
        pytest.param("yesterday", id="words"),
        pytest.param("", id="empty"),
    ],
)
def test_invalid_date_times_are_refused(text: str) -> None:
    assert parse_rfc3339(text) is None
    assert not FORMAT_CHECKER.conforms(text, "date-time")


def test_non_strings_are_not_date_times_but_other_formats_still_apply() -> None:
    assert parse_rfc3339(1693844675) is None
    assert FORMAT_CHECKER.conforms(1693844675, "date-time")  # type is the schema's business
    assert not FORMAT_CHECKER.conforms("not-a-uuid", "uuid")
    schema = {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}}
    validator = jsonschema.Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    assert [e.json_path for e in validator.iter_errors({"at": "soon"})] == ["$.at"]
