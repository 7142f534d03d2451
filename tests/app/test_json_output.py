"""JSON output by orjson: the same documents the standard library wrote, for every value it took."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from app import json_output
from app.logs import JsonFormatter


@pytest.mark.parametrize(
    "value",
    [
        {"userName": "zoë@example.com", "name": {"givenName": "Zoë"}, "active": True},
        {"emails": [{"value": "a@example.com", "primary": True}], "manager": None},
        {"text": 'quote " backslash \\ newline \n tab \t nul-free \u2028'},
        [0, -1, 2**63 - 1, 1.5, "ünïcödé ✓"],
    ],
)
def test_documents_read_back_as_the_values_written(value: object) -> None:
    written = json_output.dumps(value)
    assert json.loads(written) == value
    assert b"\\u00eb" not in written  # non-ASCII characters as themselves, as SCIM bodies were


def test_values_orjson_refuses_are_written_by_the_standard_library() -> None:
    huge = 2**70  # beyond 64 bits: orjson refuses it, SCIM clients do send such numbers
    assert json.loads(json_output.dumps({"employeeNumber": huge})) == {"employeeNumber": huge}
    assert json.loads(json_output.dumps({1: "one"})) == {"1": "one"}  # non-string key


def test_dates_go_to_the_callers_default_as_with_the_standard_library() -> None:
    at = dt.datetime(2026, 11, 26, 14, 0, tzinfo=dt.UTC)
    written = json.loads(json_output.dumps({"at": at}, default=str))
    assert written == json.loads(json.dumps({"at": at}, default=str)) == {"at": str(at)}
    with pytest.raises(TypeError):  # without a default, a date is refused, as before
        json_output.dumps({"at": at})


def test_a_log_line_stays_one_json_object_whatever_its_extra_values() -> None:
    record = logging.LogRecord("seatgate.test", logging.INFO, "", 0, "request", None, None)
    record.count = 2**70
    record.at = dt.date(2026, 11, 26)
    record.detail = 'a forged\n{"message": "second line"}'
    line = JsonFormatter().format(record)
    assert "\n" not in line  # control characters escaped: one record, one line
    parsed = json.loads(line)
    assert (parsed["message"], parsed["count"], parsed["at"]) == ("request", 2**70, "2026-11-26")
    assert parsed["detail"] == 'a forged\n{"message": "second line"}'
