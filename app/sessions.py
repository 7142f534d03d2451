"""Session tokens the product behind the gateway trusts: RS256 JWTs, JWKS, key rotation.

Key storage and rotation: signing keys live in ``sso_token_keys`` (private halves encrypted
with ``secret_key``, see :mod:`app.crypto`), so every instance sharing the database signs with
the same key and publishes the same JWKS. The first sign-in creates a key. ``seatgate keys
rotate`` adds a new key that signs from then on and retires the previous ones; a retired key
stays in ``/.well-known/jwks.json`` for one token lifetime, until every token it signed has
expired.

Each token has a server-side :class:`~app.models.SignInSession` (its ``sid``): deleting the
member deletes it, deactivating the member or signing out makes :func:`verify` refuse it at
once, even though the JWT alone would still verify until ``exp``.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from app import crypto
from app.housekeeping import purge_due
from app.models import Member, Organization, SignInSession, TokenSigningKey, utcnow
from app.settings import Settings

ALGORITHM = "RS256"  # pinned: verification accepts nothing else
# Billing-only sessions let an Owner reach the billing pages when no seat is free for them
# (otherwise a full organization could never be unblocked). Their audience differs from the
# product's, so a product that checks "aud" never accepts one.
BILLING_AUDIENCE = "seatgate-billing"
OWNER_ROLES = frozenset({"owner", "primary_owner"})


class InvalidToken(Exception):
    """The token is missing, forged, expired, or its session was revoked."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    session_id: str
    expires_at: dt.datetime


# A plain INSERT: nothing reads the session back in the sign-in's transaction, and the ORM's
# unit of work per object is a visible share of a sign-in (bench/RESULTS.md, sixth round).
_INSERT_SESSION = insert(SignInSession.__table__)  # type: ignore[arg-type]
# Built once: every sign-in signs with it (bench/RESULTS.md, fourth round).
_CURRENT_KEY = (
    select(TokenSigningKey)
    .where(TokenSigningKey.retired_at.is_(None))
    .order_by(TokenSigningKey.created_at.desc(), TokenSigningKey.kid.desc())
    .limit(1)
)


def current_key(session: Session, secret_key: str, *, now: dt.datetime) -> TokenSigningKey:
    """The newest unretired key, created on first use."""
    key = session.scalar(_CURRENT_KEY)
    return key if key is not None else _new_key(session, secret_key, now=now)


def rotate(session: Session, secret_key: str, *, now: dt.datetime | None = None) -> TokenSigningKey:
    """Retire every active key and add a new one that signs from now on."""
    now = now or utcnow()
    session.execute(
        update(TokenSigningKey).where(TokenSigningKey.retired_at.is_(None)).values(retired_at=now)
    )
    return _new_key(session, secret_key, now=now)


def _new_key(session: Session, secret_key: str, *, now: dt.datetime) -> TokenSigningKey:
    private = crypto.new_rsa_key()
    kid = secrets.token_urlsafe(12)
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    key = TokenSigningKey(
        kid=kid,
        algorithm=ALGORITHM,
        private_key=crypto.seal_private_key(private, secret_key),
        public_jwk=jwk,
        created_at=now,
    )
    session.add(key)
    session.flush()
    return key


def published_keys(session: Session, settings: Settings, *, now: dt.datetime) -> dict[str, Any]:
    """The JWKS: active keys, plus retired keys whose tokens may not have expired yet."""
    horizon = now - dt.timedelta(seconds=settings.sso.token_lifetime_seconds)
    keys = session.scalars(
        select(TokenSigningKey)
        .where(TokenSigningKey.retired_at.is_(None) | (TokenSigningKey.retired_at > horizon))
        .order_by(TokenSigningKey.created_at.desc())
    )
    return {"keys": [dict(key.public_jwk) for key in keys]}


