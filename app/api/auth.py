"""Who is calling the JSON API.

:func:`authenticated_caller` turns the ``Authorization: Bearer`` header into verified claims
(401 otherwise); :func:`owner_of` then requires an active Owner or Primary Owner of the
organization in the URL and answers 404 for anyone else (R8: Admins and Users see "not found",
and one organization's token never reveals another organization, I7).

Two bearers are accepted, told apart by their pinned algorithm: the gateway session token
issued at SSO sign-in (RS256, verified with its server-side session, so a deactivated member
is refused at once), and a short-lived owner API token minted by an operator with
``seatgate api-token SLUG EMAIL`` for automation (HS256 only, signed with a key derived from
``secret_key``). Cookies are never read here, so the API needs no CSRF protection.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import click
import jwt
from flask import Response, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from app import database_of, sessions, settings_of
from app.api import blueprint
from app.cli import WholeNumber, emit, reports_domain_errors, unit_of_work
from app.models import Member, Organization, Role, utcnow
from app.organizations import get_member, get_organization
from app.whole_numbers import InvalidNumber, whole_number

ISSUER = "seatgate"
AUDIENCE = "seatgate-api"
ALGORITHM = "HS256"
DEFAULT_TTL_SECONDS = 900
MAX_TTL_SECONDS = 24 * 3600
OWNER_ROLES = (Role.OWNER.value, Role.PRIMARY_OWNER.value)
LOG_ROLES = (*OWNER_ROLES, Role.ADMIN.value)


class Unauthenticated(Exception):
    """No usable credentials: 401 with a ``WWW-Authenticate`` challenge."""


@dataclass(frozen=True)
class Caller:
    member_id: int
    organization_slug: str


def mint_api_token(
    secret_key: str, member: Member, organization: Organization, *, ttl_seconds: int
) -> tuple[str, dt.datetime]:
    now = utcnow()
    expires = now + dt.timedelta(seconds=ttl_seconds)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(member.id),
        "org": organization.slug,
        "iat": now,
        "exp": expires,
    }
    return jwt.encode(claims, _signing_key(secret_key), algorithm=ALGORITHM), expires


def authenticated_caller() -> Caller:
    """The caller behind ``Authorization: Bearer``: a gateway session or an owner API token."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("A bearer token is required.")
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
    except jwt.PyJWTError as exc:
        raise Unauthenticated("The bearer token is invalid or expired.") from exc
    is_session = algorithm == sessions.ALGORITHM
    claims = _session_claims(token) if is_session else _api_token_claims(token)
    subject, slug = claims.get("sub"), claims.get("org")
    if not isinstance(subject, str) or not isinstance(slug, str):
        raise Unauthenticated("The bearer token is invalid or expired.")
    try:
        return Caller(member_id=whole_number(subject, "sub", low=1), organization_slug=slug)
    except InvalidNumber as exc:
        raise Unauthenticated("The bearer token is invalid or expired.") from exc


def _session_claims(token: str) -> dict[str, Any]:
    """A gateway session token from SSO: signature, claims and the server-side session."""
    with database_of(current_app).unit_of_work(write=False) as session:
        try:
            return sessions.verify(
                session, settings_of(current_app), token, allow_billing_only=True
            )
        except sessions.InvalidToken as exc:
            raise Unauthenticated("The session is invalid, expired or revoked.") from exc


def _api_token_claims(token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _signing_key(settings_of(current_app).secret_key),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated("The bearer token is invalid or expired.") from exc
    return claims


def owner_of(session: Session, slug: str, caller: Caller) -> Organization:
    """The organization, if the caller is one of its active owners; else 404."""
    return member_of(session, slug, caller, OWNER_ROLES)


def member_of(session: Session, slug: str, caller: Caller, roles: tuple[str, ...]) -> Organization:
    """The organization, if the caller is one of its active members with one of ``roles``."""
    if caller.organization_slug != slug:
        raise NotFound()
    organization = session.scalar(select(Organization).where(Organization.slug == slug))
    member = session.get(Member, caller.member_id)
    if (
        organization is None
        or member is None
        or member.organization_id != organization.id
        or not member.active
        or member.role not in roles
    ):
        raise NotFound()
    return organization


@blueprint.errorhandler(Unauthenticated)
def _unauthenticated(error: Unauthenticated) -> tuple[Response, int, dict[str, str]]:
    return (
        jsonify(error="Unauthorized", detail=str(error)),
        401,
        {"WWW-Authenticate": 'Bearer realm="seatgate"'},
    )


@blueprint.cli.command("api-token")
@click.argument("slug")
@click.argument("email")
@click.option(
    "--ttl",
    type=WholeNumber(60, MAX_TTL_SECONDS),
    default=DEFAULT_TTL_SECONDS,
    show_default=True,
    help="Lifetime in seconds",
)
@reports_domain_errors
def api_token(slug: str, email: str, ttl: int) -> None:
    """Mint a short-lived bearer token for a member to call the JSON API."""
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        member = get_member(session, organization, email)
        token, expires = mint_api_token(
            settings_of(current_app).secret_key, member, organization, ttl_seconds=ttl
        )
    emit({"token": token, "expires_at": expires.isoformat(), "member": member.email})


def _signing_key(secret_key: str) -> bytes:
    """A key of its own for API tokens, so they can never pass for another JWT we sign."""
    return hmac.new(secret_key.encode(), b"seatgate api token v1", hashlib.sha256).digest()
