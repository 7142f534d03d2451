"""The seat ledger: the one place where seats are claimed, released, bought and renewed.

Every claim (SCIM create and reactivate, SSO first sign-in, waiting list, CLI, web) runs
``_take_seat``, through :func:`claim_seat` or, for a member its own transaction has just
inserted, :func:`claim_seat_for_new_member`, so none can bypass the limit. Counts live in
``seat_pools`` and change
only through single conditional UPDATE statements executed in the caller's transaction,
next to the assignment row and the append-only :class:`~app.models.SeatEvent` that explain
them (I4). On PostgreSQL the conditional UPDATE re-checks ``assigned < purchased`` after
waiting for a concurrent writer, so two instances never oversell (I1); on SQLite the write
unit already holds the database's write lock (``BEGIN IMMEDIATE``).

Functions here take a session and never commit; the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from app.alerts import triggers as alerts
from app.errors import (
    ContractLapsed,
    MemberInactive,
    NoFreeSeat,
    NotFound,
    RefusalContext,
    SeatRefused,
)
from app.models import (
    Contract,
    Member,
    SeatAssignment,
    SeatEvent,
    SeatEventKind,
    SeatPool,
    Source,
    utcnow,
)
from app.proration import term_end as compute_term_end

_pools: Table = SeatPool.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Actor:
    """Who causes a change, through which door, under which request id (for the ledger)."""

    label: str
    source: Source
    request_id: str | None = None


@dataclass(frozen=True)
class SeatUsage:
    purchased: int
    assigned: int
    term_start: dt.date
    term_end: dt.date

    @property
    def free(self) -> int:
        return self.purchased - self.assigned

    def as_dict(self) -> dict[str, object]:
        return {
            "purchased": self.purchased,
            "assigned": self.assigned,
            "free": self.free,
            "term_start": self.term_start.isoformat(),
            "term_end": self.term_end.isoformat(),
        }


@dataclass(frozen=True)
class Recount:
    """Counts rebuilt from the ledger and the assignment rows, beside the stored counters."""

    organization_id: int
    stored_purchased: int
    stored_assigned: int
    ledger_purchased: int
    ledger_assigned: int
    assignment_rows: int

    @property
    def consistent(self) -> bool:
        return (
            self.stored_purchased == self.ledger_purchased
            and self.stored_assigned == self.ledger_assigned == self.assignment_rows
            and self.stored_assigned <= self.stored_purchased
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "organization_id": self.organization_id,
            "stored": {"purchased": self.stored_purchased, "assigned": self.stored_assigned},
            "ledger": {"purchased": self.ledger_purchased, "assigned": self.ledger_assigned},
            "assignment_rows": self.assignment_rows,
            "consistent": self.consistent,
        }


@dataclass(frozen=True)
class RenewalOutcome:
    organization_id: int
    renewed: bool
    term_start: dt.date
    term_end: dt.date
    purchased: int
    seat_price_minor: int


@dataclass(frozen=True)
class Claimant:
    """The member a seat is claimed for: what a refusal and the ledger event name."""

    organization_id: int
    member_id: int
    email: str


def claim_seat(
    session: Session,
    member: Member,
    *,
    actor: Actor,
    reason: str = "",
    now: dt.datetime | None = None,
) -> SeatAssignment:
    """Give ``member`` a seat, or raise :class:`~app.errors.SeatRefused`.

    Claiming a seat the member already holds returns that seat, so a retried request is
    harmless. The member must be active and flushed.
    """
    now = now or utcnow()
    member = _lock_member(session, member)
    held = _assignment_of(session, member.id)
    if held is not None:
        return held
    if not member.active:
        raise MemberInactive(f"{member.email} is deactivated; reactivate the member first.")
    _take_seat(
        session,
        Claimant(member.organization_id, member.id, member.email),
        actor=actor,
        reason=reason,
        now=now,
    )
    assignment = SeatAssignment(
        organization_id=member.organization_id, member_id=member.id, assigned_at=now
    )
    session.add(assignment)
    session.flush()
    return assignment


def claim_seat_for_new_member(
    session: Session, claimant: Claimant, *, actor: Actor, reason: str, now: dt.datetime
) -> None:
    """Give a seat to an active member that this transaction has just inserted, or raise
    :class:`~app.errors.SeatRefused`.

    No other transaction can see the member yet, so there is no concurrent claim to
    serialize against (no row lock) and no seat it could already hold (no lookup). The
    member's rows were written without the ORM (a SCIM create, the initial sync's hot
    path), so the seat is too: the session holds no object that could go stale.
    """
    _take_seat(session, claimant, actor=actor, reason=reason, now=now)
    session.execute(
        _INSERT_ASSIGNMENT,
        {
            "organization_id": claimant.organization_id,
            "member_id": claimant.member_id,
            "assigned_at": now,
        },
    )


def _take_seat(
    session: Session, claimant: Claimant, *, actor: Actor, reason: str, now: dt.datetime
) -> None:
    """Count one more seat as assigned and log it, or raise the refusal that says why."""
    organization_id = claimant.organization_id
    context = RefusalContext(
        organization_id=organization_id,
        subject=claimant.email,
        member_id=claimant.member_id,
        actor=actor.label,
        source=actor.source.value,
        request_id=actor.request_id,
    )
    today = now.date()
    # The common case in one statement: a free seat in a term that has not ended. Otherwise
    # (a renewal due, a lapsed contract, no free seat) the contract is read, renewed if it
    # renews, and the claim tried again, so the refusal says why.
    row = session.execute(
        _CLAIM_IN_TERM, {"organization": organization_id, "today": today}
    ).one_or_none()
    if row is None:
        contract = current_contract(session, organization_id, today=today, actor=actor)
        if contract.term_end <= today:
            purchased, assigned = _counts(session, organization_id)
            raise ContractLapsed(
                f"The contract ended on {contract.term_end.isoformat()} and does not renew "
                "automatically; no seat can be assigned until it is renewed.",
                context=context,
                purchased=purchased,
                assigned=assigned,
                term_end=contract.term_end,
            )
        row = session.execute(_CLAIM, {"organization": organization_id}).one_or_none()
    if row is None:
        purchased, assigned = _counts(session, organization_id)
        raise NoFreeSeat(
            f"No free seat: {assigned} of {purchased} seats are assigned. "
            "A Primary Owner must add seats.",
            context=context,
            purchased=purchased,
            assigned=assigned,
        )
    _append_event(
        session,
        organization_id,
        SeatEventKind.ASSIGN,
        actor,
        purchased_after=row.purchased,
        assigned_after=row.assigned,
        assigned_delta=1,
        member_id=claimant.member_id,
        subject=claimant.email,
        reason=reason,
        at=now,
    )


def release_seat(
    session: Session,
    member: Member,
    *,
    actor: Actor,
    reason: str = "",
    now: dt.datetime | None = None,
) -> bool:
    """Free the member's seat for someone else (R4). Never fails for billing reasons.

    Returns whether a seat was held. Releasing a member without a seat changes nothing.
    """
    now = now or utcnow()
    member = _lock_member(session, member)
    held = _assignment_of(session, member.id)
    if held is None:
        return False
    organization_id = member.organization_id
    current_contract(session, organization_id, today=now.date(), actor=actor)
    session.delete(held)
    session.flush()
    row = session.execute(
        update(_pools)
        .where(_pools.c.organization_id == organization_id)
        .values(assigned=_pools.c.assigned - 1)
        .returning(_pools.c.purchased, _pools.c.assigned)
    ).one()
    _append_event(
        session,
        organization_id,
        SeatEventKind.RELEASE,
        actor,
        purchased_after=row.purchased,
        assigned_after=row.assigned,
        assigned_delta=-1,
        member_id=member.id,
        subject=member.email,
        reason=reason,
        at=now,
    )
    return True


def add_purchased(
    session: Session,
    organization_id: int,
    quantity: int,
    *,
    actor: Actor,
    reason: str,
    idempotency_key: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Raise the purchased count (I2: the only way it grows inside a term) and log it.

    Returns the ``purchase`` event's id (the invoice lines refer to it)."""
    row = session.execute(
        update(_pools)
        .where(_pools.c.organization_id == organization_id)
        .values(purchased=_pools.c.purchased + quantity)
        .returning(_pools.c.purchased, _pools.c.assigned)
    ).one()
    return _append_event(
        session,
        organization_id,
        SeatEventKind.PURCHASE,
        actor,
        purchased_after=row.purchased,
        assigned_after=row.assigned,
        purchased_delta=quantity,
        reason=reason,
        idempotency_key=idempotency_key,
        at=now or utcnow(),
    )


