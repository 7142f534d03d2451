"""/settings/billing: R8 access, the pencil → review → Update flow (R5, R6, R9, I6), invoices,
members, waiting list."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.db import Database
from app.errors import NoFreeSeat
from app.ledger import seat_usage
from app.models import Invoice, Role
from app.proration import months_remaining
from tests.app.conftest import (
    ADMIN,
    HTML,
    OWNER,
    PRIMARY,
    TERM_START,
    TODAY,
    USER,
    csrf_from,
    page,
    session_token,
    text_of,
)
from tests.factories import add_users, seat_members

SignIn = Callable[[FlaskClient, str], FlaskClient]


def purchased(database: Database, org_id: int) -> int:
    with database.unit_of_work(write=False) as session:
        return seat_usage(session, org_id).purchased


def invoices(database: Database) -> int:
    with database.unit_of_work(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(Invoice)) or 0)


def test_without_a_session_the_browser_is_sent_to_sign_in(acme: int, client: FlaskClient) -> None:
    response = client.get("/settings/billing", headers=HTML)
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert (location.path, parse_qs(location.query)) == ("/signin", {"next": ["/settings/billing"]})


@pytest.mark.parametrize("email", [ADMIN, USER])
def test_admins_and_users_get_the_ordinary_not_found_page(
    acme: int, client: FlaskClient, sign_in: SignIn, email: str
) -> None:
    """R8: exactly the page of a route that does not exist."""
    missing = client.get("/settings/no-such-page", headers=HTML)
    sign_in(client, email)
    for path in ("/settings/billing", "/settings/billing/invoices", "/settings/billing/members"):
        response = client.get(path, headers=HTML)
        assert response.status_code == 404
        assert response.get_data() == missing.get_data()
    assert b"Page not found" in missing.get_data()


def test_the_primary_owner_sees_seats_contract_and_renewal(
    acme: int, client: FlaskClient, sign_in: SignIn, database: Database
) -> None:
    seat_members(database, add_users(database, "acme", ["a@acme.example.com"]))
    sign_in(client, PRIMARY)
    response = client.get("/settings/billing", headers=HTML)
    assert response.status_code == 200
    assert text_of(response, "seats-purchased") == "10"
    assert text_of(response, "seats-assigned") == "2"  # a@ and the signed-in Primary Owner
    assert text_of(response, "seats-free") == "8"
    assert "with the seats in use at the end of the term — 2 if it ended today" in text_of(
        response, "renewal"
    )
    assert page(response).xpath("//a[@aria-label='Change seats']")


def test_an_owner_sees_billing_without_the_pencil_and_cannot_forge_a_purchase(
    acme: int, client: FlaskClient, sign_in: SignIn, database: Database
) -> None:
    sign_in(client, OWNER)
    response = client.get("/settings/billing", headers=HTML)
    assert response.status_code == 200
    assert not page(response).xpath("//a[@aria-label='Change seats']")
    assert "Only the Primary Owner can add seats." in response.get_data(as_text=True)
    assert client.get("/settings/billing/seats/edit", headers=HTML).status_code == 403
    token = csrf_from(client.get("/settings/billing/alerts", headers=HTML))  # a real token
    forged = client.post(
        "/settings/billing/seats",
        data={
            "csrf_token": token,
            "quantity": "5",
            "expected_total_minor": "0",
            "idempotency_key": "x",
        },
        headers=HTML,
    )
    assert forged.status_code == 403
    assert (
        client.post(
            "/settings/billing/seats/review",
            data={"csrf_token": token, "seats": "15"},
            headers=HTML,
        ).status_code
        == 403
    )
    assert purchased(database, acme) == 10 and invoices(database) == 0


def test_pencil_review_update_issues_the_invoice(
    acme: int, client: FlaskClient, sign_in: SignIn, database: Database
) -> None:
    """R9 and R6: the review shows seats × price × months = amount before anything is bought."""
    months = months_remaining(TERM_START, TODAY)
    sign_in(client, PRIMARY)
    edit = client.get("/settings/billing/seats/edit", headers=HTML)
    assert edit.status_code == 200
    review = client.post(
        "/settings/billing/seats/review",
        data={"csrf_token": csrf_from(edit), "seats": "15"},
        headers=HTML,
    )
    assert review.status_code == 200
    [row] = page(review).xpath("//table[@id='review-lines']/tbody/tr")
    cells = [" ".join(td.text_content().split()) for td in row.xpath("td")]
    assert cells[1:] == ["5", "$30.00", str(months), f"${5 * 30 * months:,}.00"]
    assert text_of(review, "review-total") == f"${5 * 30 * months:,}.00"
    assert purchased(database, acme) == 10 and invoices(database) == 0  # review buys nothing
    form = {
        name: page(review).xpath(
            f"//form[@action='/settings/billing/seats']//input[@name='{name}']/@value"
        )[0]
        for name in ("csrf_token", "quantity", "expected_total_minor", "idempotency_key")
    }
    update = client.post("/settings/billing/seats", data=form, headers=HTML)
    assert update.status_code == 303
    invoice_page = client.get(update.headers["Location"], headers=HTML)
    assert "Seats updated. Invoice ACME-00001 was issued" in invoice_page.get_data(as_text=True)
    assert text_of(invoice_page, "invoice-total") == f"${5 * 30 * months:,}.00"
    assert purchased(database, acme) == 15
    again = client.post("/settings/billing/seats", data=form, headers=HTML)  # double submit
    assert again.status_code == 303 and again.headers["Location"] == update.headers["Location"]
    assert purchased(database, acme) == 15 and invoices(database) == 1


def test_a_price_change_between_review_and_update_is_shown_not_charged(
    acme: int, client: FlaskClient, sign_in: SignIn, database: Database
) -> None:
    sign_in(client, PRIMARY)
    token = csrf_from(client.get("/settings/billing/seats/edit", headers=HTML))
    response = client.post(
        "/settings/billing/seats",
        data={
            "csrf_token": token,
            "quantity": "5",
            "expected_total_minor": "1",
            "idempotency_key": "k",
        },
        headers=HTML,
    )
    assert response.status_code == 409
    assert "The price changed since you reviewed it" in response.get_data(as_text=True)
    assert purchased(database, acme) == 10


@pytest.mark.parametrize("seats", ["10", "9", "ten", "", "-3", "20000"])
def test_bad_seat_numbers_are_explained_and_change_nothing(
    acme: int, client: FlaskClient, sign_in: SignIn, database: Database, seats: str
) -> None:
    sign_in(client, PRIMARY)
    token = csrf_from(client.get("/settings/billing/seats/edit", headers=HTML))
    response = client.post(
        "/settings/billing/seats/review", data={"csrf_token": token, "seats": seats}, headers=HTML
    )
    assert response.status_code == 400
    assert page(response).get_element_by_id("form-error") is not None
    assert purchased(database, acme) == 10


def test_forms_without_a_csrf_token_are_refused(
    acme: int, client: FlaskClient, sign_in: SignIn, database: Database
) -> None:
    sign_in(client, PRIMARY)
    response = client.post(
        "/settings/billing/seats",
        data={"quantity": "5", "expected_total_minor": "15000", "idempotency_key": "k"},
        headers=HTML,
    )
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert purchased(database, acme) == 10


def test_the_waiting_list_shows_who_was_refused_and_how(
    app: Flask, acme: int, client: FlaskClient, sign_in: SignIn, database: Database
) -> None:
    sign_in(client, PRIMARY)
    others = add_users(database, "acme", [f"m{i}@acme.example.com" for i in range(10)])
    seat_members(database, others[:9])
    with pytest.raises(NoFreeSeat):
        seat_members(database, others[9:])
    response = client.get("/settings/billing", headers=HTML)
    rows = page(response).xpath("//section[@aria-labelledby='waiting-heading']//tbody/tr")
    first = " ".join(rows[0].text_content().split())
    assert first.startswith("m9@acme.example.com")
    assert "Operator" in rows[0].text_content()
    assert text_of(response, "seats-free") == "0"


def test_invoices_and_members_pages(
    acme: int, client: FlaskClient, sign_in: SignIn, database: Database
) -> None:
    add_users(database, "acme", ["=1+2@acme.example.com"])
    sign_in(client, OWNER)
    assert "No invoices yet" in client.get("/settings/billing/invoices", headers=HTML).get_data(
        as_text=True
    )
    members = client.get("/settings/billing/members", headers=HTML)
    assert members.status_code == 200 and PRIMARY in members.get_data(as_text=True)
    exported = client.get("/settings/billing/members.csv")
    assert exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    by_email = {row["email"]: row for row in rows}
    assert by_email[OWNER]["role"] == "owner" and by_email[OWNER]["seat"] == "yes"
    assert by_email[USER]["seat"] == "no"
    assert "'=1+2@acme.example.com" in by_email  # no formula reaches a spreadsheet


def test_another_organizations_invoice_is_not_found(
    app: Flask, acme: int, client: FlaskClient, sign_in: SignIn, database: Database
) -> None:
    from app.billing import purchase_seats
    from app.organizations import get_member, get_organization
    from tests.factories import OPERATOR, make_org

    make_org(database, "globex", seats=3, term_start=TERM_START)
    with database.unit_of_work() as session:
        globex = get_organization(session, "globex")
        owner = get_member(session, globex, "owner@globex.example.com")
        invoice_id = purchase_seats(session, globex, 1, buyer=owner, actor=OPERATOR).invoice.id
    sign_in(client, PRIMARY)
    assert client.get(f"/settings/billing/invoices/{invoice_id}", headers=HTML).status_code == 404


def test_a_deactivated_owners_session_stops_working(
    app: Flask, acme: int, client: FlaskClient, database: Database
) -> None:
    from app import settings_of
    from app.models import Member

    client.set_cookie(settings_of(app).sso.cookie_name, session_token(app, database, OWNER))
    assert client.get("/settings/billing", headers=HTML).status_code == 200
    with database.unit_of_work() as session:
        member = session.scalar(select(Member).where(Member.email == OWNER))
        assert member is not None and member.role == Role.OWNER.value
        member.active = False
    assert client.get("/settings/billing", headers=HTML).status_code == 303
