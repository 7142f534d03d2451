"""Connection logs for the customer's IT admin: each SSO sign-in and each SCIM request.

They answer "why did this sign-in or provisioning call fail?" without a support ticket, so
they hold what an admin may see and nothing more: no bearer token, no password, no SAML
message, and no personal field of a SCIM body except ``userName`` (see :func:`redact`). Rows
older than the retention (``logs.retention_days``) are removed by ``seatgate logs prune``.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, insert, select
from sqlalchemy.orm import Session

from app.db import DATABASE_OUTAGES, Database
from app.models import ScimRequestLog, SignInLog, utcnow

log = logging.getLogger("seatgate.connection_logs")

REDACTED = "[redacted]"
MAX_DETAIL = 500
PAGE_SIZE = 100
# Keys whose values are protocol structure, not personal data: kept as sent.
_KEPT = frozenset({"schemas", "username", "active", "op", "path", "startindex", "count"})


def redact(value: Any, key: str | None = None) -> Any:
    """A copy of a SCIM body with every value replaced except ``userName`` and structure.

    Keys stay (an admin sees which attributes were sent), booleans stay (``active``), every
    other scalar becomes ``"[redacted]"``. Unknown keys such as ``password`` are redacted too.
    """
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item, key) for item in value]
    if (key is not None and key.casefold() in _KEPT) or isinstance(value, bool) or value is None:
        return value
    return REDACTED


@dataclass(frozen=True)
class Step:
    """One validation step of a sign-in and how it went."""

    name: str
    passed: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "result": "passed" if self.passed else "failed",
            "detail": self.detail[:MAX_DETAIL],
        }


_INSERT_SIGN_IN = insert(SignInLog.__table__)  # type: ignore[arg-type]


def record_sign_in(
    session: Session,
    organization_id: int,
    *,
    steps: Sequence[Step],
    outcome: str,
    subject: str | None,
    test: bool,
    request_id: str | None,
    error_id: str | None,
) -> None:
    """Write a sign-in's log row with the caller's transaction (a plain INSERT: nothing
    reads it back there)."""
    session.execute(
        _INSERT_SIGN_IN,
        {
            "organization_id": organization_id,
            "created_at": utcnow(),
            "request_id": request_id,
            "error_id": error_id,
            "outcome": outcome[:32],
            "subject": subject[:320] if subject else None,
            "test": test,
            "steps": [step.as_dict() for step in steps],
        },
    )


def scim_request_row(
    organization_id: int,
    *,
    method: str,
    path: str,
    status: int,
    scim_type: str | None,
    latency_ms: int,
    body: Any,
    request_id: str | None,
) -> dict[str, Any]:
    """The log row of one SCIM request, redacted and truncated to the columns' sizes."""
    return {
        "organization_id": organization_id,
        "created_at": utcnow(),
        "request_id": request_id,
        "method": method[:8],
        "path": path[:512],
        "status": status,
        "scim_type": scim_type[:32] if scim_type else None,
        "latency_ms": max(latency_ms, 0),
        "body": None if body is None else redact(body),
    }


_INSERT_SCIM_REQUESTS = insert(ScimRequestLog.__table__)  # type: ignore[arg-type]


