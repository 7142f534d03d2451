"""Alert triggers: each writes outbox rows in the caller's transaction and nothing else.

The ledger and billing call these right where seats change, so an alert exists exactly when
its cause was committed (a rolled-back claim leaves none). Nothing here talks to the network;
:mod:`app.alerts.delivery` sends what was written. This module must not import the ledger
(the ledger imports it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import Table, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.alerts.policy import SEAT_MARK_PREFIX, policy_of
from app.models import (
    Alert,
    AlertDelivery,
    AlertKind,
    AlertMark,
    AlertStatus,
    Contract,
    DeliveryChannel,
    DeliveryStatus,
    IdentityProvider,
    Invoice,
    SeatEvent,
    SeatEventKind,
    SeatPool,
    Webhook,
    utcnow,
)

CONTRACT_END_NOTICE_DAYS = (30, 7, 1)
CERTIFICATE_NOTICE_DAYS = (30, 7, 1)
MAX_NAMES_IN_DIGEST = 100

_pools: Table = SeatPool.__table__  # type: ignore[assignment]

# Run after every seat change: built once (see app.ledger).
_SEAT_MARKS = select(AlertMark).where(
    AlertMark.organization_id == bindparam("organization_id"),
    AlertMark.mark.startswith(SEAT_MARK_PREFIX),
)
_COUNTS = select(_pools.c.purchased, _pools.c.assigned).where(
    _pools.c.organization_id == bindparam("organization_id")
)


def seats_changed(
    session: Session,
    organization_id: int,
    kind: SeatEventKind,
    *,
    purchased: int,
    assigned: int,
    now: dt.datetime,
    request_id: str | None = None,
) -> Alert | None:
    """Re-evaluate the seat thresholds after a ledger event (hysteresis).

    ``purchased`` and ``assigned`` are the pool's counters after the event (the event
    carries them, so they are not read again). A threshold alerts once when use reaches it
    and is re-armed only when use falls back below it. When one change crosses several
    thresholds, one alert names the highest. A renewal only updates the marks: its own alert
    already states the new numbers.
    """
    thresholds = policy_of(session, organization_id).thresholds()
    if kind is SeatEventKind.ASSIGN and not any(t.reached(purchased, assigned) for t in thresholds):
        # An assignment only raises use, and marks exist only for thresholds reached at the
        # last evaluation (or dropped with the policy that had them): with none reached now,
        # no mark is due and none can be stale. Most claims stop here, without a query.
        return None
    marked = {
        mark.mark: mark
        for mark in session.scalars(_SEAT_MARKS, {"organization_id": organization_id})
    }
    newly_crossed = []
    changed = False
    for threshold in thresholds:
        if not threshold.reached(purchased, assigned):
            if threshold.mark in marked:
                session.delete(marked[threshold.mark])
                changed = True
        elif threshold.mark not in marked:
            session.add(
                AlertMark(organization_id=organization_id, mark=threshold.mark, marked_at=now)
            )
            newly_crossed.append(threshold)
            changed = True
    if changed:
        session.flush()
    if not newly_crossed or kind is SeatEventKind.RENEWAL:
        return None
    # reversed: on a tie (95 % and 100 % of 10 seats) the later, higher threshold is named
    highest = max(reversed(newly_crossed), key=lambda threshold: threshold.reached_at(purchased))
    return _write(
        session,
        organization_id,
        AlertKind.SEATS_EXHAUSTED if assigned >= purchased else AlertKind.SEATS_LOW,
        {"threshold": highest.label, **_seats(purchased, assigned)},
        now=now,
        request_id=request_id,
    )


def seat_refused(session: Session, event: SeatEvent) -> Alert:
    """Add a refusal to the organization's open digest, opening one if there is none.

    At most one digest collects per organization (a partial unique index); it becomes
    deliverable when its window closes, so a burst of refusals makes one message. The pool
    row's lock serializes refusals of one organization, so two never open two digests.
    """
    organization_id = event.organization_id
    session.execute(
        select(_pools.c.organization_id)
        .where(_pools.c.organization_id == organization_id)
        .with_for_update()
    )
    purchased, assigned = _counts(session, organization_id)
    digest = session.scalar(
        select(Alert)
        .where(
            Alert.organization_id == organization_id,
            Alert.status == AlertStatus.COLLECTING.value,
        )
        .with_for_update()
    )
    if digest is None:
        window = policy_of(session, organization_id).digest_window
        digest = _write(
            session,
            organization_id,
            AlertKind.SEATS_REFUSED,
            {"refusals": 0, "people": [], "more_people": 0, "by_source": {}},
            now=event.created_at,
            status=AlertStatus.COLLECTING,
            deliverable_at=event.created_at + window,
            request_id=event.request_id,
        )
    details = dict(digest.details)
    people: list[str] = list(details["people"])
    subject = event.subject or "(unknown)"
    if subject not in people:
        if len(people) < MAX_NAMES_IN_DIGEST:
            people.append(subject)
        else:
            details["more_people"] = int(details["more_people"]) + 1
    by_source = dict(details["by_source"])
    by_source[event.source] = int(by_source.get(event.source, 0)) + 1
    details.update(
        refusals=int(details["refusals"]) + 1,
        people=people,
        by_source=by_source,
        last_reason=event.reason,
        **_seats(purchased, assigned),
    )
    digest.details = details  # a new dict, so the JSON column is written
    session.flush()
    return digest


def seats_purchased(session: Session, invoice: Invoice, *, request_id: str | None = None) -> Alert:
    """Seats were added and their invoice issued (R5)."""
    purchased, assigned = _counts(session, invoice.organization_id)
    return _write(
        session,
        invoice.organization_id,
        AlertKind.SEATS_ADDED,
        {
            "invoice": invoice.number,
            "quantity": sum(line.quantity for line in invoice.lines),
            "total_minor": invoice.total_minor,
            "currency": invoice.currency,
            "purchaser": invoice.purchaser_email,
            **_seats(purchased, assigned),
        },
        now=invoice.issued_at,
        request_id=request_id,
    )


def contract_renewed(
    session: Session,
    organization_id: int,
    term_start: dt.date,
    term_end: dt.date,
    *,
    request_id: str | None = None,
) -> Alert:
    """An auto-renewing contract rolled over with the seats in use (R7)."""
    purchased, assigned = _counts(session, organization_id)
    return _write(
        session,
        organization_id,
        AlertKind.CONTRACT_RENEWED,
        {
            "term_start": term_start.isoformat(),
            "term_end": term_end.isoformat(),
            **_seats(purchased, assigned),
        },
        now=utcnow(),
        request_id=request_id,
    )


def contract_end_notices(session: Session, *, today: dt.date) -> list[Alert]:
    """Warn 30, 7 and 1 days before a contract that does not renew ends (periodic).

    Each notice is marked per term end, so it is written once even when several workers run
    this; after a long pause only the most urgent notice due is written.
    """
    horizon = today + dt.timedelta(days=max(CONTRACT_END_NOTICE_DAYS))
    ending = session.scalars(
        select(Contract)
        .where(
            Contract.auto_renew.is_(False),
            Contract.term_end > today,
            Contract.term_end <= horizon,
        )
        .order_by(Contract.id)
        .with_for_update(skip_locked=True)
    ).all()
    written = []
    for contract in ending:
        days_left = (contract.term_end - today).days
        already = set(
            session.scalars(
                select(AlertMark.mark).where(
                    AlertMark.organization_id == contract.organization_id,
                    AlertMark.mark.startswith(f"ends:{contract.term_end.isoformat()}:"),
                )
            )
        )
        due = [
            days
            for days in CONTRACT_END_NOTICE_DAYS
            if days_left <= days and _end_mark(contract, days) not in already
        ]
        if not due:
            continue
        for days in due:
            session.add(
                AlertMark(organization_id=contract.organization_id, mark=_end_mark(contract, days))
            )
        purchased, assigned = _counts(session, contract.organization_id)
        written.append(
            _write(
                session,
                contract.organization_id,
                AlertKind.CONTRACT_ENDING,
                {
                    "term_end": contract.term_end.isoformat(),
                    "days_left": days_left,
                    **_seats(purchased, assigned),
                },
                now=utcnow(),
            )
        )
    session.flush()
    return written


def certificate_notices(session: Session, *, today: dt.date) -> list[Alert]:
    """Warn 30, 7 and 1 days before a certificate a sign-in depends on expires (periodic).

    Checks every pinned IdP signing certificate (several may overlap during a rotation) and
    the organization's own SP certificate. Each notice is marked per certificate fingerprint,
    like the contract-end notices, so it is written once. seatgate's JWT signing keys are
    bare keys without an expiry date (rotated with ``seatgate keys rotate``): nothing to warn.
    """
    written = []
    providers = session.scalars(
        select(IdentityProvider).order_by(IdentityProvider.id).with_for_update(skip_locked=True)
    ).all()
    for provider in providers:
        pinned = [("idp", pem) for pem in provider.certificates] + [("sp", provider.sp_certificate)]
        for role, pem in pinned:
            alert = _certificate_notice(session, provider.organization_id, role, pem, today)
            if alert is not None:
                written.append(alert)
    session.flush()
    return written


def _certificate_notice(
    session: Session, organization_id: int, role: str, pem: str, today: dt.date
) -> Alert | None:
    certificate = x509.load_pem_x509_certificate(pem.encode())
    expires = certificate.not_valid_after_utc
    days_left = (expires.date() - today).days
    if not 0 < days_left <= max(CERTIFICATE_NOTICE_DAYS):
        return None
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex()[:32]
    marks = {days: f"cert:{fingerprint}:{days}" for days in CERTIFICATE_NOTICE_DAYS}
    already = set(
        session.scalars(
            select(AlertMark.mark).where(
                AlertMark.organization_id == organization_id,
                AlertMark.mark.in_(list(marks.values())),
            )
        )
    )
    due = [
        days for days in CERTIFICATE_NOTICE_DAYS if days_left <= days and marks[days] not in already
    ]
    if not due:
        return None
    for days in due:
        session.add(AlertMark(organization_id=organization_id, mark=marks[days]))
    purchased, assigned = _counts(session, organization_id)
    return _write(
        session,
        organization_id,
        AlertKind.CERTIFICATE_EXPIRING,
        {
            "certificate": role,
            "subject": certificate.subject.rfc4514_string(),
            "sha256": certificate.fingerprint(hashes.SHA256()).hex(":"),
            "expires_at": expires.isoformat(),
            "days_left": days_left,
            **_seats(purchased, assigned),
        },
        now=utcnow(),
    )


def sso_misconfigured(
    session: Session,
    organization_id: int,
    *,
    reason: str,
    now: dt.datetime,
    request_id: str | None = None,
) -> Alert | None:
    """Tell the owners that nobody can sign in: the saved IdP settings are unusable.

    Every refused sign-in calls this, so it alerts once per UTC day while the settings stay
    broken (a mark per day: two sign-ins racing both try to write it, one alert survives).
    """
    mark = AlertMark(organization_id=organization_id, mark=f"sso-misconfigured:{now.date()}")
    try:
        with session.begin_nested():
            session.add(mark)
    except IntegrityError:  # already told today, by this request's predecessor or a racer
        return None
    return _write(
        session,
        organization_id,
        AlertKind.SSO_MISCONFIGURED,
        {"reason": reason},
        now=now,
        request_id=request_id,
    )


def webhook_disabled(session: Session, webhook: Webhook, reason: str) -> Alert:
    """Tell the owners that one of their webhooks was switched off."""
    purchased, assigned = _counts(session, webhook.organization_id)
    return _write(
        session,
        webhook.organization_id,
        AlertKind.WEBHOOK_DISABLED,
        {
            "webhook_id": webhook.id,
            "url": webhook.url,
            "reason": reason,
            **_seats(purchased, assigned),
        },
        now=utcnow(),
    )


def sso_changed(
    session: Session,
    organization_id: int,
    details: dict[str, Any],
    *,
    request_id: str | None = None,
) -> Alert:
    """The organization's identity provider connection changed (or a change awaits approval).

    Deliverable at once and never gathered into a digest: an owner who did not expect the
    change must hear of it while it can still be undone.
    """
    return _write(
        session,
        organization_id,
        AlertKind.SSO_CHANGED,
        details,
        now=utcnow(),
        request_id=request_id,
    )


def sign_in_link(
    session: Session, organization_id: int, link_id: int, recipient: str, *, now: dt.datetime
) -> Alert:
    """One owner's e-mail sign-in link, queued for that owner alone.

    Written already dispatched, with its one e-mail delivery: fan-out (every owner, every
    webhook) never sees it, and the deliverer makes the link's token only when it sends
    (:func:`app.sign_in_links.fresh_token`), so the outbox never holds it.
    """
    alert = _write(
        session,
        organization_id,
        AlertKind.SIGN_IN_LINK,
        {"link_id": link_id},
        now=now,
        status=AlertStatus.DISPATCHED,
    )
    alert.dispatched_at = now
    session.add(
        AlertDelivery(
            alert_id=alert.id,
            channel=DeliveryChannel.EMAIL.value,
            recipient=recipient,
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    session.flush()
    return alert


def _end_mark(contract: Contract, days: int) -> str:
    return f"ends:{contract.term_end.isoformat()}:{days}"


def _write(
    session: Session,
    organization_id: int,
    kind: AlertKind,
    details: dict[str, Any],
    *,
    now: dt.datetime,
    status: AlertStatus = AlertStatus.PENDING,
    deliverable_at: dt.datetime | None = None,
    request_id: str | None = None,
) -> Alert:
    """Write one outbox row, carrying the id of the request that caused it (for tracing)."""
    alert = Alert(
        public_id=uuid.uuid4().hex,
        organization_id=organization_id,
        kind=kind.value,
        status=status.value,
        details=details,
        created_at=now,
        deliverable_at=deliverable_at or now,
        request_id=request_id,
    )
    session.add(alert)
    session.flush()
    return alert


def _seats(purchased: int, assigned: int) -> dict[str, int]:
    return {"purchased": purchased, "assigned": assigned, "free": purchased - assigned}


def _counts(session: Session, organization_id: int) -> tuple[int, int]:
    row = session.execute(_COUNTS, {"organization_id": organization_id}).one()
    return int(row.purchased), int(row.assigned)
