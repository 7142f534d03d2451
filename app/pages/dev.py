"""Development-only sign-in: ``seatgate dev login-link SLUG EMAIL`` and ``/dev/login/<token>``.

The factory registers this blueprint only when ``env = "development"``; in any other
environment neither the command nor the route exists.
"""

from __future__ import annotations

import click
from flask import Blueprint, current_app, render_template
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from app import database_of, settings_of
from app.cli import emit, operator, reports_domain_errors, unit_of_work
from app.dev_sign_in import create_link, redeem
from app.errors import SeatRefused
from app.organizations import get_member, get_organization
from app.pages.access import redirect_response
from app.sessions import issue
from app.web import request_id, set_session_cookie

blueprint = Blueprint("dev", __name__, cli_group="dev")
blueprint.cli.help = "Development only: sign in without an identity provider."


@blueprint.cli.command("login-link")
@click.argument("slug")
@click.argument("email")
@reports_domain_errors
def login_link(slug: str, email: str) -> None:
    """Print a one-time sign-in link for a member (development only)."""
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        link = create_link(session, get_member(session, organization, email), actor=operator())
    base = settings_of(current_app).base_url.rstrip("/")
    emit({"url": f"{base}/dev/login/{link.token}", "expires_at": link.expires_at.isoformat()})


@blueprint.get("/dev/login/<token>")
def login(token: str) -> Response | tuple[str, int]:
    settings = settings_of(current_app)
    try:
        with database_of(current_app).unit_of_work() as session:
            redeemed = redeem(session, token, request_id=request_id())
            if redeemed is None:
                raise NotFound()
            organization, member = redeemed
            issued = issue(
                session, settings, organization, member, name_id=member.email, session_index=None
            )
    except SeatRefused as refusal:
        page = render_template(
            "errors/generic.html", title="No free seat", message=refusal.message, organization=None
        )
        return page, 403
    response = redirect_response("/settings/billing")
    set_session_cookie(response, settings, issued)
    return response
