"""A log line never fails: whatever a record holds, it becomes one JSON line."""

from __future__ import annotations

import json
import logging

from app.logs import JsonFormatter


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


def test_a_message_whose_arguments_do_not_fit_keeps_both() -> None:
    """gunicorn logs ``"Worker exiting (pid: %d)"``-style messages; an argument that does not
    fit the format (here ``None`` for ``%d``) must not turn the line into a traceback."""
    record = logging.LogRecord(
        "gunicorn.error", logging.INFO, "", 0, "Worker exiting (pid: %d)", (None,), None
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "Worker exiting (pid: %d)"
    assert line["args"] == "(None,)"
    assert line["level"] == "INFO"


def test_values_without_any_text_are_named_not_raised() -> None:
    record = logging.LogRecord("seatgate.test", logging.WARNING, "", 0, Unprintable(), None, None)
    record.detail = Unprintable()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "<unprintable Unprintable>"
    assert line["detail"] == "<unprintable Unprintable>"


def test_a_handler_with_the_formatter_writes_no_logging_error(capsys) -> None:  # type: ignore[no-untyped-def]
    logger = logging.getLogger("seatgate.test.never_fails")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("%s and %s", "only one")
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "Logging error" not in err
    assert json.loads(err)["message"] == "%s and %s"