def issue(
    session: Session,
    settings: Settings,
    organization: Organization,
    member: Member,
    *,
    name_id: str,
    session_index: str | None,
    billing_only: bool = False,
    now: dt.datetime | None = None,
) -> IssuedToken:
    """Open a server-side session for ``member`` and sign its token.

    ``billing_only`` issues a token for seatgate's own billing pages and API only (an Owner
    who holds no seat because none is free); the product behind the gateway refuses it.
    """
    now = now or utcnow()
    expires = now + dt.timedelta(seconds=settings.sso.token_lifetime_seconds)
    session_id = uuid.uuid4().hex
    if purge_due("sso_sessions", None, now):  # an expired session is refused by verify()
        session.execute(delete(SignInSession).where(SignInSession.expires_at < now))
    session.execute(
        _INSERT_SESSION,
        {
            "id": session_id,
            "organization_id": organization.id,
            "member_id": member.id,
            "name_id": name_id[:512],
            "session_index": (session_index or None) and session_index[:256],
            "created_at": now,
            "expires_at": expires,
        },
    )
    key = current_key(session, settings.secret_key, now=now)
    claims = {
        "iss": settings.base_url,
        "aud": BILLING_AUDIENCE if billing_only else settings.sso.token_audience,
        "sub": str(member.id),
        "email": member.email,
        "name": member.display_name,
        "org": organization.slug,
        "role": member.role,
        "sid": session_id,
        "jti": session_id,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    private = crypto.open_private_key(key.private_key, settings.secret_key)
    token = jwt.encode(claims, private, algorithm=ALGORITHM, headers={"kid": key.kid})
    return IssuedToken(token=token, session_id=session_id, expires_at=expires)


def verify(
    session: Session,
    settings: Settings,
    token: str,
    *,
    allow_billing_only: bool = False,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """What the gateway itself checks: signature, claims, and that the session still stands.

    A product session needs an active member holding a seat. Where ``allow_billing_only``
    (seatgate's billing pages and API), a billing-only session of an active Owner also passes.
    """
    now = now or utcnow()
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"unreadable token: {exc}") from exc
    jwks = published_keys(session, settings, now=now)["keys"]
    match = next((jwk for jwk in jwks if jwk.get("kid") == kid), None)
    if match is None:
        raise InvalidToken("unknown signing key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            jwt.PyJWK(match, algorithm=ALGORITHM),
            algorithms=[ALGORITHM],
            audience=[settings.sso.token_audience]
            + ([BILLING_AUDIENCE] if allow_billing_only else []),
            issuer=settings.base_url,
            options={"require": ["exp", "iat", "sub", "sid", "aud", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    record = session.get(SignInSession, claims["sid"])
    if record is None or record.revoked_at is not None or record.expires_at <= now:
        raise InvalidToken("session revoked or expired")
    member = session.get(Member, record.member_id)
    if member is None or not member.active or str(member.id) != claims["sub"]:
        raise InvalidToken("member deactivated, deleted or without a seat")
    if claims["aud"] == BILLING_AUDIENCE:
        if member.role not in OWNER_ROLES:
            raise InvalidToken("billing-only session of a member who is no longer an owner")
    elif member.seat is None:
        raise InvalidToken("member deactivated, deleted or without a seat")
    return claims


def revoke(
    session: Session, session_id: str, *, now: dt.datetime | None = None
) -> SignInSession | None:
    """End a session at once; returns it (for single logout at the IdP), or ``None``."""
    record = session.get(SignInSession, session_id, with_for_update=True)
    if record is None or record.revoked_at is not None:
        return None
    record.revoked_at = now or utcnow()
    session.flush()
    return record


def revoke_for_subject(
    session: Session,
    organization_id: int,
    name_id: str,
    session_indexes: list[str],
    *,
    now: dt.datetime | None = None,
) -> int:
    """IdP-initiated logout: end the subject's sessions (only the named ones, if any)."""
    query = update(SignInSession).where(
        SignInSession.organization_id == organization_id,
        SignInSession.name_id == name_id,
        SignInSession.revoked_at.is_(None),
    )
    if session_indexes:
        query = query.where(SignInSession.session_index.in_(session_indexes))
    result = session.execute(query.values(revoked_at=now or utcnow()))
    return int(getattr(result, "rowcount", 0))
