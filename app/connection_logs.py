"""Connection logs for the customer's IT admin: each SSO sign-in and each SCIM request.

They answer "why did this sign-in or provisioning call fail?" without a support ticket, so
they hold what an admin may see and nothing more: no bearer token, no password, no SAML
message, and no personal field of a SCIM body except ``userName`` (see :func:`redact`). Rows
older than the retention (``logs.retention_days``) are removed by ``seatgate logs prune``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from app.models import ScimRequestLog, SignInLog, utcnow

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
) -> SignInLog:
    entry = SignInLog(
        organization_id=organization_id,
        created_at=utcnow(),
        request_id=request_id,
        error_id=error_id,
        outcome=outcome[:32],
        subject=subject[:320] if subject else None,
        test=test,
        steps=[step.as_dict() for step in steps],
    )
    session.add(entry)
    session.flush()
    return entry


def record_scim_request(
    session: Session,
    organization_id: int,
    *,
    method: str,
    path: str,
    status: int,
    scim_type: str | None,
    latency_ms: int,
    body: Any,
    request_id: str | None,
) -> ScimRequestLog:
    entry = ScimRequestLog(
        organization_id=organization_id,
        created_at=utcnow(),
        request_id=request_id,
        method=method[:8],
        path=path[:512],
        status=status,
        scim_type=scim_type[:32] if scim_type else None,
        latency_ms=max(latency_ms, 0),
        body=None if body is None else redact(body),
    )
    session.add(entry)
    session.flush()
    return entry


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
