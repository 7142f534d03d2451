"""Per-organization bearer tokens for SCIM provisioning.

A token is ``sgscim_`` followed by 256 random bits (URL-safe base64). Only its SHA-256 is
stored, so a leaked database does not leak working credentials; the token is shown once at
creation. A presented token is looked up by its hash (an indexed, unique column) and the stored
hash is compared again with :func:`hmac.compare_digest`, so the check does not leak timing.
The token alone decides the organization a request acts on (I7).

A token issued through a setup link is *awaiting approval*: refused like a revoked one until an
Owner or the Primary Owner approves it. A SCIM client can create members, change their e-mail
addresses and (through mapped groups) their roles; that is the identity provider's trust, not
an outside helper's (DESIGN I10).
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from app import audit, idp_changes
from app.crypto import secret_digest
from app.db import Database
from app.errors import InvalidInput, NotFound
from app.ledger import Actor
from app.models import Organization, ScimToken, SetupLink, utcnow

TOKEN_PREFIX = "sgscim_"  # noqa: S105 - a public marker, not a secret
# Writing last_used_at on every request would turn every read into a write; once a minute
# is precise enough for "is this token still used?".
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
MAX_LABEL_LENGTH = 200
MAX_TOKENS_PER_SETUP_LINK = 5  # each one alerts the owners: enough for a retry, no flood


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token: ``secret`` exists only here, never in the database."""

    token: ScimToken
    secret: str


@dataclass(frozen=True)
class Authenticated:
    """Who a valid token speaks for."""

    token_id: int
    organization_id: int
    label: str
    last_used_at: dt.datetime | None

    def due_for_touch(self, now: dt.datetime) -> bool:
        return self.last_used_at is None or now - self.last_used_at >= LAST_USED_RESOLUTION


def create_token(
    session: Session,
    organization: Organization,
    *,
    label: str,
    actor: Actor,
    setup_link: SetupLink | None = None,
) -> IssuedToken:
    """A new token; one issued through ``setup_link`` works only once an owner approves it."""
    label = label.strip()
    if not label or len(label) > MAX_LABEL_LENGTH:
        raise InvalidInput(f"A token label must be 1-{MAX_LABEL_LENGTH} characters.")
    if setup_link is not None:
        issued = session.scalar(
            select(func.count())
            .select_from(ScimToken)
            .where(ScimToken.setup_link_id == setup_link.id)
        )
        if (issued or 0) >= MAX_TOKENS_PER_SETUP_LINK:
            raise InvalidInput(
                f"This link has issued {MAX_TOKENS_PER_SETUP_LINK} SCIM tokens already; "
                "ask an owner for a new link."
            )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ScimToken(
        organization_id=organization.id,
        label=label,
        token_hash=secret_digest(secret),
        created_at=utcnow(),
        awaiting_approval=setup_link is not None,
        setup_link_id=setup_link.id if setup_link is not None else None,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor,
        "scim_token.create",
        organization_id=organization.id,
        target=str(token.id),
        details={"label": label},
    )
    if setup_link is not None:
        idp_changes.announce(
            session,
            organization.id,
            "scim_token_submitted",
            actor,
            link=setup_link,
            scim_token=token,
        )
    return IssuedToken(token=token, secret=secret)


def awaiting_approval(
    session: Session, organization: Organization, *, setup_link_id: int | None = None
) -> list[ScimToken]:
    """Tokens issued through setup links that no owner approved or rejected yet."""
    query = select(ScimToken).where(
        ScimToken.organization_id == organization.id,
        ScimToken.awaiting_approval.is_(True),
        ScimToken.revoked_at.is_(None),
    )
    if setup_link_id is not None:
        query = query.where(ScimToken.setup_link_id == setup_link_id)
    return list(session.scalars(query.order_by(ScimToken.id)))


def approve_token(
    session: Session, organization: Organization, token_id: int, *, actor: Actor
) -> ScimToken:
    """An owner lets a setup link's token provision (once: a conditional UPDATE)."""
    approved = session.execute(
        update(ScimToken)
        .where(
            ScimToken.id == token_id,
            ScimToken.organization_id == organization.id,
            ScimToken.awaiting_approval.is_(True),
            ScimToken.revoked_at.is_(None),
        )
        .values(awaiting_approval=False)
    )
    if not approved.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"SCIM token {token_id} is not waiting for approval.")
    token = session.get_one(ScimToken, token_id, populate_existing=True)
    audit.record(
        session,
        actor,
        "scim_token.approve",
        organization_id=organization.id,
        target=str(token.id),
        details={"label": token.label},
    )
    idp_changes.announce(
        session,
        organization.id,
        "scim_token_approved",
        actor,
        link=_link_of(session, token),
        scim_token=token,
    )
    return token


