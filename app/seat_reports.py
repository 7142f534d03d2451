"""What owners read about seats and money: the waiting list, invoices, members.

Read-only queries scoped to one organization (I7): every function takes the organization and
never returns another's rows, so a guessed invoice id from elsewhere reads as "not found".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.addresses import lookup_key
from app.errors import NotFound
from app.models import (
    Invoice,
    Member,
    Organization,
    SeatAssignment,
    SeatEvent,
    SeatEventKind,
)
from app.whole_numbers import INTEGER_MAX

WAITING_LIST_LIMIT = 200


@dataclass(frozen=True)
class Refusal:
    subject: str
    source: str
    refused_at: dt.datetime
    reason: str
    attempts: int


def waiting_list(session: Session, organization: Organization) -> list[Refusal]:
    """People refused a seat since the last purchase, newest first, one row each.

    A purchase answers the earlier refusals, so they leave the list; repeated attempts by
    the same person are counted on one row.
    """
    since = session.scalar(
        select(func.max(SeatEvent.id)).where(
            SeatEvent.organization_id == organization.id,
            SeatEvent.kind == SeatEventKind.PURCHASE.value,
        )
    )
    rows = session.execute(
        select(SeatEvent)
        .where(
            SeatEvent.organization_id == organization.id,
            SeatEvent.kind == SeatEventKind.REFUSE.value,
            SeatEvent.id > (since or 0),
        )
        .order_by(SeatEvent.id.desc())
        .limit(WAITING_LIST_LIMIT * 5)
    ).scalars()
    latest: dict[str, Refusal] = {}
    for event in rows:
        subject = event.subject or "(unknown)"
        person = lookup_key(subject)  # one row per address, look-alikes apart
        seen = latest.get(person)
        latest[person] = (
            replace(seen, attempts=seen.attempts + 1)
            if seen
            else Refusal(subject, event.source, event.created_at, event.reason, attempts=1)
        )
    return list(latest.values())[:WAITING_LIST_LIMIT]


def invoices_of(session: Session, organization: Organization) -> list[Invoice]:
    return list(
        session.scalars(
            select(Invoice)
            .where(Invoice.organization_id == organization.id)
            .options(selectinload(Invoice.lines))
            .order_by(Invoice.id.desc())
        )
    )


def invoice_of(session: Session, organization: Organization, invoice_id: int) -> Invoice:
    if not 0 < invoice_id <= INTEGER_MAX:  # no such row; PostgreSQL would refuse the literal
        raise NotFound(f"No invoice {invoice_id} in this organization.")
    invoice = session.scalar(
        select(Invoice)
        .where(Invoice.organization_id == organization.id, Invoice.id == invoice_id)
        .options(selectinload(Invoice.lines))
    )
    if invoice is None:
        raise NotFound(f"No invoice {invoice_id} in this organization.")
    return invoice


@dataclass(frozen=True)
class MemberRow:
    email: str
    display_name: str | None
    role: str
    active: bool
    has_seat: bool
    seat_since: dt.datetime | None


def member_rows(session: Session, organization: Organization) -> list[MemberRow]:
    rows = session.execute(
        select(Member, SeatAssignment.assigned_at)
        .outerjoin(SeatAssignment, SeatAssignment.member_id == Member.id)
        .where(Member.organization_id == organization.id)
        .order_by(Member.email_normalized)
    ).all()
    return [
        MemberRow(
            email=member.email,
            display_name=member.display_name,
            role=member.role,
            active=member.active,
            has_seat=assigned_at is not None,
            seat_since=assigned_at,
        )
        for member, assigned_at in rows
    ]
