"""Who may see the billing pages (R8), decided in one place.

- no valid session → redirect to sign-in, coming back here afterwards;
- an active Owner or the Primary Owner of the session's organization → the page;
- anyone else (Users, Admins) → exactly the page of a route that does not exist (404), so
  billing settings do not even reveal that they exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from flask import current_app, redirect, request, url_for
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.wrappers import Response

from app import settings_of
from app.models import Member, Organization, Role
from app.sessions import InvalidToken, verify

OWNER_ROLES = frozenset({Role.OWNER.value, Role.PRIMARY_OWNER.value})
# Connection logs are for whoever runs the integration: admins too, unlike billing (R8).
LOG_ROLES = OWNER_ROLES | {Role.ADMIN.value}


class SignInRequired(HTTPException):
    """Raised to send the browser to sign-in; rendered as a 303 redirect."""

    code = 303

    def __init__(self) -> None:
        target = url_for("pages.signin") + "?" + urlencode({"next": request.full_path.rstrip("?")})
        super().__init__(response=redirect(target, code=303))


@dataclass(frozen=True)
class Viewer:
    """The signed-in owner looking at the pages, and their organization."""

    organization: Organization
    member: Member

    @property
    def is_primary_owner(self) -> bool:
        return self.member.role == Role.PRIMARY_OWNER.value


def session_token() -> str | None:
    return request.cookies.get(settings_of(current_app).sso.cookie_name) or None


def require_owner(session: Session) -> Viewer:
    return require_role(session, OWNER_ROLES)


def require_role(session: Session, roles: frozenset[str]) -> Viewer:
    """The signed-in, active member of the session's organization, if their role is in
    ``roles``; anyone else gets the "not found" page."""
    token = session_token()
    if token is None:
        raise SignInRequired()
    try:
        claims = verify(session, settings_of(current_app), token, allow_billing_only=True)
    except InvalidToken:
        raise SignInRequired() from None
    member = session.get(Member, int(claims["sub"]))
    if member is None or member.role not in roles or not member.active:
        raise NotFound()
    organization = session.get(Organization, member.organization_id)
    if organization is None or organization.slug != claims.get("org"):
        raise NotFound()
    return Viewer(organization=organization, member=member)


def redirect_response(target: str) -> Response:
    return redirect(target, code=303)
