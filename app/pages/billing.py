"""``/settings/billing``: seats, the pencil → review → Update flow, invoices, members.

Adding seats is two POSTs: *review* prices the increase and writes nothing; *Update* buys.
The review form carries a fresh idempotency key, so a double submit (or a reload of the
POST) bills once (I6), and the total the owner saw, so a price that changed in between (a
month boundary passed) is shown again instead of being charged silently.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from flask import Response, current_app, flash, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest, Forbidden, NotFound
from wtforms.validators import ValidationError

from app import billing as billing_domain
from app import database_of, seat_reports, settings_of, setup_links, waiting_list
from app.alerts import inbox
from app.errors import NotFound as DomainNotFound
from app.errors import SeatgateError
from app.ledger import Actor, current_contract, seat_usage
from app.models import Contract, PlanType, Role, Source, utcnow
from app.money import display
from app.pages import blueprint
from app.pages.access import Viewer, redirect_response, require_owner
from app.web import request_id
from app.whole_numbers import BIGINT_MAX, InvalidNumber, whole_number

ROLE_LABELS = {
    Role.PRIMARY_OWNER.value: "Primary Owner",
    Role.OWNER.value: "Owner",
    Role.ADMIN.value: "Admin",
    Role.USER.value: "User",
}
SOURCE_LABELS = {"scim": "SCIM provisioning", "sso": "SSO sign-in", "cli": "Operator", "web": "Web"}
PLAN_LABELS = {
    PlanType.ANNUAL_INVOICED.value: "Annual, invoiced",
    PlanType.MONTHLY_CARD.value: "Monthly, card",
}
PRIMARY_ONLY = "Only the Primary Owner can add seats."
RECENT_ALERTS = 5


@blueprint.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {"csrf_token": generate_csrf}


def actor_of(viewer: Viewer) -> Actor:
    return Actor(label=viewer.member.email, source=Source.WEB, request_id=request_id())


def render_page(template: str, viewer: Viewer, contract: Contract, **context: Any) -> str:
    return render_template(
        template,
        organization=viewer.organization,
        viewer=viewer,
        contract=contract,
        money=lambda minor, currency=None: display(minor, currency or contract.currency),
        **context,
    )


def check_csrf() -> None:
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError as exc:
        raise CSRFError(str(exc)) from exc


def _primary_owner(viewer: Viewer) -> None:
    """The pencil's actions belong to the Primary Owner; a forged POST from an Owner stops here."""
    if not viewer.is_primary_owner:
        raise Forbidden(PRIMARY_ONLY)


@blueprint.get("/settings/billing")
def billing() -> str:
    with database_of(current_app).unit_of_work() as session:
        viewer = require_owner(session)
        contract = current_contract(
            session, viewer.organization.id, today=utcnow().date(), actor=actor_of(viewer)
        )
        usage = seat_usage(session, viewer.organization.id)
        percent = round(100 * usage.assigned / usage.purchased) if usage.purchased else 100
        return render_page(
            "billing/overview.html",
            viewer,
            contract,
            usage=usage,
            percent_used=percent,
            plan_label=PLAN_LABELS.get(contract.plan_type, contract.plan_type),
            can_purchase=viewer.is_primary_owner
            and contract.plan_type == PlanType.ANNUAL_INVOICED.value,
            waiting=seat_reports.waiting_list(session, viewer.organization),
            seatless=viewer.member.seat is None,
            auto_provision=waiting_list.auto_provision(session, viewer.organization.id),
            source_labels=SOURCE_LABELS,
            alerts=_recent_alerts(session, viewer),
            setup=setup_links.overview(session, viewer.organization),
        )


def _recent_alerts(session: Session, viewer: Viewer) -> list[dict[str, Any]]:
    return inbox.recent_alerts(
        session, viewer.organization, settings_of(current_app).base_url, RECENT_ALERTS
    )


@blueprint.get("/settings/billing/seats/edit")
def edit_seats() -> str:
    with database_of(current_app).unit_of_work(write=False) as session:
        viewer = require_owner(session)
        _primary_owner(viewer)
        return _edit_form(session, viewer, requested=_prefill(request.args.get("seats", "")))


def _prefill(text: str) -> str | None:
    """A link's suggested number of seats, shown only when it is one."""
    try:
        return str(whole_number(text, "seats"))
    except InvalidNumber:
        return None


def _edit_form(
    session: Session, viewer: Viewer, *, requested: str | None = None, error: str | None = None
) -> str:
    """The seats form; ``requested`` is what the person typed, shown again as typed."""
    contract = viewer.organization.contract
    return render_page(
        "billing/edit.html",
        viewer,
        contract,
        usage=seat_usage(session, viewer.organization.id),
        requested=requested,
        error=error,
        max_add=billing_domain.MAX_SEATS_PER_PURCHASE,
    )


