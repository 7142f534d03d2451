"""The audit log: who changed what, written in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.ledger import Actor
from app.models import AuditEntry, utcnow


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    organization_id: int | None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        organization_id=organization_id,
        actor=actor.label,
        source=actor.source.value,
        action=action,
        target=target,
        details=details or {},
        request_id=actor.request_id,
        created_at=utcnow(),
    )
    session.add(entry)
    return entry