def open_seat_pool(
    session: Session, organization_id: int, purchased: int, *, actor: Actor, now: dt.datetime
) -> int:
    """Create the pool of a new organization with its initial allocation, as a purchase event."""
    session.execute(
        _pools.insert().values(organization_id=organization_id, purchased=0, assigned=0)
    )
    return add_purchased(
        session, organization_id, purchased, actor=actor, reason="initial allocation", now=now
    )


def record_refusal(session: Session, refusal: SeatRefused) -> SeatEvent:
    """Write the ``refuse`` event of a claim whose own transaction was rolled back (I8)."""
    context = refusal.context
    member_id = context.member_id
    if member_id is not None and session.get(Member, member_id) is None:
        member_id = None  # the member was created by the request that failed
    purchased, assigned = _counts(session, context.organization_id)
    # An ORM object, unlike the other events: the refusal digest reads it back at once.
    event = SeatEvent(
        organization_id=context.organization_id,
        kind=SeatEventKind.REFUSE.value,
        member_id=member_id,
        subject=context.subject,
        purchased_after=purchased,
        assigned_after=assigned,
        actor=context.actor,
        source=context.source,
        reason=refusal.message,
        request_id=context.request_id,
        created_at=utcnow(),
    )
    session.add(event)
    session.flush()
    alerts.seat_refused(session, event)
    return event


