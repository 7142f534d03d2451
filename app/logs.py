"""Structured logs: one JSON object per line on stderr, with the request id when there is one."""

from __future__ import annotations

import logging
import sys
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
        payload: dict[str, Any] = {
            "time": self._time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json_output.dumps(payload, default=str).decode()


def configure_logging(level: str) -> None:
    # No record needs the caller's file and line (the JSON lines do not show them), and
    # finding them walks the stack on every call: the logging HOWTO's documented switch
    # ("Optimization") turns that off for the process.
    logging._srcfile = None
    # Same HOWTO section: no record of ours shows its thread, process or multiprocessing
    # name (they are standard attributes, left out of the JSON), so do not look them up.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger("seatgate")
    root.setLevel(level.upper())
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.propagate = False
