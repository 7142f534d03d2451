"""The audit log: who changed what, written in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.ledger import Actor
from app.models import AuditEntry, utcnow

# A plain INSERT rather than an ORM object: nothing reads an entry back in the transaction
# that writes it, and the unit of work's bookkeeping per object was a visible share of a
# SCIM create (bench/RESULTS.md, sixth round). Built once.
_INSERT = insert(AuditEntry.__table__)  # type: ignore[arg-type]


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    organization_id: int | None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    session.execute(
        _INSERT,
        {
            "organization_id": organization_id,
            "actor": actor.label,
            "source": actor.source.value,
            "action": action,
            "target": target,
            "details": details or {},
            "request_id": actor.request_id,
            "created_at": utcnow(),
        },
    )
