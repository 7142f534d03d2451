"""Owners sign in by e-mail link, so that billing and approving an IdP never need SSO to work.

Only active Owners and the Primary Owner get a link; it opens a *billing-only* session (no
seat, no product token: :data:`app.sessions.BILLING_AUDIENCE`), works once, for 15 minutes.

Three steps, each in its own transaction:

1. :func:`request_link` (the request): records the requested address and nothing else, so a
   request costs the same and leaves the same trace whether or not the address is an owner's
   (no enumeration by answer, timing or side effect). Written in the request's transaction,
   it is never lost.
2. :func:`dispatch_requests` (the alert deliverer): names the owner behind each request and
   queues one e-mail to that owner in the alert outbox (:func:`app.alerts.triggers.sign_in_link`),
   or deletes a request no owner made.
3. :func:`fresh_token` (the deliverer, right before sending): makes the token and stores only
   its SHA-256. A resend (the outbox delivers at least once) makes a new token and the older
   one stops working, so no token ever waits anywhere but in the e-mail.

:func:`redeem` spends a link with one conditional UPDATE: of two redemptions, one wins.
Redeeming is a POST from a confirmation page: mail scanners that fetch links see the page,
and spend nothing.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app import audit
from app.alerts import triggers
from app.crypto import secret_digest
from app.housekeeping import purge_due
from app.ledger import Actor
from app.models import EmailSignInLink, Member, Organization, Role, Source

TOKEN_PREFIX = "sgsignin_"  # noqa: S105 - a public marker, not a secret
LIFETIME = dt.timedelta(minutes=15)
DISPATCH_BATCH = 100
OWNER_ROLES = (Role.OWNER.value, Role.PRIMARY_OWNER.value)


def request_link(
    session: Session, organization: Organization, address_key: str, *, now: dt.datetime
) -> None:
    """Record that a sign-in link was asked for ``address_key`` (a normalized address)."""
    session.add(
        EmailSignInLink(
            organization_id=organization.id,
            address_key=address_key,
            requested_at=now,
            expires_at=now + LIFETIME,
        )
    )
    session.flush()


def dispatch_requests(session: Session, *, now: dt.datetime) -> int:
    """Queue an e-mail for each request an active owner made; forget every other request.

    Claims requests with ``FOR UPDATE SKIP LOCKED``, so several deliverers never queue one
    twice. Links that expired (used or not) are deleted as it goes, at most once a minute:
    every reader checks ``expires_at`` itself. Returns how many e-mails were queued.
    """
    if purge_due("email_sign_in_links", None, now):
        session.execute(delete(EmailSignInLink).where(EmailSignInLink.expires_at < now))
    requests = session.scalars(
        select(EmailSignInLink)
        .where(EmailSignInLink.dispatched_at.is_(None))
        .order_by(EmailSignInLink.id)
        .limit(DISPATCH_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    queued = 0
    for link in requests:
        owner = None
        if link.expires_at > now:
            owner = session.scalar(
                select(Member).where(
                    Member.organization_id == link.organization_id,
                    Member.email_normalized == link.address_key,
                    Member.active.is_(True),
                    Member.role.in_(OWNER_ROLES),
                )
            )
        if owner is None:
            session.execute(delete(EmailSignInLink).where(EmailSignInLink.id == link.id))
            continue
        link.member_id = owner.id
        link.dispatched_at = now
        triggers.sign_in_link(session, link.organization_id, link.id, owner.email, now=now)
        queued += 1
    session.flush()
    return queued


def fresh_token(session: Session, link_id: int, *, now: dt.datetime) -> str | None:
    """A new token for a link about to be e-mailed (the previous one, if any, stops working);
    ``None`` when the link was used, expired or its owner is gone: nothing to send."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    renewed = session.execute(
        update(EmailSignInLink)
        .where(
            EmailSignInLink.id == link_id,
            EmailSignInLink.member_id.is_not(None),
            EmailSignInLink.used_at.is_(None),
            EmailSignInLink.expires_at > now,
        )
        .values(token_sha256=secret_digest(token))
    )
    return token if renewed.rowcount else None  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Redeemed:
    organization: Organization
    member: Member


def _digest(token: str) -> str | None:
    return secret_digest(token) if token.startswith(TOKEN_PREFIX) else None


def peek(session: Session, token: str, *, now: dt.datetime) -> Organization | None:
    """The organization a still-usable link signs into, for its confirmation page; spends
    nothing."""
    digest = _digest(token)
    if digest is None:
        return None
    link = session.scalar(select(EmailSignInLink).where(EmailSignInLink.token_sha256 == digest))
    if (
        link is None
        or link.token_sha256 is None
        or not hmac.compare_digest(link.token_sha256, digest)
        or link.used_at is not None
        or link.expires_at <= now
    ):
        return None
    return session.get(Organization, link.organization_id)


def redeem(
    session: Session, token: str, *, now: dt.datetime, request_id: str | None
) -> Redeemed | None:
    """Spend a link: its organization and owner, or ``None`` (unknown, expired, used, or the
    member is no longer an active owner). The link is spent in every case it was usable."""
    digest = _digest(token)
    if digest is None:
        return None
    spent = session.execute(
        update(EmailSignInLink)
        .where(
            EmailSignInLink.token_sha256 == digest,
            EmailSignInLink.member_id.is_not(None),
            EmailSignInLink.used_at.is_(None),
            EmailSignInLink.expires_at > now,
        )
        .values(used_at=now)
        .returning(
            EmailSignInLink.token_sha256,
            EmailSignInLink.member_id,
            EmailSignInLink.organization_id,
        )
    ).one_or_none()
    if spent is None or not hmac.compare_digest(str(spent.token_sha256), digest):
        return None
    member = session.get(Member, spent.member_id)
    organization = session.get(Organization, spent.organization_id)
    if (
        member is None
        or organization is None
        or not member.active
        or member.role not in OWNER_ROLES
        or member.organization_id != organization.id
    ):
        return None
    audit.record(
        session,
        Actor(label=member.email, source=Source.WEB, request_id=request_id),
        "sign_in_link.redeem",
        organization_id=organization.id,
        target=member.email,
    )
    return Redeemed(organization=organization, member=member)
