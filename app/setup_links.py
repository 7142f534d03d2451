"""One-time setup links: an owner hands the customer's IT admin a link to set up SSO and SCIM.

A link is ``sgsetup_`` + 256 random bits; only its SHA-256 is stored and a presented link is
compared in constant time. It works until it expires (24 hours by default), until the admin
finishes the setup or until an owner or the operator revokes it, whichever comes first. Every
use is written to the audit log with the link's id as the actor, so owners can see what was
done through it.

What the holder does through a link waits for an owner (:mod:`app.idp_changes`): the IdP
configuration they submit and the SCIM tokens they get. Revoking a link also withdraws what it
left waiting: its pending configuration is rejected and its unapproved SCIM tokens revoked.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import audit, idp_changes, scim_tokens
from app.crypto import secret_digest
from app.errors import InvalidInput, NotFound
from app.ledger import Actor
from app.models import (
    IdentityProvider,
    IdpSubmission,
    IdpSubmissionStatus,
    Organization,
    ScimToken,
    SetupLink,
    Source,
    utcnow,
)

TOKEN_PREFIX = "sgsetup_"  # noqa: S105 - a public marker, not a secret
DEFAULT_LIFETIME = dt.timedelta(hours=24)
MAX_LIFETIME = dt.timedelta(days=7)
UNUSABLE = "This setup link is unknown, expired or already used. Ask an owner for a new one."
RECENT_LINKS = 10


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
        or link.revoked_at is not None
        or link.expires_at <= now
    ):
        raise NotFound(UNUSABLE)
    return link


def status_of(link: SetupLink, *, now: dt.datetime | None = None) -> str:
    """``revoked``, ``finished``, ``expired`` or ``active`` (only an active link opens)."""
    now = now or utcnow()
    if link.revoked_at is not None:
        return "revoked"
    if link.used_at is not None:
        return "finished"
    if link.expires_at <= now:
        return "expired"
    return "active"


def list_links(session: Session, organization: Organization) -> list[SetupLink]:
    """The organization's setup links, newest first."""
    return list(
        session.scalars(
            select(SetupLink)
            .where(SetupLink.organization_id == organization.id)
            .order_by(SetupLink.id.desc())
        )
    )


def link_dict(link: SetupLink, *, now: dt.datetime | None = None) -> dict[str, Any]:
    return {
        "id": link.id,
        "status": status_of(link, now=now),
        "created_by": link.created_by,
        "created_at": link.created_at.isoformat(),
        "expires_at": link.expires_at.isoformat(),
        "finished_at": link.used_at.isoformat() if link.used_at else None,
        "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None,
        "revoked_by": link.revoked_by,
    }


def revoke_link(
    session: Session, organization: Organization, link_id: int, *, actor: Actor
) -> SetupLink:
    """Stop a link at once and withdraw what it left waiting for approval.

    Revoking twice keeps the first revocation. A link of another organization is "not found".
    """
    link = session.scalar(
        select(SetupLink).where(
            SetupLink.id == link_id, SetupLink.organization_id == organization.id
        )
    )
    if link is None:
        raise NotFound(f"No setup link {link_id} in organization {organization.slug!r}.")
    revoked = session.execute(
        update(SetupLink)
        .where(SetupLink.id == link.id, SetupLink.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_by=actor.label)
    )
    session.refresh(link)
    if not revoked.rowcount:  # type: ignore[attr-defined]
        return link
    audit.record(
        session, actor, "setup_link.revoke", organization_id=organization.id, target=str(link.id)
    )
    pending = session.scalar(
        select(IdpSubmission.id).where(
            IdpSubmission.setup_link_id == link.id,
            IdpSubmission.status == IdpSubmissionStatus.PENDING.value,
        )
    )
    if pending is not None:
        idp_changes.reject_submission(session, organization.id, pending, actor=actor)
    for token in scim_tokens.awaiting_approval(session, organization, setup_link_id=link.id):
        scim_tokens.reject_token(session, organization, token.id, actor=actor)
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


@dataclass(frozen=True)
class SetupOverview:
    """What the owners see of their IdP connection: the IdP in use, what waits for their
    approval (with the link that sent it), and the latest setup links with their status."""

    idp: dict[str, Any] | None
    pending_idp: IdpSubmission | None
    pending_idp_details: dict[str, Any] | None
    pending_idp_link: SetupLink | None
    pending_tokens: list[tuple[ScimToken, SetupLink | None]] = field(default_factory=list)
    links: list[tuple[SetupLink, str]] = field(default_factory=list)
    older_links: int = 0

    @property
    def awaiting_approval(self) -> bool:
        return self.pending_idp is not None or bool(self.pending_tokens)


def overview(session: Session, organization: Organization) -> SetupOverview:
    provider = session.scalar(
        select(IdentityProvider).where(IdentityProvider.organization_id == organization.id)
    )
    pending = idp_changes.pending_submission(session, organization.id)
    links = list_links(session, organization)
    by_id = {link.id: link for link in links}
    now = utcnow()
    return SetupOverview(
        idp=idp_changes.describe_provider(provider),
        pending_idp=pending,
        pending_idp_details=idp_changes.describe_submission(pending) if pending else None,
        pending_idp_link=by_id.get(pending.setup_link_id or 0) if pending else None,
        pending_tokens=[
            (token, by_id.get(token.setup_link_id or 0))
            for token in scim_tokens.awaiting_approval(session, organization)
        ],
        links=[(link, status_of(link, now=now)) for link in links[:RECENT_LINKS]],
        older_links=max(0, len(links) - RECENT_LINKS),
    )
