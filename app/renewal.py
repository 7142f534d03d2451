"""The periodic renewal run (R7): every auto-renewing contract whose term has ended rolls over.

Safe to run from several workers at once: on PostgreSQL each contract row is claimed with
``FOR UPDATE SKIP LOCKED``, and renewing twice is a no-op because the term has moved on.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.ledger import Actor, renew_contract
from app.models import Contract, Organization
from app.money import format_minor


def renew_due_contracts(
    session: Session, *, today: dt.date, actor: Actor
) -> list[dict[str, object]]:
    """Renew what is due on ``today``; report contracts that lapsed instead."""
    due = session.execute(
        select(Contract, Organization.slug)
        .join(Organization, Organization.id == Contract.organization_id)
        .where(Contract.term_end <= today)
        .order_by(Contract.id)
        .with_for_update(skip_locked=True, of=Contract)
    ).all()
    report: list[dict[str, object]] = []
    for contract, slug in due:
        if not contract.auto_renew:
            report.append(
                {
                    "organization": slug,
                    "status": "lapsed",
                    "term_end": contract.term_end.isoformat(),
                }
            )
            continue
        outcome = renew_contract(session, contract, today=today, actor=actor)
        audit.record(
            session,
            actor,
            "contract.renew",
            organization_id=contract.organization_id,
            target=slug,
            details={
                "term_start": outcome.term_start.isoformat(),
                "term_end": outcome.term_end.isoformat(),
                "purchased": outcome.purchased,
                "seat_price_minor": outcome.seat_price_minor,
            },
        )
        report.append(
            {
                "organization": slug,
                "status": "renewed",
                "term_start": outcome.term_start.isoformat(),
                "term_end": outcome.term_end.isoformat(),
                "purchased": outcome.purchased,
                "seat_price": format_minor(outcome.seat_price_minor, contract.currency),
            }
        )
    return report
