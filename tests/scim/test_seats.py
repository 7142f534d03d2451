"""Seats through SCIM (R4, R11, I1, I3, I8): claim on create and reactivation, release on
deactivation and delete, a clear 403 when full, and nothing else written by a refused request."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import Database
from app.directory import PROVISIONED
from app.ledger import recount
from app.models import AuditEntry, Contract, Member, SeatEvent
from tests.factories import make_org
from tests.scim.conftest import PATCH_OP, Scim, counts, issue_token, seats, user
from tests.scim.test_users import assert_error

FULL = "No free seat: 2 of 2 seats are assigned. A Primary Owner must add seats."


@pytest.fixture
def small(client: FlaskClient, database: Database) -> Scim:
    """An organization with two seats."""
    make_org(database, "tiny", seats=2)
    return Scim(client, issue_token(database, "tiny"))


def refusals(database: Database) -> list[SeatEvent]:
    with database.unit_of_work(write=False) as session:
        return list(session.scalars(select(SeatEvent).where(SeatEvent.kind == "refuse")))


def consistent(database: Database) -> bool:
    with database.unit_of_work(write=False) as session:
        return recount(session, 1).consistent


def test_creating_an_active_user_claims_a_seat(small: Scim, database: Database) -> None:
    small.create("a@tiny.example.com")
    assert seats(database, 1) == (2, 1)
    small.create("b@tiny.example.com", active=False)
    assert seats(database, 1) == (2, 1)
    small.create("c@tiny.example.com")  # active when the provider does not say
    assert seats(database, 1) == (2, 2)
    assert consistent(database)


def test_full_organization_refuses_with_an_actionable_403(small: Scim, database: Database) -> None:
    small.create("a@tiny.example.com")
    small.create("b@tiny.example.com")
    before = counts(database, 1)
    refused = small.post("/Users", user("c@tiny.example.com", externalId="ext-c"))
    body = assert_error(refused, 403, "userLimitReached")
    assert body["detail"] == FULL
    after = counts(database, 1)
    assert after.pop("events.refuse") == before.pop("events.refuse", 0) + 1
    assert after == before  # no member, no directory user, no seat
    [refusal] = refusals(database)
    assert refusal.subject == "c@tiny.example.com" and refusal.source == "scim"
    assert refusal.member_id is None and refusal.request_id == refused.headers["X-Request-Id"]
    listed = small.get("/Users", filter='externalId eq "ext-c"').get_json()
    assert listed["totalResults"] == 0
    assert consistent(database)


def test_deactivation_releases_and_reactivation_claims(small: Scim, database: Database) -> None:
    first = small.create("a@tiny.example.com")
    second = small.create("b@tiny.example.com")
    patched = small.patch(
        f"/Users/{first['id']}", [{"op": "replace", "path": "active", "value": False}]
    )
    assert patched.status_code == 200 and patched.get_json()["active"] is False
    assert seats(database, 1) == (2, 1)
    still_there = small.get("/Users", filter='userName eq "a@tiny.example.com"').get_json()
    assert still_there["totalResults"] == 1 and still_there["Resources"][0]["active"] is False
    third = small.create("c@tiny.example.com")  # takes the released seat (R4)
    assert seats(database, 1) == (2, 2)

    before = counts(database, 1)
    refused = small.put(f"/Users/{first['id']}", user("a@tiny.example.com", title="Back"))
    assert assert_error(refused, 403, "userLimitReached")["detail"] == FULL
    after_refusal = small.get(f"/Users/{first['id']}").get_json()
    assert after_refusal["active"] is False and "title" not in after_refusal
    assert after_refusal["meta"]["version"] == patched.get_json()["meta"]["version"]
    after = counts(database, 1)
    assert after.pop("events.refuse") == 1 and after == {**before}

    assert small.delete(f"/Users/{third['id']}").status_code == 204
    assert seats(database, 1) == (2, 1)
    reactivated = small.patch(
        f"/Users/{first['id']}", [{"op": "Replace", "value": {"active": "True"}}]
    )
    assert reactivated.status_code == 200 and reactivated.get_json()["active"] is True
    assert seats(database, 1) == (2, 2)
    assert small.get(f"/Users/{second['id']}").get_json()["userName"] == "b@tiny.example.com"
    assert consistent(database)


def test_delete_releases_the_seat_and_keeps_the_member(small: Scim, database: Database) -> None:
    created = small.create("a@tiny.example.com")
    assert small.delete(f"/Users/{created['id']}").status_code == 204
    assert seats(database, 1) == (2, 0)
    with database.unit_of_work(write=False) as session:
        member = session.scalar(select(Member).where(Member.email == "a@tiny.example.com"))
        assert member is not None and member.active is False
    assert (
        small.get("/Users", filter='userName eq "a@tiny.example.com"').get_json()["totalResults"]
        == 0
    )


def test_delete_and_deactivation_work_after_the_contract_lapsed(
    client: FlaskClient, database: Database
) -> None:
    """Releasing never fails for billing reasons: a lapsed contract still lets seats go."""
    make_org(database, "gone", seats=2, auto_renew=False)
    scim = Scim(client, issue_token(database, "gone"))
    first = scim.create("a@gone.example.com")
    second = scim.create("b@gone.example.com")
    with database.unit_of_work() as session:  # the term (2020) ended and does not renew
        contract = session.scalar(select(Contract))
        assert contract is not None
        contract.term_start = contract.term_start.replace(year=2020)
        contract.term_end = contract.term_end.replace(year=2021)
    assert scim.delete(f"/Users/{first['id']}").status_code == 204
    off = scim.patch(
        f"/Users/{second['id']}", [{"op": "replace", "path": "active", "value": False}]
    )
    assert off.status_code == 200
    assert seats(database, 1) == (2, 0)
    lapsed = scim.post("/Users", user("c@gone.example.com"))
    assert "does not renew" in assert_error(lapsed, 403, "userLimitReached")["detail"]


def test_a_create_after_the_term_ended_applies_the_renewal_first(
    small: Scim, database: Database
) -> None:
    """The claim's one-statement path holds only inside the term; past it, the renewal that
    fell due is applied before the seat is counted (R7), even on a brand-new member."""
    small.create("a@tiny.example.com")
    with database.unit_of_work() as session:  # the term (2020) ended; it renews
        contract = session.scalar(select(Contract))
        assert contract is not None and contract.auto_renew
        contract.term_start = contract.term_start.replace(year=2020)
        contract.term_end = contract.term_end.replace(year=2021)
    refused = small.post("/Users", user("b@tiny.example.com"))
    detail = assert_error(refused, 403, "userLimitReached")["detail"]
    # counted after the renewal: one seat, the one in use when the term ended
    assert detail == "No free seat: 1 of 1 seats are assigned. A Primary Owner must add seats."
    # a refused request writes nothing but its refusal: the renewal waits for the next change
    assert seats(database, 1) == (2, 1)
    with database.unit_of_work(write=False) as session:
        kinds = list(session.scalars(select(SeatEvent.kind).order_by(SeatEvent.id)))
    assert kinds == ["purchase", "assign", "refuse"]
    assert consistent(database)


def test_patch_body_schema_is_required(small: Scim) -> None:
    created = small.create("a@tiny.example.com")
    response = small.request(
        "PATCH",
        f"/Users/{created['id']}",
        {"Operations": [{"op": "replace", "path": "title", "value": "x"}]},
    )
    assert_error(response, 400, "invalidSyntax")
    assert PATCH_OP in response.get_json()["detail"]


def test_a_create_writes_the_member_its_seat_its_ledger_event_and_its_audit_entry(
    small: Scim, database: Database
) -> None:
    """A new member's rows are written as plain INSERTs (the create's fast path): each must
    say what the ORM objects said, and an inactive create must write no seat at all."""
    response = small.post(
        "/Users", user("a@tiny.example.com", externalId="ext-a", displayName="Ann A")
    )
    assert response.status_code == 201
    request_id = response.headers["X-Request-Id"]
    inactive = small.post("/Users", user("b@tiny.example.com", active=False))
    assert inactive.status_code == 201
    with database.unit_of_work(write=False) as session:
        ann = session.scalar(select(Member).where(Member.email == "a@tiny.example.com"))
        assert ann is not None
        assert (ann.external_id, ann.display_name, ann.active, ann.role) == (
            "ext-a",
            "Ann A",
            True,
            "user",
        )
        assert ann.seat is not None and ann.seat.assigned_at == ann.created_at
        [assigned] = session.scalars(select(SeatEvent).where(SeatEvent.kind == "assign"))
        assert (
            assigned.member_id,
            assigned.subject,
            assigned.assigned_delta,
            assigned.purchased_after,
            assigned.assigned_after,
            assigned.source,
            assigned.request_id,
            assigned.reason,
        ) == (ann.id, "a@tiny.example.com", 1, 2, 1, "scim", request_id, PROVISIONED)
        provisioned = session.execute(
            select(AuditEntry.target, AuditEntry.details, AuditEntry.request_id)
            .where(AuditEntry.action == "directory.provision")
            .order_by(AuditEntry.id)
        ).all()
        assert [tuple(row) for row in provisioned] == [
            ("a@tiny.example.com", {"user_name": "a@tiny.example.com", "active": True}, request_id),
            (
                "b@tiny.example.com",
                {"user_name": "b@tiny.example.com", "active": False},
                inactive.headers["X-Request-Id"],
            ),
        ]
        bea = session.scalar(select(Member).where(Member.email == "b@tiny.example.com"))
        assert bea is not None and bea.active is False and bea.seat is None
    assert seats(database, 1) == (2, 1)
    assert consistent(database)


def test_a_create_takes_over_the_member_of_a_removed_user(small: Scim, database: Database) -> None:
    """The member stays when its user is deleted; provisioning the address again reuses it
    (the ORM path, with the member's lock) and answers exactly what a read then shows."""
    first = small.create("a@tiny.example.com")
    assert small.delete(f"/Users/{first['id']}").status_code == 204
    response = small.post("/Users", user("a@tiny.example.com", displayName="Back Again"))
    assert response.status_code == 201
    again = response.get_json()
    assert again["id"] != first["id"] and again["displayName"] == "Back Again"
    assert small.get(f"/Users/{again['id']}").get_json() == again
    assert response.headers["ETag"] == again["meta"]["version"] == 'W/"1"'
    with database.unit_of_work(write=False) as session:
        [member] = session.scalars(select(Member).where(Member.email == "a@tiny.example.com"))
        assert member.active is True and member.display_name == "Back Again"
        assert member.seat is not None
        kinds = list(
            session.scalars(
                select(SeatEvent.kind)
                .where(SeatEvent.member_id == member.id)
                .order_by(SeatEvent.id)
            )
        )
    assert kinds == ["assign", "release", "assign"]
    assert seats(database, 1) == (2, 1)
    assert consistent(database)
