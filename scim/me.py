"""``/Me`` (RFC 7644 section 3.11): the signed-in member's own User resource.

The caller is a person, not an identity provider: it authenticates with the gateway
session from SSO (the session cookie, or its token as ``Authorization: Bearer``), verified
like every other gateway page, so a revoked session or a deactivated member gets 401. A
SCIM token names no person and gets 401 too. Only ``GET`` is offered: members change their
profile at their identity provider, which then provisions the change.
"""

from __future__ import annotations

from flask import Response, current_app, request
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app import database_of, sessions, settings_of
from app.groups import groups_of
from app.models import DirectoryUser, Organization
from scim.blueprint import base_url, route, scim_response
from scim.endpoints import not_modified, projection_args
from scim.errors import ResourceNotFound, Unauthorized
from scim.resources import project, render_user, version_tag


def _session_token() -> str:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and presented.strip():
        return presented.strip()
    cookie = request.cookies.get(settings_of(current_app).sso.cookie_name)
    if cookie:
        return cookie
    raise Unauthorized("/Me needs a signed-in member: sign in through SSO first.")


def _me() -> Response:
    token = _session_token()
    with database_of(current_app).unit_of_work(write=False) as session:
        try:
            claims = sessions.verify(session, settings_of(current_app), token)
        except sessions.InvalidToken as exc:
            raise Unauthorized(
                "The session is invalid, expired or revoked; sign in again."
            ) from exc
        user = (
            session.scalars(
                select(DirectoryUser)
                .join(Organization, Organization.id == DirectoryUser.organization_id)
                .where(
                    DirectoryUser.member_id == int(claims["sub"]),
                    Organization.slug == claims["org"],
                )
                .options(joinedload(DirectoryUser.member), joinedload(DirectoryUser.values))
            )
            .unique()
            .one_or_none()
        )
        if user is None:
            raise ResourceNotFound("You were not provisioned over SCIM, so you have no User.")
        cached = not_modified(version_tag(user))
        if cached is not None:
            return cached
        groups = groups_of(session, [user.member_id]).get(user.member_id, [])
        document = render_user(user, base_url(), groups)
    headers = {"ETag": version_tag(user), "Content-Location": document["meta"]["location"]}
    return scim_response(project(document, *projection_args()), 200, headers)


route("/Me", GET=_me)
