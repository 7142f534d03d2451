"""The billing page's *Single sign-on and provisioning* section: what owners decide about
their identity provider connection.

Owners and the Primary Owner create setup links for an outside helper, see and revoke them,
and approve or reject what came through them: an IdP configuration (the routes are in
:mod:`sso.approvals`, which applies it) and SCIM tokens (here). Every form posts, redirects
back to the billing page and says what happened (post/redirect/get).
"""

from __future__ import annotations

from flask import current_app, flash, render_template, url_for
from werkzeug.wrappers import Response

from app import database_of, scim_tokens, settings_of, setup_links
from app.errors import NotFound
from app.models import SetupLink
from app.pages import blueprint
from app.pages.access import redirect_response, require_owner
from app.pages.billing import actor_of, check_csrf

SECTION = "setup-heading"


def back_to_section() -> Response:
    return redirect_response(url_for("pages.billing") + "#" + SECTION)


@blueprint.post("/settings/billing/setup-link")
def create_setup_link() -> Response | str:
    """An owner creates a one-time link for their IT admin; the URL is shown once."""
    check_csrf()
    with database_of(current_app).unit_of_work() as session:
        viewer = require_owner(session)
        issued = setup_links.create_link(session, viewer.organization, actor=actor_of(viewer))
        base_url = settings_of(current_app).base_url.rstrip("/")
        return render_template(
            "logs/setup_link.html",
            organization=viewer.organization,
            viewer=viewer,
            url=f"{base_url}/setup/{issued.token}",
            expires_at=issued.link.expires_at,
        )


@blueprint.post("/settings/billing/setup-links/<int:link_id>/revoke")
def revoke_setup_link(link_id: int) -> Response:
    """Stop a link now; what it left waiting for approval is withdrawn with it."""
    check_csrf()
    with database_of(current_app).unit_of_work() as session:
        viewer = require_owner(session)
        try:
            link: SetupLink = setup_links.revoke_link(
                session, viewer.organization, link_id, actor=actor_of(viewer)
            )
        except NotFound as error:
            flash(error.message, "error")
            return back_to_section()
    flash(f"Setup link {link.id} is revoked: it answers “not found” from now on.", "success")
    return back_to_section()


@blueprint.post("/settings/billing/scim-tokens/<int:token_id>/approve")
def approve_scim_token(token_id: int) -> Response:
    check_csrf()
    with database_of(current_app).unit_of_work() as session:
        viewer = require_owner(session)
        try:
            token = scim_tokens.approve_token(
                session, viewer.organization, token_id, actor=actor_of(viewer)
            )
        except NotFound as error:
            flash(error.message, "error")
            return back_to_section()
    flash(f"SCIM token {token.id} ({token.label}) approved: it can provision users now.", "success")
    return back_to_section()


@blueprint.post("/settings/billing/scim-tokens/<int:token_id>/reject")
def reject_scim_token(token_id: int) -> Response:
    check_csrf()
    with database_of(current_app).unit_of_work() as session:
        viewer = require_owner(session)
        try:
            token = scim_tokens.reject_token(
                session, viewer.organization, token_id, actor=actor_of(viewer)
            )
        except NotFound as error:
            flash(error.message, "error")
            return back_to_section()
    flash(f"SCIM token {token.id} ({token.label}) rejected and revoked.", "success")
    return back_to_section()
