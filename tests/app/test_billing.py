"""Buying seats: R1-R3, R5, R6, R9 and the invariants I2, I5, I6."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from app.billing import purchase_seats, quote_purchase
from app.db import Database
from app.errors import (
    IdempotencyConflict,
    InvalidInput,
    NotPermitted,
    PlanNotEligible,
    TermEnded,
)
from app.ledger import seat_usage
from app.models import Invoice, Member, PlanType, Role, SeatEvent
from app.organizations import get_member, get_organization
from tests.factories import OPERATOR, add_users, at, make_org

OWNER = "owner@acme.example.com"


def buy(
    database: Database,
    quantity: int,
    *,
    when: dt.datetime,
    by: str = OWNER,
    key: str | None = None,
) -> dict[str, object]:
    with database.unit_of_work() as session:
        organization = get_organization(session, "acme")
        purchase = purchase_seats(
            session,
            organization,
            quantity,
            buyer=get_member(session, organization, by),
            actor=OPERATOR,
            idempotency_key=key,
            at=when,
        )
        invoice = purchase.invoice
        return {
            "id": invoice.id,
            "number": invoice.number,
            "total": invoice.total_minor,
            "replayed": purchase.replayed,
            "lines": [
                (line.quantity, line.unit_price_minor, line.months, line.amount_minor)
                for line in invoice.lines
            ],
            "event": invoice.lines[0].seat_event_id,
        }


def purchased(database: Database, org_id: int) -> int:
    with database.unit_of_work(write=False) as session:
        return seat_usage(session, org_id).purchased


def invoice_count(database: Database) -> int:
    with database.unit_of_work(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(Invoice)) or 0)


@pytest.mark.parametrize(
    ("day", "months", "total"),
    [("2026-03-01", 10, 150000), ("2026-03-15", 10, 150000), ("2026-12-31", 1, 15000)],
)
def test_the_articles_example_and_its_neighbours(
    database: Database, day: str, months: int, total: int
) -> None:
    """R6: 100 seats on 1 Jan, 5 added → one line of 5 × 30.00 × remaining months."""
    org_id = make_org(database, seats=100, price_minor=3000)
    invoice = buy(database, 5, when=at(day))
    assert invoice["lines"] == [(5, 3000, months, total)]
    assert invoice["total"] == total
    assert purchased(database, org_id) == 105


def test_invoice_is_issued_in_the_purchase_and_points_at_its_ledger_event(
    database: Database,
) -> None:
    """R5 and I4/I5: the invoice exists as soon as the purchase commits, lines are explicit."""
    org_id = make_org(database, seats=10)
    invoice = buy(database, 3, when=at("2026-07-10"))
    assert invoice["number"] == "ACME-00001"
    with database.unit_of_work(write=False) as session:
        event = session.get(SeatEvent, invoice["event"])
        assert event is not None
        assert (event.kind, event.purchased_delta, event.purchased_after) == ("purchase", 3, 13)
        stored = session.get(Invoice, invoice["id"])
        assert stored is not None and isinstance(stored.total_minor, int)
    assert purchased(database, org_id) == 13


def test_new_seats_use_the_contract_price(database: Database) -> None:
    """R3, in a currency without minor digits."""
    make_org(database, seats=10, price_minor=4500, currency="JPY")
    assert buy(database, 2, when=at("2026-01-01"))["lines"] == [(2, 4500, 12, 108000)]


def test_seats_can_be_added_at_any_time_and_repeatedly(database: Database) -> None:
    """R2: several purchases, each its own invoice, numbered in sequence."""
    org_id = make_org(database, seats=1)
    first = buy(database, 1, when=at("2026-02-01"))
    second = buy(database, 4, when=at("2026-09-20"))
    assert (first["number"], second["number"]) == ("ACME-00001", "ACME-00002")
    assert second["lines"] == [(4, 3000, 4, 48000)]
    assert purchased(database, org_id) == 6


def test_same_idempotency_key_never_bills_twice(database: Database) -> None:
    """I6."""
    org_id = make_org(database, seats=10)
    first = buy(database, 5, when=at("2026-03-01"), key="order-42")
    again = buy(database, 5, when=at("2026-03-02"), key="order-42")
    assert again["id"] == first["id"] and again["replayed"] is True
    assert purchased(database, org_id) == 15
    assert invoice_count(database) == 1


def test_reusing_a_key_for_another_quantity_is_a_conflict(database: Database) -> None:
    org_id = make_org(database, seats=10)
    buy(database, 5, when=at("2026-03-01"), key="order-42")
    with pytest.raises(IdempotencyConflict):
        buy(database, 6, when=at("2026-03-01"), key="order-42")
    assert purchased(database, org_id) == 15


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.USER])
def test_only_the_primary_owner_buys(database: Database, role: Role) -> None:
    """R9: nothing changes when anyone else tries."""
    org_id = make_org(database, seats=10)
    add_users(database, "acme", ["someone@acme.example.com"], role=role)
    with pytest.raises(NotPermitted):
        buy(database, 5, when=at("2026-03-01"), by="someone@acme.example.com")
    assert purchased(database, org_id) == 10
    assert invoice_count(database) == 0


def test_another_organizations_primary_owner_cannot_buy(database: Database) -> None:
    make_org(database, "acme", seats=10)
    make_org(database, "globex", seats=10)
    with database.unit_of_work() as session, pytest.raises(NotPermitted):
        acme = get_organization(session, "acme")
        stranger = get_member(
            session, get_organization(session, "globex"), "owner@globex.example.com"
        )
        purchase_seats(session, acme, 1, buyer=stranger, actor=OPERATOR, at=at("2026-03-01"))


def test_monthly_card_plans_cannot_manage_seats(database: Database) -> None:
    """R1."""
    make_org(database, seats=10, plan=PlanType.MONTHLY_CARD)
    with pytest.raises(PlanNotEligible):
        buy(database, 1, when=at("2026-03-01"))
    with database.unit_of_work() as session, pytest.raises(PlanNotEligible):
        quote_purchase(session, get_organization(session, "acme"), 1, actor=OPERATOR)


@pytest.mark.parametrize("quantity", [0, -3, 10_001])
def test_bad_quantities_change_nothing(database: Database, quantity: int) -> None:
    """I2: purchased never decreases, and nothing absurd is bought."""
    org_id = make_org(database, seats=10)
    with pytest.raises(InvalidInput):
        buy(database, quantity, when=at("2026-03-01"))
    assert purchased(database, org_id) == 10


def test_an_ended_term_that_does_not_renew_cannot_buy(database: Database) -> None:
    org_id = make_org(database, seats=10, auto_renew=False)
    with pytest.raises(TermEnded):
        buy(database, 1, when=at("2027-01-01"))
    assert purchased(database, org_id) == 10


def test_a_deactivated_primary_owner_cannot_buy(database: Database) -> None:
    make_org(database, seats=10)
    with database.unit_of_work() as session:
        owner = get_member(session, get_organization(session, "acme"), OWNER)
        owner.active = False
    with pytest.raises(NotPermitted):
        buy(database, 1, when=at("2026-03-01"))


def test_quote_matches_the_invoice_and_buys_nothing(database: Database) -> None:
    org_id = make_org(database, seats=10)
    with database.unit_of_work() as session:
        quote = quote_purchase(
            session, get_organization(session, "acme"), 7, at=at("2026-05-31"), actor=OPERATOR
        )
    assert purchased(database, org_id) == 10
    invoice = buy(database, 7, when=at("2026-05-31"))
    assert [
        (ln.quantity, ln.unit_price_minor, ln.months, ln.amount_minor) for ln in quote.lines
    ] == (invoice["lines"])
    assert quote.total_minor == invoice["total"]


def test_a_failed_transaction_leaves_no_invoice_and_no_seats(database: Database) -> None:
    """R5 the other way round: invoice and seats commit together or not at all."""
    org_id = make_org(database, seats=10)
    with pytest.raises(RuntimeError), database.unit_of_work() as session:
        organization = get_organization(session, "acme")
        purchase_seats(
            session,
            organization,
            5,
            buyer=get_member(session, organization, OWNER),
            actor=OPERATOR,
            at=at("2026-03-01"),
        )
        raise RuntimeError("crash after the purchase, before commit")
    assert purchased(database, org_id) == 10
    assert invoice_count(database) == 0
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 1
