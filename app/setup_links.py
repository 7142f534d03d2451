"""One-time setup links: an owner hands the customer's IT admin a link to set up SSO and SCIM.

A link is ``sgsetup_`` + 256 random bits; only its SHA-256 is stored and a presented link is
compared in constant time. It works until it expires (24 hours by default) or until the admin
finishes the setup, whichever comes first. Every use is written to the audit log with the
link's id as the actor, so owners can see what was done through it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import audit
from app.crypto import secret_digest
from app.errors import InvalidInput, NotFound
from app.ledger import Actor
from app.models import Organization, SetupLink, Source, utcnow

TOKEN_PREFIX = "sgsetup_"  # noqa: S105 - a public marker, not a secret
DEFAULT_LIFETIME = dt.timedelta(hours=24)
MAX_LIFETIME = dt.timedelta(days=7)
UNUSABLE = "This setup link is unknown, expired or already used. Ask an owner for a new one."


@dataclass(frozen=True)
class IssuedSetupLink:
    """A new link: ``token`` exists only here, never in the database."""

    link: SetupLink
    token: str


def create_link(
    session: Session,
    organization: Organization,
    *,
    actor: Actor,
    lifetime: dt.timedelta = DEFAULT_LIFETIME,
    now: dt.datetime | None = None,
) -> IssuedSetupLink:
    if not dt.timedelta(minutes=5) <= lifetime <= MAX_LIFETIME:
        raise InvalidInput("A setup link lives between 5 minutes and 7 days.")
    now = now or utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    link = SetupLink(
        organization_id=organization.id,
        token_sha256=secret_digest(token),
        created_by=actor.label,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(link)
    session.flush()
    audit.record(
        session,
        actor,
        "setup_link.create",
        organization_id=organization.id,
        target=str(link.id),
        details={"expires_at": link.expires_at.isoformat()},
    )
    return IssuedSetupLink(link=link, token=token)


def open_link(session: Session, token: str, *, now: dt.datetime | None = None) -> SetupLink:
    """The live link behind ``token``; one error for unknown, expired and used alike."""
    now = now or utcnow()
    if not token.startswith(TOKEN_PREFIX):
        raise NotFound(UNUSABLE)
    digest = secret_digest(token)
    link = session.scalar(select(SetupLink).where(SetupLink.token_sha256 == digest))
    if (
        link is None
        or not hmac.compare_digest(link.token_sha256, digest)
        or link.used_at is not None
        or link.expires_at <= now
    ):
        raise NotFound(UNUSABLE)
    return link


def actor_for(link: SetupLink, request_id: str | None) -> Actor:
    """Who acts through a link: the link itself (the IT admin has no account here)."""
    return Actor(label=f"setup-link:{link.id}", source=Source.WEB, request_id=request_id)


def record_use(
    session: Session,
    link: SetupLink,
    action: str,
    *,
    request_id: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    audit.record(
        session,
        actor_for(link, request_id),
        f"setup_link.{action}",
        organization_id=link.organization_id,
        target=str(link.id),
        details=details,
    )


def finish(session: Session, link: SetupLink, *, request_id: str | None) -> None:
    """The admin is done: the link stops working (a conditional UPDATE, so only once)."""
    now = utcnow()
    finished = session.execute(
        update(SetupLink)
        .where(SetupLink.id == link.id, SetupLink.used_at.is_(None))
        .values(used_at=now)
    )
    if not finished.rowcount:  # type: ignore[attr-defined]
        raise NotFound(UNUSABLE)
    record_use(session, link, "finish", request_id=request_id)
