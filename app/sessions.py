"""Session tokens the product behind the gateway trusts: RS256 JWTs, JWKS, key rotation.

Key storage and rotation: signing keys live in ``sso_token_keys`` (private halves encrypted
with ``secret_key``, see :mod:`app.crypto`), so every instance sharing the database signs with
the same key and publishes the same JWKS. The first sign-in creates a key. ``seatgate keys
rotate`` adds a new key that signs from then on and retires the previous ones; a retired key
stays in ``/.well-known/jwks.json`` for one token lifetime, until every token it signed has
expired.

Each token has a server-side :class:`~app.models.SignInSession` (its ``sid``). A session
ends for good (I9): signing out and single logout end it here (:func:`end`,
:func:`end_for_subject`); deactivating the member, freeing their seat or changing their role
ends it in the same transaction, by database triggers (migration 0011), whichever path made
the change. :func:`verify` refuses an ended session whatever the member's state is now, and
answers with the member's current e-mail, name and role, never what the token remembers.

Owner pages keep a session alive while in use: :func:`extend` slides its expiry forward and
:func:`reissue` signs a fresh token for it, never past ``sso.absolute_session_seconds``
after sign-in.
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
from app.models import (
    Member,
    Organization,
    SessionEndReason,
    SignInSession,
    TokenSigningKey,
    utcnow,
)
from app.settings import Settings

ALGORITHM = "RS256"  # pinned: verification accepts nothing else
# Billing-only sessions let an Owner reach the billing pages when no seat is free for them
# (otherwise a full organization could never be unblocked). Their audience differs from the
# product's, so a product that checks "aud" never accepts one.
BILLING_AUDIENCE = "seatgate-billing"
OWNER_ROLES = frozenset({"owner", "primary_owner"})
EndReason = SessionEndReason


class InvalidToken(Exception):
    """The token is missing, forged or expired, or its session ended."""


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
    claims = {
        "iss": settings.base_url,
        "aud": BILLING_AUDIENCE if billing_only else settings.sso.token_audience,
        "sub": str(member.id),
        **_person(member),
        "org": organization.slug,
        "sid": session_id,
        "jti": session_id,
    }
    return _sign(session, settings, claims, now=now, expires=expires)


def _person(member: Member) -> dict[str, Any]:
    """The claims that describe the member: always their current values."""
    return {"email": member.email, "name": member.display_name, "role": member.role}


def _sign(
    session: Session,
    settings: Settings,
    claims: dict[str, Any],
    *,
    now: dt.datetime,
    expires: dt.datetime,
) -> IssuedToken:
    key = current_key(session, settings.secret_key, now=now)
    timed = {
        **claims,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    private = crypto.open_private_key(key.private_key, settings.secret_key)
    token = jwt.encode(timed, private, algorithm=ALGORITHM, headers={"kid": key.kid})
    return IssuedToken(token=token, session_id=str(claims["sid"]), expires_at=expires)


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
    if record is None or record.expires_at <= now:
        raise InvalidToken("session expired")
    if record.ended_at is not None:
        raise InvalidToken(f"session ended: {record.end_reason}")
    member = session.get(Member, record.member_id)
    if member is None or str(member.id) != claims["sub"] or not member.active:
        raise InvalidToken("member deactivated, deleted or without a seat")
    if claims["aud"] == BILLING_AUDIENCE:
        if member.role not in OWNER_ROLES:
            raise InvalidToken("billing-only session of a member who is no longer an owner")
    elif member.seat is None:
        raise InvalidToken("member deactivated, deleted or without a seat")
    return {**claims, **_person(member)}


def end(
    session: Session,
    session_id: str,
    reason: SessionEndReason,
    *,
    now: dt.datetime | None = None,
) -> SignInSession | None:
    """End a session for good; returns it (for single logout at the IdP), or ``None`` when
    there is no such session or it had already ended."""
    record = session.get(SignInSession, session_id, with_for_update=True)
    if record is None or record.ended_at is not None:
        return None
    record.ended_at = now or utcnow()
    record.end_reason = reason.value
    session.flush()
    return record


def end_for_subject(
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
        SignInSession.ended_at.is_(None),
    )
    if session_indexes:
        query = query.where(SignInSession.session_index.in_(session_indexes))
    result = session.execute(
        query.values(ended_at=now or utcnow(), end_reason=EndReason.IDP_LOGOUT.value)
    )
    return int(getattr(result, "rowcount", 0))


def renewal_due(claims: dict[str, Any], settings: Settings, *, now: dt.datetime) -> bool:
    """Whether a token in use has less than half of its lifetime left: renewing then, not on
    every page, keeps an owner at work signed in for one write every few minutes."""
    remaining = float(claims["exp"]) - now.timestamp()
    return remaining < settings.sso.token_lifetime_seconds / 2


def extend(
    session: Session, settings: Settings, session_id: str, *, now: dt.datetime
) -> dt.datetime | None:
    """Slide an open session's expiry to one token lifetime from ``now``, but never past
    ``sso.absolute_session_seconds`` after it began. Returns the new expiry, or ``None``
    when there is nothing to extend (ended, expired, or at its absolute limit).

    The row is locked, so a session ended meanwhile stays ended: renewal never revives one.
    """
    record = session.get(SignInSession, session_id, with_for_update=True, populate_existing=True)
    if record is None or record.ended_at is not None or record.expires_at <= now:
        return None
    sso = settings.sso
    expires = min(
        now + dt.timedelta(seconds=sso.token_lifetime_seconds),
        record.created_at + dt.timedelta(seconds=sso.absolute_session_seconds),
    )
    if expires <= record.expires_at:
        return None
    record.expires_at = expires
    session.flush()
    return expires


def reissue(
    session: Session,
    settings: Settings,
    claims: dict[str, Any],
    *,
    expires: dt.datetime,
    now: dt.datetime,
) -> IssuedToken:
    """A fresh token for the session ``claims`` (as :func:`verify` returned them) names, to
    ``expires`` (from :func:`extend`). Reads the signing key only: call it after the unit
    that extended the session committed, so no write lock is held while signing."""
    return _sign(session, settings, claims, now=now, expires=expires)
