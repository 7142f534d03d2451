"""The seat ledger: claims, releases, refusals, and the invariants I1, I3, I4, I8 (R4, R10, R11)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.db import Database
from app.errors import ContractLapsed, MemberInactive, NoFreeSeat
from app.ledger import claim_seat, recount, release_seat, seat_usage
from app.models import Member, Role, SeatAssignment, SeatEvent, SeatPool
from app.organizations import add_member, get_organization
from tests.factories import (
    OPERATOR,
    add_users,
    at,
    make_org,
    seat_members,
    wait_until_another_waits_on_a_lock,
)

NOW = at("2026-06-01")


def events(database: Database, org_id: int, kind: str | None = None) -> list[SeatEvent]:
    with database.unit_of_work(write=False) as session:
        query = select(SeatEvent).where(SeatEvent.organization_id == org_id).order_by(SeatEvent.id)
        if kind:
            query = query.where(SeatEvent.kind == kind)
        return list(session.scalars(query))


def usage(database: Database, org_id: int) -> tuple[int, int]:
    with database.unit_of_work(write=False) as session:
        current = seat_usage(session, org_id)
        return current.purchased, current.assigned


def test_claim_takes_a_seat_and_logs_it(database: Database) -> None:
    org_id = make_org(database, seats=2)
    [alice] = add_users(database, "acme", ["alice@acme.example.com"])
    seat_members(database, [alice], when=NOW)
    assert usage(database, org_id) == (2, 1)
    [assign] = events(database, org_id, "assign")
    assert (
        assign.member_id,
        assign.assigned_delta,
        assign.purchased_after,
        assign.assigned_after,
    ) == (
        alice,
        1,
        2,
        1,
    )
    assert assign.actor == OPERATOR.label and assign.request_id == OPERATOR.request_id


def test_a_claim_racing_its_original_finds_the_seat_it_took(database: Database) -> None:
    """A retried request claims while its original still holds the member's lock: it waits,
    then finds the seat the original took. One seat, one event, no error (I1)."""
    org_id = make_org(database, seats=2)
    [alice] = add_users(database, "acme", ["alice@acme.example.com"])
    retried: list[int] = []
    failed: list[Exception] = []

    def retry() -> None:
        try:
            with database.unit_of_work() as session:
                member = session.get(Member, alice)
                assert member is not None
                retried.append(claim_seat(session, member, actor=OPERATOR, now=NOW).id)
        except Exception as exc:
            failed.append(exc)

    thread = threading.Thread(target=retry)
    with database.unit_of_work() as session:
        member = session.get(Member, alice)
        assert member is not None
        original = claim_seat(session, member, actor=OPERATOR, now=NOW).id
        thread.start()
        wait_until_another_waits_on_a_lock(session)
    thread.join(10)
    assert (failed, retried) == ([], [original])
    assert usage(database, org_id) == (2, 1)
    assert len(events(database, org_id, "assign")) == 1


def test_claiming_a_held_seat_returns_it(database: Database) -> None:
    org_id = make_org(database, seats=2)
    [alice] = add_users(database, "acme", ["alice@acme.example.com"])
    seat_members(database, [alice, alice, alice], when=NOW)
    assert usage(database, org_id) == (2, 1)
    assert len(events(database, org_id, "assign")) == 1


def test_full_pool_refuses_with_the_numbers(database: Database) -> None:
    org_id = make_org(database, seats=1)
    first, second = add_users(database, "acme", ["a@acme.example.com", "b@acme.example.com"])
    seat_members(database, [first], when=NOW)
    with pytest.raises(NoFreeSeat) as refused:
        seat_members(database, [second], when=NOW)
    assert (refused.value.purchased, refused.value.assigned) == (1, 1)
    assert refused.value.message == (
        "No free seat: 1 of 1 seats are assigned. A Primary Owner must add seats."
    )
    [refusal] = events(database, org_id, "refuse")
    assert refusal.member_id == second and refusal.subject == "b@acme.example.com"
    assert usage(database, org_id) == (1, 1)


def test_refusal_is_recorded_but_nothing_else_of_the_request(database: Database) -> None:
    """I8: a SCIM-style create (member + claim in one unit) leaves only the refuse event."""
    org_id = make_org(database, seats=1)
    seat_members(database, add_users(database, "acme", ["a@acme.example.com"]), when=NOW)
    with pytest.raises(NoFreeSeat), database.unit_of_work() as session:
        organization = get_organization(session, "acme")
        newcomer = add_member(
            session, organization, "new@acme.example.com", Role.USER, actor=OPERATOR
        )
        claim_seat(session, newcomer, actor=OPERATOR, now=NOW)
    with database.unit_of_work(write=False) as session:
        emails = set(session.scalars(select(Member.email).where(Member.organization_id == org_id)))
    assert "new@acme.example.com" not in emails
    [refusal] = events(database, org_id, "refuse")
    assert refusal.member_id is None and refusal.subject == "new@acme.example.com"


def test_inactive_member_cannot_claim(database: Database) -> None:
    make_org(database, seats=3)
    [alice] = add_users(database, "acme", ["alice@acme.example.com"])
    with database.unit_of_work() as session:
        session.execute(update(Member).where(Member.id == alice).values(active=False))
    with pytest.raises(MemberInactive):
        seat_members(database, [alice], when=NOW)


def test_release_frees_the_seat_for_someone_else(database: Database) -> None:
    """R4: seats are not removed, but a released seat can be reassigned."""
    org_id = make_org(database, seats=1)
    first, second = add_users(database, "acme", ["a@acme.example.com", "b@acme.example.com"])
    seat_members(database, [first], when=NOW)
    with database.unit_of_work() as session:
        assert release_seat(session, session.get(Member, first), actor=OPERATOR, now=NOW) is True
    with database.unit_of_work() as session:
        assert release_seat(session, session.get(Member, first), actor=OPERATOR, now=NOW) is False
    seat_members(database, [second], when=NOW)
    assert usage(database, org_id) == (1, 1)
    assert [e.kind for e in events(database, org_id)] == ["purchase", "assign", "release", "assign"]


def test_release_works_after_a_contract_lapsed(database: Database) -> None:
    org_id = make_org(database, seats=2, auto_renew=False)
    [alice] = add_users(database, "acme", ["alice@acme.example.com"])
    seat_members(database, [alice], when=NOW)
    with database.unit_of_work() as session:
        member = session.get(Member, alice)
        assert release_seat(session, member, actor=OPERATOR, now=at("2027-03-01"))
    assert usage(database, org_id) == (2, 0)


def test_lapsed_contract_refuses_claims_and_says_why(database: Database) -> None:
    org_id = make_org(database, seats=5, auto_renew=False)
    [alice] = add_users(database, "acme", ["alice@acme.example.com"])
    with pytest.raises(ContractLapsed, match="ended on 2027-01-01 and does not renew"):
        seat_members(database, [alice], when=at("2027-01-01"))
    assert len(events(database, org_id, "refuse")) == 1
    assert usage(database, org_id) == (5, 0)


def test_database_refuses_more_assigned_than_purchased(database: Database) -> None:
    """I1 is also a CHECK constraint, so no code path can break it."""
    org_id = make_org(database, seats=1)
    with pytest.raises(IntegrityError), database.unit_of_work() as session:
        session.execute(
            update(SeatPool).where(SeatPool.organization_id == org_id).values(assigned=2)
        )


def test_a_member_holds_at_most_one_seat(database: Database) -> None:
    """I3 at the schema level: a second assignment row for one member is refused."""
    org_id = make_org(database, seats=3)
    [alice] = add_users(database, "acme", ["alice@acme.example.com"])
    seat_members(database, [alice], when=NOW)
    with pytest.raises(IntegrityError), database.unit_of_work() as session:
        session.add(SeatAssignment(organization_id=org_id, member_id=alice, assigned_at=NOW))


@pytest.mark.parametrize(
    "statement", ["UPDATE seat_events SET reason = 'edited'", "DELETE FROM seat_events"]
)
def test_ledger_is_append_only(database: Database, statement: str) -> None:
    """I4: history cannot be rewritten, even with raw SQL."""
    org_id = make_org(database, seats=1)
    with pytest.raises(DBAPIError, match="append-only"), database.unit_of_work() as session:
        session.execute(text(statement))
    assert len(events(database, org_id)) == 1


def test_recount_matches_after_a_mixed_history(database: Database) -> None:
    org_id = make_org(database, seats=2)
    ids = add_users(database, "acme", [f"u{i}@acme.example.com" for i in range(3)])
    seat_members(database, ids[:2], when=NOW)
    with pytest.raises(NoFreeSeat):
        seat_members(database, ids[2:], when=NOW)
    with database.unit_of_work() as session:
        release_seat(session, session.get(Member, ids[0]), actor=OPERATOR, now=NOW)
    seat_members(database, ids[2:], when=NOW)
    with database.unit_of_work(write=False) as session:
        result = recount(session, org_id)
        rows = session.scalar(select(func.count()).select_from(SeatAssignment))
    assert result.consistent, result.as_dict()
    assert (result.ledger_purchased, result.ledger_assigned, rows) == (2, 2, 2)


def test_recount_detects_drift(database: Database) -> None:
    org_id = make_org(database, seats=3)
    with database.unit_of_work() as session:
        session.execute(
            update(SeatPool).where(SeatPool.organization_id == org_id).values(assigned=1)
        )
    with database.unit_of_work(write=False) as session:
        assert not recount(session, org_id).consistent


def test_organizations_are_isolated(database: Database) -> None:
    """I7 in the ledger: one organization's claims never touch another's pool."""
    acme = make_org(database, "acme", seats=1)
    globex = make_org(database, "globex", seats=1)
    seat_members(database, add_users(database, "acme", ["a@acme.example.com"]), when=NOW)
    seat_members(database, add_users(database, "globex", ["a@globex.example.com"]), when=NOW)
    assert usage(database, acme) == (1, 1)
    assert usage(database, globex) == (1, 1)
