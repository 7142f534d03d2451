"""Development sign-in: one-time links that open a session without an identity provider.

Exists only when ``env = "development"`` (the factory registers the route and the command
nowhere else), so ``make run`` can be explored without configuring SAML. A link is a random
token shown once; only its SHA-256 is stored; it works once, for a few minutes.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.crypto import secret_digest
from app.errors import InvalidInput
from app.ledger import Actor, claim_seat
from app.models import DevSignInLink, Member, Organization, Source, utcnow

LINK_LIFETIME = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class NewLink:
    token: str
    expires_at: dt.datetime


def create_link(session: Session, member: Member, *, actor: Actor) -> NewLink:
    if not member.active:
        raise InvalidInput(f"{member.email} is deactivated.")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        DevSignInLink(
            token_sha256=secret_digest(token),
            organization_id=member.organization_id,
            member_id=member.id,
            created_at=now,
            expires_at=now + LINK_LIFETIME,
        )
    )
    audit.record(
        session,
        actor,
        "dev.login_link",
        organization_id=member.organization_id,
        target=member.email,
    )
    session.flush()
    return NewLink(token=token, expires_at=now + LINK_LIFETIME)


def redeem(session: Session, token: str, *, request_id: str) -> tuple[Organization, Member] | None:
    """Use a link once: its organization and member (now holding a seat), or ``None``.

    The member takes a seat through the ledger like any sign-in; a refusal propagates.
    """
    link = session.scalar(
        select(DevSignInLink)
        .where(DevSignInLink.token_sha256 == secret_digest(token))
        .with_for_update()
    )
    now = utcnow()
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    link.used_at = now
    member = session.get(Member, link.member_id)
    organization = session.get(Organization, link.organization_id)
    if member is None or organization is None or not member.active:
        return None
    actor = Actor(label=member.email, source=Source.WEB, request_id=request_id)
    claim_seat(session, member, actor=actor, reason="development sign-in")
    return organization, member
