"""``/settings/billing/idp/<id>/approve|reject``: an owner decides on a configuration that
came through a setup link.

Owners and the Primary Owner only (the same check as every billing page), from any session
that reaches the billing page: an SSO session of the IdP in use, or an e-mail sign-in link's
billing session. Never one minted by the configuration being approved: a pending
configuration mints no session at all (:mod:`sso.submissions`).
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash
from werkzeug.wrappers import Response

from app import database_of, idp_changes, settings_of
from app.errors import SeatgateError
from app.pages.access import require_owner
from app.pages.billing import actor_of, check_csrf
from app.pages.setup_links import back_to_section
from sso import submissions

blueprint = Blueprint("idp_approvals", __name__, url_prefix="/settings/billing/idp")


@blueprint.post("/<int:submission_id>/approve")
def approve(submission_id: int) -> Response:
    check_csrf()
    with database_of(current_app).unit_of_work() as session:
        viewer = require_owner(session)
        try:
            provider = submissions.approve(
                session,
                viewer.organization,
                submission_id,
                secret_key=settings_of(current_app).secret_key,
                actor=actor_of(viewer),
            )
        except SeatgateError as error:  # decided meanwhile, or no longer a usable one
            flash(error.message, "error")
            return back_to_section()
        entity_id = provider.entity_id
    flash(f"Approved: sign-ins now go through {entity_id}.", "success")
    return back_to_section()


@blueprint.post("/<int:submission_id>/reject")
def reject(submission_id: int) -> Response:
    check_csrf()
    with database_of(current_app).unit_of_work() as session:
        viewer = require_owner(session)
        try:
            idp_changes.reject_submission(
                session, viewer.organization.id, submission_id, actor=actor_of(viewer)
            )
        except SeatgateError as error:  # decided meanwhile, or no longer a usable one
            flash(error.message, "error")
            return back_to_section()
    flash("Rejected: sign-ins keep using the configuration in use.", "success")
    return back_to_section()
