"""Who may see the billing pages (R8), decided in one place.

- no valid session → redirect to sign-in, coming back here afterwards;
- an active Owner or the Primary Owner of the session's organization → the page;
- anyone else (Users, Admins) → exactly the page of a route that does not exist (404), so
  billing settings do not even reveal that they exist.

A page shown to a signed-in member renews their session when its token is past half its
lifetime (:func:`_renew_session`), so an owner at work (in the middle of a purchase) is not
sent to sign in again; ``sso.absolute_session_seconds`` bounds how long that can go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import current_app, g, redirect, request, url_for
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.wrappers import Response

from app import database_of, sessions, settings_of
from app.models import Member, Organization, Role, utcnow
from app.pages import blueprint
from app.sessions import InvalidToken, verify
from app.web import set_session_cookie

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
    g.viewer_claims = claims  # the page is shown: its session may be renewed
    return Viewer(organization=organization, member=member)


@blueprint.after_request
def _renew_session(response: Response) -> Response:
    """Hand a member at work a fresh token for the same session when theirs is past half its
    lifetime. The session is extended in a unit of its own and the token signed after it
    committed (no write lock held while signing); a session ended meanwhile is not extended.
    """
    claims: dict[str, Any] | None = g.pop("viewer_claims", None)
    settings = settings_of(current_app)
    now = utcnow()
    if claims is None or response.status_code >= 400:
        return response
    if not sessions.renewal_due(claims, settings, now=now):
        return response
    database = database_of(current_app)
    with database.unit_of_work() as session:
        expires = sessions.extend(session, settings, claims["sid"], now=now)
    if expires is None:
        return response
    with database.unit_of_work(write=False) as session:
        issued = sessions.reissue(session, settings, claims, expires=expires, now=now)
    set_session_cookie(response, settings, issued)
    return response


def redirect_response(target: str) -> Response:
    return redirect(target, code=303)
