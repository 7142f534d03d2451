"""Buying seats: quotes, prorated invoices, idempotent purchases (R1-R3, R5, R6, R9, I5, I6).

A quote and a purchase compute their lines with the same function, so the review a Primary
Owner sees is exactly what the invoice will say.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit, waiting_list
from app.alerts import triggers as alerts
from app.errors import (
    IdempotencyConflict,
    InvalidInput,
    NotPermitted,
    PlanNotEligible,
    TermEnded,
)
from app.ledger import Actor, add_purchased, current_contract, lock_pool
from app.models import (
    Contract,
    Invoice,
    InvoiceLine,
    Member,
    Organization,
    PlanType,
    Role,
    utcnow,
)
from app.money import format_minor
from app.proration import TERM_MONTHS, months_remaining

MAX_SEATS_PER_PURCHASE = 10_000
MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True)
class QuoteLine:
    description: str
    quantity: int
    unit_price_minor: int
    months: int

    @property
    def amount_minor(self) -> int:
        return self.quantity * self.unit_price_minor * self.months


@dataclass(frozen=True)
class Quote:
    currency: str
    priced_on: dt.date
    term_start: dt.date
    term_end: dt.date
    lines: tuple[QuoteLine, ...]

    @property
    def total_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)

    def as_dict(self) -> dict[str, object]:
        return {
            "currency": self.currency,
            "priced_on": self.priced_on.isoformat(),
            "term_start": self.term_start.isoformat(),
            "term_end": self.term_end.isoformat(),
            "lines": [
                _line_dict(
                    self.currency,
                    line.description,
                    line.quantity,
                    line.unit_price_minor,
                    line.months,
                    line.amount_minor,
                )
                for line in self.lines
            ],
            **_money("total", self.total_minor, self.currency),
        }


@dataclass(frozen=True)
class Purchase:
    invoice: Invoice
    replayed: bool


def validate_quantity(quantity: int) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInput("The number of seats must be a whole number.")
    if not 1 <= quantity <= MAX_SEATS_PER_PURCHASE:
        raise InvalidInput(
            f"The number of seats to add must be between 1 and {MAX_SEATS_PER_PURCHASE}, "
            f"got {quantity}. Seats cannot be removed during the term."
        )
    return quantity


def quote_purchase(
    session: Session,
    organization: Organization,
    quantity: int,
    *,
    at: dt.datetime | None = None,
    actor: Actor,
) -> Quote:
    """What adding ``quantity`` seats at ``at`` would cost. Writes nothing but due renewals."""
    at = at or utcnow()
    validate_quantity(quantity)
    contract = current_contract(session, organization.id, today=at.date(), actor=actor)
    _check_eligible(contract, at.date())
    months = months_remaining(contract.term_start, at.date())
    plural = "seat" if quantity == 1 else "seats"
    line = QuoteLine(
        description=(
            f"{quantity} additional {plural}, prorated {months} of {TERM_MONTHS} months "
            f"({contract.term_start.isoformat()} to {contract.term_end.isoformat()})"
        ),
        quantity=quantity,
        unit_price_minor=contract.seat_price_minor,
        months=months,
    )
    return Quote(
        currency=contract.currency,
        priced_on=at.date(),
        term_start=contract.term_start,
        term_end=contract.term_end,
        lines=(line,),
    )


def purchase_seats(
    session: Session,
    organization: Organization,
    quantity: int,
    *,
    buyer: Member,
    actor: Actor,
    idempotency_key: str | None = None,
    at: dt.datetime | None = None,
) -> Purchase:
    """Add seats and issue their invoice in the caller's transaction (R5).

    The same ``idempotency_key`` returns the first invoice instead of billing again (I6);
    reusing it for a different quantity is a conflict, not a silent replay.
    """
    at = at or utcnow()
    validate_quantity(quantity)
    key = _validate_key(idempotency_key)
    if buyer.organization_id != organization.id or buyer.role != Role.PRIMARY_OWNER.value:
        raise NotPermitted("Only the organization's Primary Owner can add seats.")
    if not buyer.active:
        raise NotPermitted("A deactivated Primary Owner cannot add seats.")
    lock_pool(session, organization.id)
    if key is not None:
        earlier = invoice_for_key(session, organization, key)
        if earlier is not None:
            if sum(line.quantity for line in earlier.lines) != quantity:
                raise IdempotencyConflict(
                    f"Idempotency key {key!r} was already used for invoice {earlier.number} "
                    "with a different number of seats."
                )
            return Purchase(invoice=earlier, replayed=True)
    quote = quote_purchase(session, organization, quantity, at=at, actor=actor)
    event_id = add_purchased(
        session,
        organization.id,
        quantity,
        actor=actor,
        reason=f"added {quantity} seats",
        idempotency_key=key,
        now=at,
    )
    invoice = Invoice(
        organization_id=organization.id,
        number=_next_invoice_number(session, organization),
        issued_at=at,
        currency=quote.currency,
        total_minor=quote.total_minor,
        purchaser_id=buyer.id,
        purchaser_email=buyer.email,
        idempotency_key=key,
        term_start=quote.term_start,
        term_end=quote.term_end,
        lines=[
            InvoiceLine(
                description=line.description,
                quantity=line.quantity,
                unit_price_minor=line.unit_price_minor,
                months=line.months,
                amount_minor=line.amount_minor,
                seat_event_id=event_id,
            )
            for line in quote.lines
        ],
    )
    session.add(invoice)
    session.flush()
    audit.record(
        session,
        actor,
        "seats.purchase",
        organization_id=organization.id,
        target=invoice.number,
        details={"quantity": quantity, "total_minor": invoice.total_minor},
    )
    alerts.seats_purchased(session, invoice, request_id=actor.request_id)
    waiting_list.provision_waiting(session, organization, actor=actor, now=at)
    return Purchase(invoice=invoice, replayed=False)


def invoice_for_key(session: Session, organization: Organization, key: str) -> Invoice | None:
    """The invoice an idempotency key already produced, if any."""
    return session.scalar(
        select(Invoice).where(
            Invoice.organization_id == organization.id, Invoice.idempotency_key == key
        )
    )


def invoice_as_dict(invoice: Invoice) -> dict[str, object]:
    return {
        "id": invoice.id,
        "number": invoice.number,
        "issued_at": invoice.issued_at.isoformat(),
        "currency": invoice.currency,
        "purchaser": invoice.purchaser_email,
        "term_start": invoice.term_start.isoformat(),
        "term_end": invoice.term_end.isoformat(),
        "idempotency_key": invoice.idempotency_key,
        "lines": [
            {
                **_line_dict(
                    invoice.currency,
                    line.description,
                    line.quantity,
                    line.unit_price_minor,
                    line.months,
                    line.amount_minor,
                ),
                "seat_event_id": line.seat_event_id,
            }
            for line in invoice.lines
        ],
        **_money("total", invoice.total_minor, invoice.currency),
    }


def _check_eligible(contract: Contract, today: dt.date) -> None:
    if contract.plan_type != PlanType.ANNUAL_INVOICED.value:
        raise PlanNotEligible("Seat management is available only on annual, invoiced contracts.")
    if contract.term_end <= today:
        raise TermEnded(
            f"The contract term ended on {contract.term_end.isoformat()} and does not renew "
            "automatically; seats cannot be added to an ended term."
        )


def _validate_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(
            f"An idempotency key must be 1-{MAX_IDEMPOTENCY_KEY_LENGTH} printable characters."
        )
    return key


def _next_invoice_number(session: Session, organization: Organization) -> str:
    """Sequential per organization; safe because the caller holds the pool's row lock."""
    issued = session.scalar(
        select(func.count()).select_from(Invoice).where(Invoice.organization_id == organization.id)
    )
    return f"{organization.slug.upper()}-{int(issued or 0) + 1:05d}"


def _money(prefix: str, amount_minor: int, currency: str) -> dict[str, object]:
    return {f"{prefix}_minor": amount_minor, prefix: format_minor(amount_minor, currency)}


def _line_dict(
    currency: str,
    description: str,
    quantity: int,
    unit_price_minor: int,
    months: int,
    amount_minor: int,
) -> dict[str, object]:
    return {
        "description": description,
        "quantity": quantity,
        "months": months,
        **_money("unit_price", unit_price_minor, currency),
        **_money("amount", amount_minor, currency),
    }
