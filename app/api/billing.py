"""The owners' billing API: seats, quote, purchase, invoices, members (same rules as the pages).

``POST …/seats/purchase`` requires an ``Idempotency-Key`` header: a retried request returns
the first invoice (200, ``Idempotent-Replayed: true``) instead of billing again (I6).
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy.orm import Session

from app import billing, database_of, seat_reports
from app.api import blueprint
from app.api.auth import Caller, authenticated_caller, owner_of
from app.errors import InvalidInput, NotPermitted
from app.json_input import parse_json
from app.ledger import Actor, current_contract, seat_usage
from app.models import Member, Organization, PlanType, Role, Source, utcnow
from app.money import format_minor
from app.web import request_id


class QuantityBody(Schema):
    class Meta:
        unknown = RAISE

    quantity = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=billing.MAX_SEATS_PER_PURCHASE),
    )


def _quantity() -> int:
    body = parse_json(request.get_data(cache=True)) if request.is_json else None
    if not isinstance(body, dict):
        raise InvalidInput('Send a JSON object such as {"quantity": 5}.')
    loaded: dict[str, Any] = QuantityBody().load(body)
    return int(loaded["quantity"])


def _caller_member(session: Session, caller: Caller) -> Member:
    member = session.get(Member, caller.member_id)
    assert member is not None  # owner_of checked it
    return member


def _actor(member: Member) -> Actor:
    return Actor(label=member.email, source=Source.WEB, request_id=request_id())


@blueprint.get("/orgs/<slug>/seats")
def seats(slug: str) -> Response:
    caller = authenticated_caller()
    with database_of(current_app).unit_of_work() as session:
        organization = owner_of(session, slug, caller)
        member = _caller_member(session, caller)
        contract = current_contract(
            session, organization.id, today=utcnow().date(), actor=_actor(member)
        )
        usage = seat_usage(session, organization.id)
        return jsonify(
            {
                **usage.as_dict(),
                "contract": {
                    "plan": contract.plan_type,
                    "currency": contract.currency,
                    "seat_price_minor": contract.seat_price_minor,
                    "seat_price": format_minor(contract.seat_price_minor, contract.currency),
                    "auto_renew": contract.auto_renew,
                },
                "renewal": {
                    "on": contract.term_end.isoformat(),
                    "seats": usage.assigned if contract.auto_renew else None,
                },
                "can_purchase": member.role == Role.PRIMARY_OWNER.value
                and contract.plan_type == PlanType.ANNUAL_INVOICED.value,
            }
        )


@blueprint.post("/orgs/<slug>/seats/quote")
def quote(slug: str) -> Response:
    caller = authenticated_caller()
    with database_of(current_app).unit_of_work() as session:
        organization = owner_of(session, slug, caller)  # before the body: another org is 404
        quantity = _quantity()
        priced = billing.quote_purchase(
            session, organization, quantity, actor=_actor(_caller_member(session, caller))
        )
        return jsonify(priced.as_dict())


@blueprint.post("/orgs/<slug>/seats/purchase")
def purchase(slug: str) -> tuple[Response, int, dict[str, str]]:
    caller = authenticated_caller()
    with database_of(current_app).unit_of_work() as session:
        organization = owner_of(session, slug, caller)  # before the body: another org is 404
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            raise InvalidInput(
                "An Idempotency-Key header is required, so a retry never bills twice."
            )
        quantity = _quantity()
        buyer = _caller_member(session, caller)
        if buyer.role != Role.PRIMARY_OWNER.value:
            raise NotPermitted("Only the organization's Primary Owner can add seats.")
        bought = billing.purchase_seats(
            session,
            organization,
            quantity,
            buyer=buyer,
            actor=_actor(buyer),
            idempotency_key=key,
        )
        body = billing.invoice_as_dict(bought.invoice)
    status = 200 if bought.replayed else 201
    return jsonify(body), status, {"Idempotent-Replayed": str(bought.replayed).lower()}


@blueprint.get("/orgs/<slug>/invoices")
def invoices(slug: str) -> Response:
    caller = authenticated_caller()
    with database_of(current_app).unit_of_work(write=False) as session:
        organization = owner_of(session, slug, caller)
        listed = [
            billing.invoice_as_dict(i) for i in seat_reports.invoices_of(session, organization)
        ]
    return jsonify(organization=slug, invoices=listed)


@blueprint.get("/orgs/<slug>/invoices/<int:invoice_id>")
def invoice(slug: str, invoice_id: int) -> Response:
    caller = authenticated_caller()
    with database_of(current_app).unit_of_work(write=False) as session:
        organization: Organization = owner_of(session, slug, caller)
        found = seat_reports.invoice_of(session, organization, invoice_id)
        return jsonify(billing.invoice_as_dict(found))


@blueprint.get("/orgs/<slug>/members")
def members(slug: str) -> Response:
    caller = authenticated_caller()
    with database_of(current_app).unit_of_work(write=False) as session:
        organization = owner_of(session, slug, caller)
        rows = seat_reports.member_rows(session, organization)
    return jsonify(
        organization=slug,
        members=[
            {
                "email": row.email,
                "display_name": row.display_name,
                "role": row.role,
                "active": row.active,
                "seat": row.has_seat,
                "seat_since": row.seat_since.isoformat() if row.seat_since else None,
            }
            for row in rows
        ],
    )