def reject_token(
    session: Session, organization: Organization, token_id: int, *, actor: Actor
) -> ScimToken:
    """An owner refuses a setup link's token: it is revoked, never having worked."""
    token = session.scalar(
        select(ScimToken).where(
            ScimToken.id == token_id,
            ScimToken.organization_id == organization.id,
            ScimToken.awaiting_approval.is_(True),
            ScimToken.revoked_at.is_(None),
        )
    )
    if token is None:
        raise NotFound(f"SCIM token {token_id} is not waiting for approval.")
    revoke_token(session, organization, token_id, actor=actor)
    token.awaiting_approval = False  # decided: revoked, never having worked
    session.flush()
    idp_changes.announce(
        session,
        organization.id,
        "scim_token_rejected",
        actor,
        link=_link_of(session, token),
        scim_token=token,
    )
    return token


def _link_of(session: Session, token: ScimToken) -> SetupLink | None:
    return session.get(SetupLink, token.setup_link_id) if token.setup_link_id else None


def list_tokens(session: Session, organization: Organization) -> list[ScimToken]:
    return list(
        session.scalars(
            select(ScimToken)
            .where(ScimToken.organization_id == organization.id)
            .order_by(ScimToken.id)
        )
    )


def revoke_token(
    session: Session, organization: Organization, token_id: int, *, actor: Actor
) -> ScimToken:
    """Revoke at once; revoking twice keeps the first revocation time."""
    token = session.scalar(
        select(ScimToken).where(
            ScimToken.id == token_id, ScimToken.organization_id == organization.id
        )
    )
    if token is None:
        raise NotFound(f"No SCIM token {token_id} in organization {organization.slug!r}.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(
            session,
            actor,
            "scim_token.revoke",
            organization_id=organization.id,
            target=str(token.id),
            details={"label": token.label},
        )
        session.flush()
    return token


# Built once: every SCIM request runs it, and a prebuilt statement skips building the query
# and its cache key each time. Core columns of the plain table: no ORM loading machinery.
_tokens = ScimToken.__table__
TOKEN_COLUMNS = (
    _tokens.c.id,
    _tokens.c.organization_id,
    _tokens.c.label,
    _tokens.c.token_hash,
    _tokens.c.last_used_at,
    _tokens.c.revoked_at,
    _tokens.c.awaiting_approval,
)
_BY_HASH = select(*TOKEN_COLUMNS).where(_tokens.c.token_hash == bindparam("digest"))


def presented_digest(presented: str) -> str | None:
    """The digest to look a presented token up by; ``None`` if it cannot be one of ours."""
    return secret_digest(presented) if presented.startswith(TOKEN_PREFIX) else None


def authenticate(database: Database, presented: str) -> Authenticated | None:
    """The organization a presented token speaks for, or ``None`` if it is unknown, revoked or
    still awaiting an owner's approval.

    Read from the database on every request (no cache), so a revocation applies to the
    very next request on every instance. One statement, so a plain read outside any
    transaction (:meth:`~app.db.Database.fetch`): a write request needs no read transaction
    of its own just to check its token.
    """
    digest = presented_digest(presented)
    if digest is None:
        return None
    rows = database.fetch(_BY_HASH, {"digest": digest})
    return accepted(rows[0] if rows else None, digest)


def accepted(token: Any, digest: str) -> Authenticated | None:
    """Who a looked-up token row (``None``: no row) speaks for, if it may still be used.

    Shared by :func:`authenticate` and the reads that look the token up in the same
    statement as their data (:func:`app.directory.read_user_for_token`).
    """
    if token is None:
        return None
    if (
        not hmac.compare_digest(token.token_hash, digest)
        or token.revoked_at is not None
        or token.awaiting_approval
    ):
        return None
    return Authenticated(
        token_id=token.id,
        organization_id=token.organization_id,
        label=token.label,
        last_used_at=token.last_used_at,
    )


def touch(session: Session, token_id: int, *, now: dt.datetime) -> None:
    """Record that the token was used (at most once per :data:`LAST_USED_RESOLUTION`)."""
    session.execute(
        update(ScimToken)
        .where(ScimToken.id == token_id)
        .where(
            (ScimToken.last_used_at.is_(None))
            | (ScimToken.last_used_at <= now - LAST_USED_RESOLUTION)
        )
        .values(last_used_at=now)
    )
