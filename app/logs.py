"""Structured logs: one JSON object per line on stderr, with the request id when there is one."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from app import json_output

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and every ``extra`` field."""

    _cached: tuple[int, str] = (-1, "")  # (second, formatted): one tuple, so threads agree

    def _time(self, record: logging.LogRecord) -> str:
        """The record's time to the second, formatted once per second (one line per request
        makes ``formatTime`` a visible share of a fast request)."""
        second = int(record.created)
        cached_second, stamp = self._cached
        if second != cached_second:
            stamp = self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z")
            self._cached = (second, stamp)
        return stamp

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line, whatever it holds.

        A log line must never fail: a handler that raises prints a traceback into the log
        instead of the line (logging's ``handleError``). A message whose ``%`` arguments do
        not fit it (a library's bug, such as a ``%d`` given ``None``) is kept as written with
        the arguments beside it, and a value that cannot even be turned into text is shown by
        its ``repr``.
        """
        payload: dict[str, Any] = {
            "time": self._time(record),
            "level": record.levelname,
            "logger": record.name,
        }
        try:
            payload["message"] = record.getMessage()
        except Exception:
            payload["message"] = _text(record.msg)
            payload["args"] = _text(record.args, repr)
        payload.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json_output.dumps(payload, default=_text).decode()


def _text(value: Any, convert: Callable[[Any], str] = str) -> str:
    """``convert(value)``, else its ``repr``, else a placeholder: never an exception."""
    for attempt in (convert, repr):
        try:
            return attempt(value)
        except Exception:  # noqa: S112 - a broken __str__ or __repr__: try the next form
            continue
    return f"<unprintable {type(value).__name__}>"


def configure_logging(level: str) -> None:
    # No record needs the caller's file and line (the JSON lines do not show them), and
    # finding them walks the stack on every call: the logging HOWTO's documented switch
    # ("Optimization") turns that off for the process.
    logging._srcfile = None
    # Same HOWTO section: no record of ours shows its multiprocessing name, so do not look
    # it up. Threads and process ids stay on: other formatters in the process (gunicorn's
    # own writes ``%(process)d``) fail on a record without them.
    logging.logMultiprocessing = False
    root = logging.getLogger("seatgate")
    root.setLevel(level.upper())
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.propagate = False
