"""Alert triggers: thresholds with hysteresis, refusal digests, purchases, renewals, contract end.

Every trigger writes its alert in the transaction of its cause (R12, I8).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app import billing
from app.alerts.policy import set_policy
from app.alerts.triggers import contract_end_notices
from app.db import Database
from app.errors import NoFreeSeat
from app.ledger import Actor, claim_seat, release_seat
from app.models import Alert, AlertStatus, Member, Role, Source
from app.organizations import add_member, get_member, get_organization
from app.renewal import renew_due_contracts
from tests.factories import OPERATOR, add_users, at, make_org, seat_members

NOW = at("2026-06-01")


def alerts(database: Database, org_id: int) -> list[Alert]:
    with database.unit_of_work(write=False) as session:
        query = select(Alert).where(Alert.organization_id == org_id).order_by(Alert.id)
        return list(session.scalars(query))


def kinds(database: Database, org_id: int) -> list[str]:
    return [alert.kind for alert in alerts(database, org_id)]


def users(database: Database, count: int, slug: str = "acme") -> list[int]:
    return add_users(database, slug, [f"user{i}@{slug}.example.com" for i in range(count)])


def release(database: Database, member_id: int) -> None:
    with database.unit_of_work() as session:
        member = session.get(Member, member_id)
        assert member is not None
        release_seat(session, member, actor=OPERATOR, now=NOW)


def test_thresholds_alert_once_each_as_use_climbs(database: Database) -> None:
    org_id = make_org(database, seats=10)
    members = users(database, 10)
    seat_members(database, members[:7], when=NOW)
    assert kinds(database, org_id) == []
    seat_members(database, members[7:8], when=NOW)
    seat_members(database, members[8:9], when=NOW)
    seat_members(database, members[9:10], when=NOW)
    low80, low90, full = alerts(database, org_id)
    assert (low80.kind, low80.details["threshold"], low80.details["assigned"]) == (
        "seats_low",
        "80 % of seats in use",
        8,
    )
    assert (low90.kind, low90.details["threshold"]) == ("seats_low", "90 % of seats in use")
    # 95 % and 100 % are both reached by the tenth seat: one alert, naming the highest.
    assert (full.kind, full.details["threshold"], full.details["free"]) == (
        "seats_exhausted",
        "100 % of seats in use",
        0,
    )
    assert all(alert.status == AlertStatus.PENDING.value for alert in alerts(database, org_id))


def test_a_threshold_re_arms_only_after_use_falls_below_it(database: Database) -> None:
    org_id = make_org(database, seats=10)
    members = users(database, 10)
    seat_members(database, members[:9], when=NOW)  # 80 % then 90 % alerted
    release(database, members[8])  # 8 of 10: 90 % re-armed, 80 % still crossed
    seat_members(database, [members[8]], when=NOW)  # 9 again: 90 % alerts again
    release(database, members[8])
    release(database, members[7])  # 7 of 10: both re-armed
    seat_members(database, members[7:9], when=NOW)
    assert [a.details["threshold"] for a in alerts(database, org_id)] == [
        "80 % of seats in use",
        "90 % of seats in use",
        "90 % of seats in use",
        "80 % of seats in use",
        "90 % of seats in use",
    ]


def test_use_hovering_above_a_threshold_does_not_repeat_it(database: Database) -> None:
    org_id = make_org(database, seats=10)
    members = users(database, 10)
    seat_members(database, members[:8], when=NOW)
    for _ in range(3):  # 8 ↔ 9 seats: 80 % stays crossed, 90 % is crossed and re-armed
        seat_members(database, [members[8]], when=NOW)
        release(database, members[8])
    assert [a.details["threshold"] for a in alerts(database, org_id)] == [
        "80 % of seats in use",
        "90 % of seats in use",
        "90 % of seats in use",
        "90 % of seats in use",
    ]


def test_a_rolled_back_claim_leaves_no_alert(database: Database) -> None:
    org_id = make_org(database, seats=1)
    [alice] = users(database, 1)
    with pytest.raises(RuntimeError), database.unit_of_work() as session:
        member = session.get(Member, alice)
        assert member is not None
        claim_seat(session, member, actor=OPERATOR, now=NOW)
        assert len(session.scalars(select(Alert)).all()) == 1  # written in the claim's unit
        raise RuntimeError("the request failed after the claim")
    assert kinds(database, org_id) == []


def test_custom_policy_percentages_and_seats_left(database: Database) -> None:
    org_id = make_org(database, seats=20)
    with database.unit_of_work() as session:
        set_policy(session, org_id, percents=(50,), seats_left=3, digest_minutes=5)
    members = users(database, 20)
    seat_members(database, members[:17], when=NOW)
    assert [a.details["threshold"] for a in alerts(database, org_id)] == [
        "50 % of seats in use",
        "3 or fewer seats left",
    ]
    assert alerts(database, org_id)[1].details["free"] == 3


def test_refusals_are_gathered_into_one_digest(database: Database) -> None:
    org_id = make_org(database, seats=1)
    seat_members(database, users(database, 1, "acme"), when=NOW)
    refused = add_users(database, "acme", [f"late{i}@acme.example.com" for i in range(5)])
    for member_id in refused + refused[:2]:  # two people are refused twice
        with pytest.raises(NoFreeSeat):
            seat_members(database, [member_id], when=NOW)
    digest = [a for a in alerts(database, org_id) if a.kind == "seats_refused"]
    assert len(digest) == 1
    [only] = digest
    assert only.status == AlertStatus.COLLECTING.value
    assert only.details["refusals"] == 7
    assert only.details["people"] == [f"late{i}@acme.example.com" for i in range(5)]
    assert only.details["by_source"] == {"cli": 7}
    assert (only.details["purchased"], only.details["assigned"]) == (1, 1)
    window = only.deliverable_at - only.created_at
    assert window == dt.timedelta(minutes=15)


def test_a_refused_newcomer_is_named_though_its_creation_rolled_back(database: Database) -> None:
    """I8: a SCIM-style create is undone, but the owners still learn who was refused."""
    org_id = make_org(database, seats=1)
    seat_members(database, users(database, 1), when=NOW)
    with pytest.raises(NoFreeSeat), database.unit_of_work() as session:
        organization = get_organization(session, "acme")
        newcomer = add_member(
            session, organization, "new@acme.example.com", Role.USER, actor=OPERATOR
        )
        claim_seat(session, newcomer, actor=OPERATOR, now=NOW)
    [digest] = [a for a in alerts(database, org_id) if a.kind == "seats_refused"]
    assert digest.details["people"] == ["new@acme.example.com"]


def test_purchase_alerts_with_the_invoice_and_re_arms_thresholds(database: Database) -> None:
    org_id = make_org(database, seats=5)
    members = users(database, 6)
    seat_members(database, members[:5], when=NOW)
    assert kinds(database, org_id)[-1] == "seats_exhausted"
    with database.unit_of_work() as session:
        organization = get_organization(session, "acme")
        buyer = get_member(session, organization, "owner@acme.example.com")
        purchase = billing.purchase_seats(
            session, organization, 5, buyer=buyer, actor=OPERATOR, at=NOW
        )
        number = purchase.invoice.number
    added = alerts(database, org_id)[-1]
    assert added.kind == "seats_added"
    assert added.details == {
        "invoice": number,
        "quantity": 5,
        "total_minor": 5 * 3000 * 7,
        "currency": "USD",
        "purchaser": "owner@acme.example.com",
        "purchased": 10,
        "assigned": 5,
        "free": 5,
    }
    seat_members(database, members[5:], when=NOW)  # 6 of 10: below every threshold again
    assert kinds(database, org_id)[-1] == "seats_added"


def test_renewal_alerts_once_with_the_new_numbers(database: Database) -> None:
    org_id = make_org(database, seats=10)
    seat_members(database, users(database, 6), when=NOW)
    with database.unit_of_work() as session:
        renew_due_contracts(session, today=dt.date(2027, 1, 1), actor=OPERATOR)
    renewed = alerts(database, org_id)[-1]
    assert kinds(database, org_id) == ["contract_renewed"]  # 6 of 6 in use, said by the renewal
    assert renewed.details["term_start"] == "2027-01-01"
    assert (renewed.details["purchased"], renewed.details["free"]) == (6, 0)


def notices(database: Database, day: str) -> list[Alert]:
    with database.unit_of_work() as session:
        return contract_end_notices(session, today=dt.date.fromisoformat(day))


def test_contract_end_notices_30_7_and_1_days_before(database: Database) -> None:
    org_id = make_org(database, auto_renew=False)  # ends 2027-01-01
    make_org(database, "renews", auto_renew=True)
    assert notices(database, "2026-12-01") == []
    assert [n.details["days_left"] for n in notices(database, "2026-12-02")] == [30]
    assert notices(database, "2026-12-02") == []  # once, even if the check runs again
    assert notices(database, "2026-12-20") == []
    assert [n.details["days_left"] for n in notices(database, "2026-12-25")] == [7]
    assert [n.details["days_left"] for n in notices(database, "2026-12-31")] == [1]
    assert notices(database, "2027-01-01") == []
    assert kinds(database, org_id) == ["contract_ending"] * 3


def test_after_a_long_pause_only_the_most_urgent_notice_is_sent(database: Database) -> None:
    org_id = make_org(database, auto_renew=False)
    [notice] = notices(database, "2026-12-31")
    assert notice.details["days_left"] == 1
    assert notices(database, "2026-12-31") == []
    assert kinds(database, org_id) == ["contract_ending"]


def test_alerts_carry_the_request_id_of_their_cause(database: Database) -> None:
    """A threshold alert and a refusal digest can be traced to the request that caused them."""
    org_id = make_org(database, seats=1)
    first, second = users(database, 2)
    traced = Actor(label="idp", source=Source.SCIM, request_id="req-claim-0001")
    with database.unit_of_work() as session:
        member = session.get(Member, first)
        assert member is not None
        claim_seat(session, member, actor=traced, now=NOW)
    refused = Actor(label="idp", source=Source.SSO, request_id="req-refused-0002")
    with pytest.raises(NoFreeSeat), database.unit_of_work() as session:
        member = session.get(Member, second)
        assert member is not None
        claim_seat(session, member, actor=refused, now=NOW)
    by_kind = {alert.kind: alert.request_id for alert in alerts(database, org_id)}
    assert by_kind == {"seats_exhausted": "req-claim-0001", "seats_refused": "req-refused-0002"}
