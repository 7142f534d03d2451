"""gunicorn's configuration for seatgate: ``gunicorn --config python:app.serving …``.

``seatgate serve`` runs gunicorn with this module, and ``config/gunicorn.conf.py`` takes its
logging and hooks from it, so that every way of serving seatgate has:

- **one log format**: gunicorn's own lines (start-up, worker boots and exits, errors), and
  its access lines where its access log is on, are JSON lines like the application's (the
  application writes an access line of its own, ``"message": "request"``, so ``seatgate
  serve`` leaves gunicorn's off), as are other libraries' warnings;
- **metrics that add up**: gunicorn's workers are separate processes, each counting the
  requests it served. prometheus_client's multiprocess mode keeps every worker's counters in
  files of one directory (``PROMETHEUS_MULTIPROC_DIR``) and ``/metrics`` sums them, whichever
  worker answers the scrape. A worker's files stay after it exits, so its counts survive a
  worker restart; the directory is emptied when the server starts, so a restart of the whole
  server starts counting again from zero (which Prometheus' ``rate()`` and ``increase()``
  expect).

The directory is the one named by ``PROMETHEUS_MULTIPROC_DIR`` (created if missing; one per
server, never shared) or else a fresh temporary one, removed when the server stops. It must be
set before the workers import prometheus_client, so the hooks set it in the master, before
the first worker is forked, and this module never imports prometheus_client at import time.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

from app.logs import JsonFormatter

MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"


class JsonLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn's logger (its documented ``logger_class`` setting), writing JSON lines.

    gunicorn still decides where its lines go (``errorlog``, ``accesslog``) and at which
    level; only their format changes. (A ``logconfig_dict`` would turn gunicorn's access
    log on for every request, whatever ``accesslog`` says.)
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())
        root = logging.getLogger()
        if not root.handlers:  # other libraries' warnings: JSON too, not logging's last resort
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(JsonFormatter())
            root.addHandler(handler)


logger_class = JsonLogger

_created_directory: str | None = None  # the master's own temporary directory, if it made one


def on_starting(_server: Any) -> None:
    """Prepare the metrics directory before any worker exists."""
    global _created_directory
    directory = os.environ.get(MULTIPROCESS_DIRECTORY)
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        for stale in Path(directory).glob("*.db"):  # a previous run's workers
            stale.unlink()
    else:
        directory = _created_directory = tempfile.mkdtemp(prefix="seatgate-metrics-")
        os.environ[MULTIPROCESS_DIRECTORY] = directory


def child_exit(_server: Any, worker: Any) -> None:
    """A worker exited: its live gauges go, its counters stay in the sums."""
    if os.environ.get(MULTIPROCESS_DIRECTORY):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(_server: Any) -> None:
    """Remove the temporary metrics directory this server made (a given one is kept)."""
    if _created_directory is not None:
        shutil.rmtree(_created_directory, ignore_errors=True)
