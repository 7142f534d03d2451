"""``GET /api/v1/orgs/<slug>/alerts``: the organization's alerts, for its owners only."""

from __future__ import annotations

from flask import Response, current_app, jsonify, request

from app import database_of, settings_of
from app.alerts import inbox
from app.api import blueprint
from app.api.auth import authenticated_caller, owner_of
from app.whole_numbers import whole_number


@blueprint.get("/orgs/<slug>/alerts")
def organization_alerts(slug: str) -> Response:
    caller = authenticated_caller()
    limit = whole_number(
        request.args.get("limit", str(inbox.DEFAULT_LIMIT)), "limit", low=1, high=inbox.MAX_LIMIT
    )
    with database_of(current_app).unit_of_work(write=False) as session:
        organization = owner_of(session, slug, caller)
        alerts = inbox.recent_alerts(
            session, organization, settings_of(current_app).base_url, limit
        )
    response = jsonify(organization=slug, alerts=alerts)
    response.headers["Cache-Control"] = "no-store"
    return response
