"""The waiting list: people refused for lack of a seat, provisioned when seats are added.

A refused SCIM creation or SSO sign-in leaves a row with what the IdP sent (written after the
refused request rolled back, like the refusal itself, I8). When seats are purchased and the
organization has switched automatic provisioning on (default off), the purchase's own
transaction provisions the list, oldest first, while free seats remain — each through the
ledger's one claim (a SCIM entry as a SCIM create does), under the seat pool's lock the
purchase holds, so nothing is oversold. A SCIM entry becomes a directory user, so the IdP's
next ``userName eq`` probe finds it; an SSO entry becomes a member holding a seat, let in
at the next sign-in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app import audit, directory
from app.addresses import normalize_email
from app.errors import InvalidInput, SeatgateError, SeatRefused
from app.ledger import Actor, claim_seat, seat_usage
from app.models import Organization, Role, Source, WaitingEntry, WaitingListPolicy, utcnow
from app.organizations import add_member, find_member


def auto_provision(session: Session, organization_id: int) -> bool:
    policy = session.get(WaitingListPolicy, organization_id)
    return bool(policy and policy.auto_provision)


def set_auto_provision(
    session: Session, organization: Organization, enabled: bool, *, actor: Actor
) -> None:
    policy = session.get(WaitingListPolicy, organization.id)
    if policy is None:
        policy = WaitingListPolicy(organization_id=organization.id)
        session.add(policy)
    policy.auto_provision = enabled
    policy.updated_at = utcnow()
    audit.record(
        session,
        actor,
        "waiting_list.auto_provision",
        organization_id=organization.id,
        details={"enabled": enabled},
    )
    session.flush()


def wait_for_scim(session: Session, organization_id: int, profile: directory.Profile) -> None:
    """Keep a SCIM user refused for lack of a seat (its e-mail as the member would get it)."""
    email = directory.member_email(profile)
    if email is not None:
        _enqueue(session, organization_id, Source.SCIM, email, {"profile": _json(profile)})


def wait_for_sign_in(
    session: Session,
    organization_id: int,
    *,
    email: str,
    name_id: str,
    display_name: str | None,
    attributes: Mapping[str, Sequence[str]],
) -> None:
    """Keep a person refused at the SSO door for lack of a seat."""
    request = {
        "name_id": name_id,
        "display_name": display_name,
        "attributes": {k: list(v) for k, v in attributes.items()},
    }
    _enqueue(session, organization_id, Source.SSO, email, request)


def _json(profile: directory.Profile) -> dict[str, Any]:
    return dataclasses.asdict(profile)


def _enqueue(
    session: Session, organization_id: int, source: Source, email: str, request: dict[str, Any]
) -> None:
    address, key = normalize_email(email)
    now = utcnow()
    for _attempt in range(2):  # a concurrent refusal of the same person may insert first
        entry = session.scalar(
            select(WaitingEntry).where(
                WaitingEntry.organization_id == organization_id,
                WaitingEntry.email_normalized == key,
            )
        )
        if entry is not None:
            entry.source, entry.email, entry.request = source.value, address, request
            entry.last_refused_at = now
            entry.attempts += 1
            entry.provisioned_at = None
            session.flush()
            return
        try:
            with session.begin_nested():
                session.add(
                    WaitingEntry(
                        organization_id=organization_id,
                        source=source.value,
                        email=address,
                        email_normalized=key,
                        request=request,
                        attempts=1,
                        first_refused_at=now,
                        last_refused_at=now,
                    )
                )
            return
        except IntegrityError:
            continue


def pending(session: Session, organization_id: int) -> list[WaitingEntry]:
    """Who is still waiting, oldest first."""
    return list(
        session.scalars(
            select(WaitingEntry)
            .where(
                WaitingEntry.organization_id == organization_id,
                WaitingEntry.provisioned_at.is_(None),
            )
            .order_by(WaitingEntry.first_refused_at, WaitingEntry.id)
        )
    )


def provision_waiting(
    session: Session, organization: Organization, *, actor: Actor, now: dt.datetime | None = None
) -> list[str]:
    """Give free seats to the waiting list, oldest first; returns the e-mails provisioned.

    Runs in the purchase's transaction (which holds the seat pool's lock). An entry that can
    no longer be provisioned (its userName was taken meanwhile, its domain is not allowed, the
    member was deactivated) stays on the list and the next one is tried.
    """
    if not auto_provision(session, organization.id):
        return []
    now = now or utcnow()
    by = Actor(
        label=f"waiting list ({actor.label})"[:320],
        source=actor.source,
        request_id=actor.request_id,
    )
    provisioned = []
    for entry in pending(session, organization.id):
        try:
            holder = find_member(session, organization, entry.email)
        except InvalidInput:  # kept before identity keys, no longer an address: it waits
            continue
        if holder is not None and holder.active and holder.seat is not None:
            entry.provisioned_at, entry.member_id = now, holder.id  # got in another way
            continue
        if seat_usage(session, organization.id).free <= 0:
            break
        try:
            with session.begin_nested():
                member_id = _provision(session, organization, entry, actor=by)
        except SeatRefused:
            break
        except (SeatgateError, IntegrityError):  # IntegrityError: a concurrent transaction
            # added the same person between the look and the insert; the savepoint took this
            # attempt back, and the purchase must not fail for it
            continue
        except OperationalError as error:
            if not _deadlocked(error):
                raise
            continue  # the same, when that transaction then waits for the pool this one holds
        entry.provisioned_at, entry.member_id = now, member_id
        provisioned.append(entry.email)
    if provisioned:
        audit.record(
            session,
            by,
            "waiting_list.provision",
            organization_id=organization.id,
            details={"members": provisioned},
        )
    session.flush()
    return provisioned


_DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE for the transaction it aborted


def _deadlocked(error: OperationalError) -> bool:
    """Whether PostgreSQL aborted this statement to break a deadlock (the statement only:
    the savepoint around it is rolled back and the transaction goes on)."""
    return getattr(error.orig, "sqlstate", None) == _DEADLOCK_DETECTED


def _provision(
    session: Session, organization: Organization, entry: WaitingEntry, *, actor: Actor
) -> int:
    """The provisioned member's id."""
    if entry.source == Source.SCIM.value:
        profile = directory.Profile(**entry.request["profile"])
        return directory.provision(session, organization.id, profile, actor=actor).member_id
    member = find_member(session, organization, entry.email)
    if member is None:
        display_name = entry.request.get("display_name")
        member = add_member(
            session,
            organization,
            entry.email,
            Role.USER,
            actor=actor,
            display_name=display_name[:255] if display_name else None,
        )
    if not member.active:
        raise SeatgateError(f"{member.email} is deactivated")
    claim_seat(session, member, actor=actor, reason="provisioned from the waiting list")
    return member.id


def entry_dict(entry: WaitingEntry) -> dict[str, Any]:
    return {
        "email": entry.email,
        "source": entry.source,
        "attempts": entry.attempts,
        "first_refused_at": entry.first_refused_at.isoformat(),
        "last_refused_at": entry.last_refused_at.isoformat(),
        "provisioned_at": entry.provisioned_at.isoformat() if entry.provisioned_at else None,
    }