@blueprint.post("/settings/billing/seats/review")
def review_seats() -> str | tuple[str, int]:
    check_csrf()
    with database_of(current_app).unit_of_work() as session:
        viewer = require_owner(session)
        _primary_owner(viewer)
        usage = seat_usage(session, viewer.organization.id)
        typed = request.form.get("seats", "")
        try:
            requested = whole_number(typed, "seats", low=usage.purchased + 1)
        except InvalidNumber:
            message = (
                f"Enter a whole number of seats greater than {usage.purchased}, in the digits "
                "0-9; seats cannot be removed during the term."
            )
            return _edit_form(session, viewer, requested=typed, error=message), 400
        try:
            return _review(session, viewer, requested - usage.purchased)
        except SeatgateError as error:
            return _edit_form(session, viewer, requested=typed, error=error.message), 400


def _review(session: Session, viewer: Viewer, quantity: int, *, notice: str | None = None) -> str:
    quote = billing_domain.quote_purchase(
        session, viewer.organization, quantity, actor=actor_of(viewer)
    )
    return render_page(
        "billing/review.html",
        viewer,
        viewer.organization.contract,
        usage=seat_usage(session, viewer.organization.id),
        quantity=quantity,
        quote=quote,
        idempotency_key=uuid.uuid4().hex,
        notice=notice,
    )


@blueprint.post("/settings/billing/seats")
def purchase_seats() -> ResponseReturnValue:
    check_csrf()
    key = request.form.get("idempotency_key", "")
    if not key:
        raise BadRequest("The review form was incomplete; start again from the billing page.")
    with database_of(current_app).unit_of_work() as session:
        viewer = require_owner(session)
        _primary_owner(viewer)
        organization = viewer.organization
        try:
            quantity = whole_number(
                request.form.get("quantity", ""), "The number of seats to add", low=1
            )
            expected_total = whole_number(
                request.form.get("expected_total_minor", ""),
                "The total you reviewed",
                high=BIGINT_MAX,
            )
        except InvalidNumber as error:
            message = f"{error.message} Start again from the review."
            return _edit_form(session, viewer, error=message), 400
        earlier = billing_domain.invoice_for_key(session, organization, key)
        if earlier is None:
            try:
                quote = billing_domain.quote_purchase(
                    session, organization, quantity, actor=actor_of(viewer)
                )
                if quote.total_minor != expected_total:
                    notice = "The price changed since you reviewed it. Check the new figures."
                    return _review(session, viewer, quantity, notice=notice), 409
                purchase = billing_domain.purchase_seats(
                    session,
                    organization,
                    quantity,
                    buyer=viewer.member,
                    actor=actor_of(viewer),
                    idempotency_key=key,
                )
            except SeatgateError as error:
                return _edit_form(session, viewer, error=error.message), 400
            invoice = purchase.invoice
            flash(
                f"Seats updated. Invoice {invoice.number} was issued for "
                f"{display(invoice.total_minor, invoice.currency)}.",
                "success",
            )
        else:
            invoice = earlier
            flash(f"These seats were already added by invoice {invoice.number}.", "info")
        target = url_for("pages.invoice", invoice_id=invoice.id)
    return redirect_response(target)


@blueprint.get("/settings/billing/invoices")
def invoices() -> str:
    with database_of(current_app).unit_of_work(write=False) as session:
        viewer = require_owner(session)
        return render_page(
            "billing/invoices.html",
            viewer,
            viewer.organization.contract,
            invoices=seat_reports.invoices_of(session, viewer.organization),
        )


@blueprint.get("/settings/billing/invoices/<int:invoice_id>")
def invoice(invoice_id: int) -> str:
    with database_of(current_app).unit_of_work(write=False) as session:
        viewer = require_owner(session)
        try:
            found = seat_reports.invoice_of(session, viewer.organization, invoice_id)
        except DomainNotFound:
            raise NotFound() from None
        return render_page(
            "billing/invoice.html", viewer, viewer.organization.contract, invoice=found
        )


@blueprint.get("/settings/billing/members")
def members() -> str:
    with database_of(current_app).unit_of_work(write=False) as session:
        viewer = require_owner(session)
        return render_page(
            "billing/members.html",
            viewer,
            viewer.organization.contract,
            rows=seat_reports.member_rows(session, viewer.organization),
            role_labels=ROLE_LABELS,
        )


@blueprint.get("/settings/billing/members.csv")
def members_csv() -> Response:
    with database_of(current_app).unit_of_work(write=False) as session:
        viewer = require_owner(session)
        rows = seat_reports.member_rows(session, viewer.organization)
        slug = viewer.organization.slug
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["email", "display_name", "role", "seat", "status", "seat_since"])
    for row in rows:
        writer.writerow(
            [
                _cell(row.email),
                _cell(row.display_name or ""),
                row.role,
                "yes" if row.has_seat else "no",
                "active" if row.active else "deactivated",
                row.seat_since.isoformat() if row.seat_since else "",
            ]
        )
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{slug}-members.csv"'},
    )


def _cell(value: str) -> str:
    """Neutralize spreadsheet formulas in identity-provider-supplied text (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