def lock_pool(session: Session, organization_id: int) -> tuple[int, int]:
    """Take the pool's row lock (serializes purchases and renewals of one organization)."""
    row = session.execute(
        select(_pools.c.purchased, _pools.c.assigned)
        .where(_pools.c.organization_id == organization_id)
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound(f"Organization {organization_id} has no seat pool.")
    return row.purchased, row.assigned


def current_contract(
    session: Session, organization_id: int, *, today: dt.date, actor: Actor
) -> Contract:
    """The contract, with any renewal that fell due applied first.

    Applying due renewals before any seat change makes "seats in use at the end of the term"
    (R7) exact even when the periodic ``seatgate renew`` has not run yet.
    """
    contract = _contract_of(session, organization_id)
    if contract.auto_renew and contract.term_end <= today:
        renew_contract(session, contract, today=today, actor=actor)
    return contract


def renew_contract(
    session: Session, contract: Contract, *, today: dt.date, actor: Actor
) -> RenewalOutcome:
    """Roll an auto-renewing contract into every term that started by ``today`` (R7).

    The new term's purchased seats are the seats in use when the old one ended; nothing is
    released. A price set for the next term (``next_term_price_minor``) becomes the per-seat
    price from the first new term on. A contract that does not auto-renew is left as it is
    (it lapses).
    """
    organization_id = contract.organization_id
    purchased, _assigned = lock_pool(session, organization_id)
    session.refresh(contract, with_for_update=True)
    renewed = False
    while contract.auto_renew and contract.term_end <= today:
        new_start = contract.term_end
        new_end = compute_term_end(new_start)
        row = session.execute(
            update(_pools)
            .where(_pools.c.organization_id == organization_id)
            .values(purchased=_pools.c.assigned)
            .returning(_pools.c.purchased, _pools.c.assigned)
        ).one()
        _append_event(
            session,
            organization_id,
            SeatEventKind.RENEWAL,
            actor,
            purchased_after=row.purchased,
            assigned_after=row.assigned,
            purchased_delta=row.purchased - purchased,
            reason=(
                f"renewed for {new_start.isoformat()} to {new_end.isoformat()} "
                f"with the {row.assigned} seats in use at the end of the term"
            ),
            at=utcnow(),
        )
        purchased = row.purchased
        contract.term_start, contract.term_end = new_start, new_end
        if contract.next_term_price_minor is not None:
            contract.seat_price_minor = contract.next_term_price_minor
            contract.next_term_price_minor = None
        renewed = True
    session.flush()
    if renewed:
        alerts.contract_renewed(
            session,
            organization_id,
            contract.term_start,
            contract.term_end,
            request_id=actor.request_id,
        )
    return RenewalOutcome(
        organization_id=organization_id,
        renewed=renewed,
        term_start=contract.term_start,
        term_end=contract.term_end,
        purchased=purchased,
        seat_price_minor=contract.seat_price_minor,
    )


def seat_usage(session: Session, organization_id: int) -> SeatUsage:
    contract = _contract_of(session, organization_id)
    purchased, assigned = _counts(session, organization_id)
    return SeatUsage(
        purchased=purchased,
        assigned=assigned,
        term_start=contract.term_start,
        term_end=contract.term_end,
    )


def recount(session: Session, organization_id: int) -> Recount:
    """Rebuild the counts from the ledger (I4) and compare them with what is stored."""
    stored_purchased, stored_assigned = _counts(session, organization_id)
    sums = session.execute(
        select(
            func.coalesce(func.sum(SeatEvent.purchased_delta), 0),
            func.coalesce(func.sum(SeatEvent.assigned_delta), 0),
        ).where(SeatEvent.organization_id == organization_id)
    ).one()
    rows = session.scalar(
        select(func.count())
        .select_from(SeatAssignment)
        .where(SeatAssignment.organization_id == organization_id)
    )
    return Recount(
        organization_id=organization_id,
        stored_purchased=stored_purchased,
        stored_assigned=stored_assigned,
        ledger_purchased=int(sums[0]),
        ledger_assigned=int(sums[1]),
        assignment_rows=int(rows or 0),
    )


# The statements every claim and release runs, built once: building a statement and its
# cache key costs more than running it on an indexed row.
_LOCK_MEMBER = (
    select(Member)
    .where(Member.id == bindparam("member_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_ASSIGNMENT_OF = select(SeatAssignment).where(SeatAssignment.member_id == bindparam("member_id"))
_CONTRACT_OF = select(Contract).where(Contract.organization_id == bindparam("organization_id"))
_COUNTS = select(_pools.c.purchased, _pools.c.assigned).where(
    _pools.c.organization_id == bindparam("organization_id")
)
# The seat claim: the conditional UPDATE re-checks ``assigned < purchased`` after waiting for
# a concurrent writer of the row (I1).
_CLAIM = (
    update(_pools)
    .where(_pools.c.organization_id == bindparam("organization"))
    .where(_pools.c.assigned < _pools.c.purchased)
    .values(assigned=_pools.c.assigned + 1)
    .returning(_pools.c.purchased, _pools.c.assigned)
)
_contracts: Table = Contract.__table__  # type: ignore[assignment]
_events: Table = SeatEvent.__table__  # type: ignore[assignment]
_INSERT_EVENT = insert(_events).returning(_events.c.id)
_INSERT_ASSIGNMENT = insert(SeatAssignment.__table__)  # type: ignore[arg-type]
_CLAIM_IN_TERM = _CLAIM.where(
    select(_contracts.c.organization_id)
    .where(_contracts.c.organization_id == bindparam("organization"))
    .where(_contracts.c.term_end > bindparam("today"))
    .exists()
)


def _lock_member(session: Session, member: Member) -> Member:
    """Serialize seat changes of one member (a retried claim racing its original).

    The callers read the member's seat in a statement of their own, after this lock is
    granted: on PostgreSQL (READ COMMITTED) a statement reads the snapshot taken when it
    started, so a seat joined into this locking statement would miss the one the lock's
    previous holder just committed (the claim would then take a second seat).
    """
    if member.id is None:
        session.flush()
    locked = session.scalar(_LOCK_MEMBER, {"member_id": member.id})
    if locked is None:
        raise NotFound(f"Member {member.email} does not exist.")
    return locked


def _assignment_of(session: Session, member_id: int) -> SeatAssignment | None:
    return session.scalar(_ASSIGNMENT_OF, {"member_id": member_id})


def _contract_of(session: Session, organization_id: int) -> Contract:
    contract = session.scalar(_CONTRACT_OF, {"organization_id": organization_id})
    if contract is None:
        raise NotFound(f"Organization {organization_id} has no contract.")
    return contract


def _counts(session: Session, organization_id: int) -> tuple[int, int]:
    row = session.execute(_COUNTS, {"organization_id": organization_id}).one_or_none()
    if row is None:
        raise NotFound(f"Organization {organization_id} has no seat pool.")
    return int(row.purchased), int(row.assigned)


def _append_event(
    session: Session,
    organization_id: int,
    kind: SeatEventKind,
    actor: Actor,
    *,
    purchased_after: int,
    assigned_after: int,
    at: dt.datetime,
    purchased_delta: int = 0,
    assigned_delta: int = 0,
    member_id: int | None = None,
    subject: str | None = None,
    reason: str = "",
    idempotency_key: str | None = None,
) -> int:
    """Record a seat change and re-evaluate the alert thresholds; returns the event's id.

    A plain INSERT, not an ORM object: events are append-only and nothing reads one back in
    the transaction that writes it, while the unit of work's bookkeeping per object was a
    visible share of every claim (bench/RESULTS.md, sixth round).
    """
    event_id = session.execute(
        _INSERT_EVENT,
        {
            "organization_id": organization_id,
            "kind": kind.value,
            "member_id": member_id,
            "subject": subject,
            "purchased_delta": purchased_delta,
            "assigned_delta": assigned_delta,
            "purchased_after": purchased_after,
            "assigned_after": assigned_after,
            "actor": actor.label,
            "source": actor.source.value,
            "reason": reason,
            "request_id": actor.request_id,
            "idempotency_key": idempotency_key,
            "created_at": at,
        },
    ).scalar_one()
    alerts.seats_changed(
        session,
        organization_id,
        kind,
        purchased=purchased_after,
        assigned=assigned_after,
        now=at,
        request_id=actor.request_id,
    )
    return int(event_id)
