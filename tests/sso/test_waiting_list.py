"""A person refused at the SSO door for lack of a seat waits; an allowed purchase lets them in."""

from __future__ import annotations

from sqlalchemy import func, select

from app import waiting_list
from app.db import Database
from app.models import SeatEvent, WaitingEntry
from app.organizations import get_member, get_organization
from tests.factories import OPERATOR, add_users, seat_members
from tests.scim.test_waiting_list import buy
from tests.sso.conftest import Door


def test_refused_sign_in_waits_and_is_let_in_after_the_purchase(
    door: Door, database: Database
) -> None:
    seat_members(
        database, add_users(database, "acme", ["a@acme.example.com", "b@acme.example.com"])
    )
    assert door.sign_in("late@acme.example.com").status_code == 403
    with database.unit_of_work() as session:
        entry = session.scalar(select(WaitingEntry))
        assert entry is not None
        assert (entry.email, entry.source) == ("late@acme.example.com", "sso")
        assert entry.request["attributes"] == {"email": ["late@acme.example.com"]}
        waiting_list.set_auto_provision(
            session, get_organization(session, "acme"), True, actor=OPERATOR
        )
    buy(database, "acme", 1)
    with database.unit_of_work(write=False) as session:
        member = get_member(session, get_organization(session, "acme"), "late@acme.example.com")
        assert member.seat is not None
        assigned = session.scalar(select(func.count()).where(SeatEvent.kind == "assign"))
    assert door.sign_in("late@acme.example.com").status_code == 303
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).where(SeatEvent.kind == "assign")) == assigned