class ScimRequestRecorder:
    """Writes SCIM request log rows in batches, from a thread of its own.

    Why batches: writing the row in a transaction of its own doubled the cost of a SCIM read,
    and on SQLite made every ``GET`` queue for the database's single write lock behind the
    creates of an initial sync. A row is written at most ``interval`` seconds after its
    request. The price: rows still pending are lost if the process is killed with SIGKILL
    (a normal exit writes them). Only these diagnostics are buffered; seats, the ledger, the
    audit log and alerts are written in the request's own transaction, always.
    ``interval = 0`` writes each row at once, in the request.
    """

    def __init__(self, database: Database, interval: float, max_pending: int = 10_000) -> None:
        self._database = database
        self._interval = interval
        self._max_pending = max_pending
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one batch at a time, so rows keep their order
        self._closed = threading.Event()
        self._flusher_pid: int | None = None  # threads do not survive a fork: one per process
        atexit.register(self.close)
        database.before_dispose(self.close)

    def record(self, row: dict[str, Any]) -> None:
        if self._interval <= 0 or self._closed.is_set():
            self._write([row])
            return
        with self._lock:
            if len(self._pending) >= self._max_pending:
                log.warning("SCIM request log buffer full; a row was dropped")
                return
            self._pending.append(row)
            if self._flusher_pid != os.getpid():
                self._flusher_pid = os.getpid()
                threading.Thread(
                    target=self._flush_every_interval, name="seatgate-scim-log", daemon=True
                ).start()

    def flush(self) -> int:
        """Write every pending row now (readers of the log call this first); returns how many."""
        with self._flushing:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                self._write(batch)
                return len(batch)
            except DATABASE_OUTAGES:
                if self._closed.is_set():  # the process is ending: nobody will retry
                    log.exception("%d SCIM request log rows could not be written", len(batch))
                    return 0
                log.exception("could not write %d SCIM request log rows; will retry", len(batch))
                with self._lock:  # back in front, oldest first, within the bound
                    self._pending = (batch + self._pending)[: self._max_pending]
                return 0
            except Exception:  # a row the database refuses (its organization was deleted)
                return self._write_one_by_one(batch)

    def _write_one_by_one(self, batch: list[dict[str, Any]]) -> int:
        """Keep every row that can be written, drop the ones that never will."""
        written = 0
        for row in batch:
            try:
                self._write([row])
                written += 1
            except Exception:
                log.exception("dropped a SCIM request log row the database refuses")
        return written

    def close(self) -> None:
        """Write what is pending and stop the thread; later rows are written at once."""
        self._closed.set()
        self.flush()

    def _write(self, rows: list[dict[str, Any]]) -> None:
        with self._database.unit_of_work() as session:
            session.execute(_INSERT_SCIM_REQUESTS, rows)

    def _flush_every_interval(self) -> None:
        while not self._closed.wait(self._interval):
            self.flush()


@dataclass(frozen=True)
class LogFilter:
    """What the pages and the API can filter on; ``before_id`` pages back in time."""

    outcome: str | None = None  # sign-ins: "signed_in", "refused", "test"
    status: int | None = None  # SCIM: an HTTP status
    failed_only: bool = False
    before_id: int | None = None
    limit: int = PAGE_SIZE


def sign_ins(session: Session, organization_id: int, where: LogFilter) -> list[SignInLog]:
    query: Select[SignInLog] = select(SignInLog).where(SignInLog.organization_id == organization_id)
    if where.outcome:
        query = query.where(SignInLog.outcome == where.outcome)
    if where.failed_only:
        query = query.where(SignInLog.error_id.is_not(None))
    if where.before_id:
        query = query.where(SignInLog.id < where.before_id)
    return list(session.scalars(query.order_by(SignInLog.id.desc()).limit(where.limit)))


def scim_requests(session: Session, organization_id: int, where: LogFilter) -> list[ScimRequestLog]:
    query: Select[ScimRequestLog] = select(ScimRequestLog).where(
        ScimRequestLog.organization_id == organization_id
    )
    if where.status:
        query = query.where(ScimRequestLog.status == where.status)
    if where.failed_only:
        query = query.where(ScimRequestLog.status >= 400)
    if where.before_id:
        query = query.where(ScimRequestLog.id < where.before_id)
    return list(session.scalars(query.order_by(ScimRequestLog.id.desc()).limit(where.limit)))


def sign_in_dict(entry: SignInLog) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.created_at.isoformat(),
        "outcome": entry.outcome,
        "subject": entry.subject,
        "test": entry.test,
        "error_id": entry.error_id,
        "request_id": entry.request_id,
        "steps": entry.steps,
    }


def scim_request_dict(entry: ScimRequestLog) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.created_at.isoformat(),
        "method": entry.method,
        "path": entry.path,
        "status": entry.status,
        "scim_type": entry.scim_type,
        "latency_ms": entry.latency_ms,
        "request_id": entry.request_id,
        "body": entry.body,
    }


def prune(
    session: Session, *, retention_days: int, now: dt.datetime | None = None
) -> dict[str, int]:
    """Delete log rows older than the retention; returns how many of each went."""
    cutoff = (now or utcnow()) - dt.timedelta(days=retention_days)
    removed = {}
    for name, model in (("sign_ins", SignInLog), ("scim_requests", ScimRequestLog)):
        result = session.execute(delete(model).where(model.created_at < cutoff))
        removed[name] = int(result.rowcount)  # type: ignore[attr-defined]
    return removed
