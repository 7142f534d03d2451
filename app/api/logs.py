"""``/api/v1/orgs/<slug>/logs/{sign-ins,scim}``: connection logs for owners and admins.

Query parameters: ``failed=1`` (refusals / 4xx-5xx only), ``outcome`` (sign-ins), ``status``
(SCIM), ``before`` (an id, to page back), ``limit`` (1-100).
"""

from __future__ import annotations

from flask import Response, current_app, jsonify, request

from app import connection_logs, database_of, scim_request_log_of
from app.api import blueprint
from app.api.auth import LOG_ROLES, authenticated_caller, member_of
from app.connection_logs import PAGE_SIZE, LogFilter
from app.whole_numbers import INTEGER_MAX, InvalidNumber, whole_number


def log_filter() -> LogFilter:
    """The filter from the query string (pages and API alike); what is not a number within
    its bounds is ignored."""
    return LogFilter(
        outcome=(request.args.get("outcome") or "")[:32] or None,
        status=_number("status", 100, 599),
        failed_only=request.args.get("failed") in {"1", "true", "on"},
        before_id=_number("before", 1, INTEGER_MAX),
        limit=min(_number("limit", 1, INTEGER_MAX) or PAGE_SIZE, PAGE_SIZE),
    )


def _number(name: str, low: int, high: int) -> int | None:
    try:
        return whole_number(request.args.get(name, ""), name, low=low, high=high)
    except InvalidNumber:
        return None


@blueprint.get("/orgs/<slug>/logs/sign-ins")
def sign_in_logs(slug: str) -> Response:
    caller = authenticated_caller()
    with database_of(current_app).unit_of_work(write=False) as session:
        organization = member_of(session, slug, caller, LOG_ROLES)
        entries = connection_logs.sign_ins(session, organization.id, log_filter())
        return jsonify(sign_ins=[connection_logs.sign_in_dict(e) for e in entries])


@blueprint.get("/orgs/<slug>/logs/scim")
def scim_logs(slug: str) -> Response:
    caller = authenticated_caller()
    scim_request_log_of(current_app).flush()  # this worker's pending rows are shown too
    with database_of(current_app).unit_of_work(write=False) as session:
        organization = member_of(session, slug, caller, LOG_ROLES)
        entries = connection_logs.scim_requests(session, organization.id, log_filter())
        return jsonify(requests=[connection_logs.scim_request_dict(e) for e in entries])
