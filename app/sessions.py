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
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app import crypto
from app.models import Member, Organization, SignInSession, TokenSigningKey, utcnow
from app.settings import Settings

ALGORITHM = "RS256"  # pinned: verification accepts nothing else


class InvalidToken(Exception):
    """The token is missing, forged, expired, or its session was revoked."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    session_id: str
    expires_at: dt.datetime


def current_key(session: Session, secret_key: str, *, now: dt.datetime) -> TokenSigningKey:
    """The newest unretired key, created on first use."""
    key = session.scalar(
        select(TokenSigningKey)
        .where(TokenSigningKey.retired_at.is_(None))
        .order_by(TokenSigningKey.created_at.desc(), TokenSigningKey.kid.desc())
        .limit(1)
    )
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
    now: dt.datetime | None = None,
) -> IssuedToken:
    """Open a server-side session for ``member`` and sign its token."""
    now = now or utcnow()
    expires = now + dt.timedelta(seconds=settings.sso.token_lifetime_seconds)
    session_id = uuid.uuid4().hex
    session.execute(delete(SignInSession).where(SignInSession.expires_at < now))
    session.add(
        SignInSession(
            id=session_id,
            organization_id=organization.id,
            member_id=member.id,
            name_id=name_id[:512],
            session_index=(session_index or None) and session_index[:256],
            created_at=now,
            expires_at=expires,
        )
    )
    key = current_key(session, settings.secret_key, now=now)
    claims = {
        "iss": settings.base_url,
        "aud": settings.sso.token_audience,
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
    session.flush()
    return IssuedToken(token=token, session_id=session_id, expires_at=expires)


def verify(
    session: Session, settings: Settings, token: str, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """What the gateway itself checks: signature, claims, and that the session still stands."""
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
            audience=settings.sso.token_audience,
            issuer=settings.base_url,
            options={"require": ["exp", "iat", "sub", "sid", "aud", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    record = session.get(SignInSession, claims["sid"])
    if record is None or record.revoked_at is not None or record.expires_at <= now:
        raise InvalidToken("session revoked or expired")
    member = session.get(Member, record.member_id)
    if (
        member is None
        or not member.active
        or member.seat is None
        or str(member.id) != claims["sub"]
    ):
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
