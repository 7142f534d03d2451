"""``/settings/logs/…``: connection logs for owners and admins; owners' waiting-list setting.

Admins may read the logs (they run the integration); billing stays owners-only (R8).
"""

from __future__ import annotations

from flask import current_app, flash, render_template, request, url_for
from werkzeug.wrappers import Response

from app import connection_logs, database_of, scim_request_log_of, waiting_list
from app.api.logs import log_filter
from app.pages import blueprint
from app.pages.access import LOG_ROLES, redirect_response, require_owner, require_role
from app.pages.billing import actor_of, check_csrf


@blueprint.get("/settings/logs/sign-ins")
def sign_in_logs() -> str:
    with database_of(current_app).unit_of_work(write=False) as session:
        viewer = require_role(session, LOG_ROLES)
        where = log_filter()
        return render_template(
            "logs/sign_ins.html",
            organization=viewer.organization,
            viewer=viewer,
            where=where,
            entries=connection_logs.sign_ins(session, viewer.organization.id, where),
        )


@blueprint.get("/settings/logs/scim")
def scim_logs() -> str:
    scim_request_log_of(current_app).flush()  # this worker's pending rows are shown too
    with database_of(current_app).unit_of_work(write=False) as session:
        viewer = require_role(session, LOG_ROLES)
        where = log_filter()
        return render_template(
            "logs/scim.html",
            organization=viewer.organization,
            viewer=viewer,
            where=where,
            entries=connection_logs.scim_requests(session, viewer.organization.id, where),
        )


@blueprint.post("/settings/billing/waiting-list")
def waiting_list_setting() -> Response:
    """Owners choose whether added seats go to the waiting list automatically."""
    check_csrf()
    with database_of(current_app).unit_of_work() as session:
        viewer = require_owner(session)
        enabled = request.form.get("auto_provision") == "on"
        waiting_list.set_auto_provision(
            session, viewer.organization, enabled, actor=actor_of(viewer)
        )
    flash(
        "Added seats now go to the waiting list automatically."
        if enabled
        else "Added seats are no longer given to the waiting list automatically."
    )
    return redirect_response(url_for("pages.billing"))
