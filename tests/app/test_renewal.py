"""R7: auto-renewing contracts renew with the seats in use at the end of the term."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.db import Database
from app.errors import ContractLapsed, NoFreeSeat
from app.ledger import recount, release_seat, seat_usage
from app.models import Member, SeatEvent
from app.renewal import renew_due_contracts
from tests.factories import OPERATOR, add_users, at, make_org, seat_members


def renew(database: Database, today: str) -> list[dict[str, object]]:
    with database.unit_of_work() as session:
        return renew_due_contracts(session, today=dt.date.fromisoformat(today), actor=OPERATOR)


def usage(database: Database, org_id: int) -> dict[str, object]:
    with database.unit_of_work(write=False) as session:
        return seat_usage(session, org_id).as_dict()


def test_renewal_keeps_the_seats_in_use(database: Database) -> None:
    org_id = make_org(database, seats=10)
    seat_members(
        database,
        add_users(database, "acme", [f"u{i}@acme.example.com" for i in range(4)]),
        when=at("2026-05-01"),
    )
    assert renew(database, "2026-12-31") == []  # not due yet
    [report] = renew(database, "2027-01-01")
    assert report == {
        "organization": "acme",
        "status": "renewed",
        "term_start": "2027-01-01",
        "term_end": "2028-01-01",
        "purchased": 4,
        "seat_price": "30.00",
    }
    assert usage(database, org_id) == {
        "purchased": 4,
        "assigned": 4,
        "free": 0,
        "term_start": "2027-01-01",
        "term_end": "2028-01-01",
    }
    with database.unit_of_work(write=False) as session:
        [event] = session.scalars(select(SeatEvent).where(SeatEvent.kind == "renewal"))
        assert (event.purchased_delta, event.purchased_after) == (-6, 4)
        assert recount(session, org_id).consistent


def test_running_renew_twice_renews_once(database: Database) -> None:
    make_org(database, seats=10)
    assert len(renew(database, "2027-01-05")) == 1
    assert renew(database, "2027-01-05") == []


def test_a_late_run_rolls_over_every_missed_term(database: Database) -> None:
    org_id = make_org(database, seats=3)
    [report] = renew(database, "2028-06-01")
    assert (report["term_start"], report["term_end"]) == ("2028-01-01", "2029-01-01")
    assert usage(database, org_id)["purchased"] == 0


def test_the_first_seat_change_after_the_term_applies_the_renewal(database: Database) -> None:
    """Even if nobody ran `seatgate renew`, the count at term end is what renews."""
    org_id = make_org(database, seats=5)
    ids = add_users(database, "acme", [f"u{i}@acme.example.com" for i in range(3)])
    seat_members(database, ids[:2], when=at("2026-06-01"))
    with database.unit_of_work() as session:
        release_seat(session, session.get(Member, ids[0]), actor=OPERATOR, now=at("2027-01-02"))
    # renewed with the 2 in use at the end of the term, then one was released
    assert usage(database, org_id)["purchased"] == 2
    assert usage(database, org_id)["assigned"] == 1
    seat_members(database, ids[2:], when=at("2027-01-03"))
    with pytest.raises(NoFreeSeat):
        seat_members(database, ids[:1], when=at("2027-01-03"))


def test_a_contract_that_does_not_renew_lapses(database: Database) -> None:
    org_id = make_org(database, seats=5, auto_renew=False)
    [alice] = add_users(database, "acme", ["alice@acme.example.com"])
    assert renew(database, "2027-01-01") == [
        {"organization": "acme", "status": "lapsed", "term_end": "2027-01-01"}
    ]
    with pytest.raises(ContractLapsed):
        seat_members(database, [alice], when=at("2027-01-01"))
    assert usage(database, org_id)["term_end"] == "2027-01-01"


def test_renewal_is_per_organization(database: Database) -> None:
    make_org(database, "acme", seats=5)
    make_org(database, "globex", seats=5, term_start=dt.date(2026, 7, 1))
    assert [r["organization"] for r in renew(database, "2027-02-01")] == ["acme"]
