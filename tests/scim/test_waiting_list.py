"""The waiting list: refused SCIM users are kept with what the IdP sent and, when the owners
allow it, provisioned oldest first by a purchase — never beyond the seats there are."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError

from app import billing, waiting_list
from app.db import Database
from app.directory import Profile
from app.errors import SeatRefused
from app.ledger import SeatUsage, claim_seat, lock_pool, recount, seat_usage
from app.models import Member, Role, WaitingEntry
from app.organizations import add_member, get_member, get_organization
from tests.factories import OPERATOR, make_org, wait_until_another_waits_on_a_lock
from tests.scim.conftest import ERROR, Scim, counts, issue_token, user


def buy(database: Database, slug: str, quantity: int, key: str | None = None) -> None:
    with database.unit_of_work() as session:
        organization = get_organization(session, slug)
        owner = get_member(session, organization, f"owner@{slug}.example.com")
        billing.purchase_seats(
            session, organization, quantity, buyer=owner, actor=OPERATOR, idempotency_key=key
        )


def entries(database: Database) -> list[WaitingEntry]:
    with database.unit_of_work(write=False) as session:
        return list(session.scalars(select(WaitingEntry).order_by(WaitingEntry.id)))


def test_refused_users_wait_and_are_provisioned_oldest_first_when_allowed(
    app: Flask,
    client,
    database: Database,  # type: ignore[no-untyped-def]
) -> None:
    make_org(database, "acme", seats=1)
    scim = Scim(client, issue_token(database, "acme"))
    assert scim.post("/Users", user("first@acme.example.com")).status_code == 201
    for name in ("ann", "bob", "cid"):
        refused = scim.post("/Users", user(f"{name}@acme.example.com", password="s3cret!"))
        assert refused.status_code == 403 and refused.get_json()["schemas"] == [ERROR]
    scim.post("/Users", user("ann@acme.example.com"))  # a retry counts as another attempt
    waiting = entries(database)
    assert [(e.email, e.source, e.attempts) for e in waiting] == [
        ("ann@acme.example.com", "scim", 2),
        ("bob@acme.example.com", "scim", 1),
        ("cid@acme.example.com", "scim", 1),
    ]
    assert waiting[1].request["profile"]["user_name"] == "bob@acme.example.com"
    assert "s3cret!" not in json.dumps(waiting[1].request)

    buy(database, "acme", 1)  # the setting is off by default: the seat stays free
    assert all(e.provisioned_at is None for e in entries(database))
    runner = app.test_cli_runner()
    assert runner.invoke(args=["waiting-list", "auto", "acme", "--on"]).exit_code == 0
    buy(database, "acme", 1)  # two free seats now: ann and bob, not cid
    shown = json.loads(runner.invoke(args=["waiting-list", "show", "acme"]).output)
    assert shown["auto_provision"] is True
    assert [e["email"] for e in shown["waiting"]] == ["cid@acme.example.com"]
    with database.unit_of_work(write=False) as session:
        usage = seat_usage(session, get_organization(session, "acme").id)
    assert (usage.purchased, usage.assigned) == (3, 3)

    # The IdP's create-or-match probe finds the provisioned user; creating it again conflicts.
    found = scim.get("/Users", filter='userName eq "bob@acme.example.com"').get_json()
    assert found["totalResults"] == 1 and found["Resources"][0]["active"] is True
    again = scim.post("/Users", user("bob@acme.example.com"))
    assert again.status_code == 409 and again.get_json()["scimType"] == "uniqueness"


def test_concurrent_purchases_and_claims_never_oversell(database: Database) -> None:
    org_id = make_org(database, "race", seats=2)
    with database.unit_of_work() as session:
        organization = get_organization(session, "race")
        waiting_list.set_auto_provision(session, organization, True, actor=OPERATOR)
        for i in range(6):
            name = f"waiting{i}@race.example.com"
            waiting_list.wait_for_scim(
                session,
                org_id,
                Profile(user_name=name, multi_valued={"emails": [{"value": name}]}),
            )
        contenders = [
            add_member(
                session, organization, f"walk-in{i}@race.example.com", Role.USER, actor=OPERATOR
            ).id
            for i in range(8)
        ]

    def claim(member_id: int) -> None:
        try:
            with database.unit_of_work() as session:
                member = session.get(Member, member_id)
                assert member is not None
                claim_seat(session, member, actor=OPERATOR)
        except SeatRefused:
            pass

    workers = [threading.Thread(target=buy, args=(database, "race", 2, f"k{i}")) for i in range(3)]
    workers += [threading.Thread(target=claim, args=(m,)) for m in contenders]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    with database.unit_of_work(write=False) as session:
        counted = recount(session, org_id)
        seated = session.scalars(select(Member).where(Member.organization_id == org_id)).all()
        holders = sum(1 for member in seated if member.seat is not None)
    assert counted.stored_purchased == 8
    assert counted.consistent  # the ledger, the counters and the assignment rows agree
    assert counted.stored_assigned == holders <= 8  # never oversold, nobody holds two seats
    waiting = entries(database)
    assert all(e.member_id is not None for e in waiting if e.provisioned_at is not None)
    # No seat was left free while someone was still waiting after the last purchase.
    assert holders == 8 or all(e.provisioned_at is not None for e in waiting)


def test_a_provisioning_refused_inside_the_purchase_leaves_no_row_behind(
    ann_waiting: int,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A SCIM entry's create writes its rows before its claim; when the claim is refused, the
    savepoint around it takes them all back, and the purchase's own work still commits."""
    org_id = ann_waiting
    before = counts(database, org_id)
    # Seats look free to the list (as when a concurrent claim takes the last one between the
    # look and the claim): the claim itself must refuse, inside the savepoint.
    full = seat_usage
    monkeypatch.setattr(
        waiting_list,
        "seat_usage",
        lambda session, org: dataclasses.replace(full(session, org), purchased=99),
    )
    with database.unit_of_work() as session:
        organization = get_organization(session, "acme")
        add_member(session, organization, "walk-in@acme.example.com", Role.USER, actor=OPERATOR)
        assert waiting_list.provision_waiting(session, organization, actor=OPERATOR) == []
    after = counts(database, org_id)
    assert after.pop("members") == before.pop("members") + 1  # the walk-in, committed
    assert after.pop("audit_log") == before.pop("audit_log") + 1  # its member.add
    assert after == before  # nothing of ann's create: no user, values, seat or event
    [waiting] = entries(database)
    assert waiting.email == "ann@acme.example.com" and waiting.provisioned_at is None
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(Member).where(Member.email == "ann@acme.example.com")) is None
        assert recount(session, org_id).consistent


def test_a_purchase_survives_a_concurrent_add_of_a_waiting_person(
    ann_waiting: int,
    database: Database,
) -> None:
    """An operator adds a waiting person while a purchase provisions the list. On PostgreSQL
    the purchase does not see the uncommitted member, inserts it too and collides on the
    unique e-mail once the other commits: that entry stays waiting, the purchase commits.
    (SQLite's one writer serializes the two: the purchase then takes the member over.)"""
    org_id = ann_waiting

    def add_ann(added: threading.Event) -> None:
        with database.unit_of_work() as session:
            organization = get_organization(session, "acme")
            add_member(session, organization, "ann@acme.example.com", Role.USER, actor=OPERATOR)
            added.set()
            wait_until_another_waits_on_a_lock(session)

    _buy_while(database, add_ann)  # must not fail
    usage, ann_id = _after_purchase(database, org_id)
    assert usage.purchased == 2
    [waiting] = entries(database)
    if database.dialect == "postgresql":
        assert waiting.provisioned_at is None and usage.assigned == 1
    else:
        assert waiting.member_id == ann_id and usage.assigned == 2


def test_a_purchase_survives_a_concurrent_claim_of_a_waiting_person(
    ann_waiting: int,
    database: Database,
) -> None:
    """As above, but the other transaction then claims a seat for the person (as a SCIM
    create does): it waits for the seat pool the purchase holds while the purchase waits for
    its new member. PostgreSQL aborts one of the two; the purchase goes through either way."""
    org_id = ann_waiting
    outcome: list[str] = []

    def add_and_claim(added: threading.Event) -> None:
        """What a SCIM create of the same person does: its member row first (no lock on the
        pool), then the claim, which needs the pool's row."""
        try:
            with database.unit_of_work() as session:
                session.execute(
                    insert(Member.__table__),  # type: ignore[arg-type]
                    {
                        "organization_id": org_id,
                        "email": "ann@acme.example.com",
                        "email_normalized": "ann@acme.example.com",
                        "role": Role.USER.value,
                        "active": True,
                    },
                )
                added.set()
                wait_until_another_waits_on_a_lock(session)
                lock_pool(session, org_id)
            outcome.append("committed")
        except OperationalError:
            outcome.append("aborted")  # PostgreSQL chose this side (SCIM would answer 503)

    _buy_while(database, add_and_claim)  # must not fail
    usage, ann_id = _after_purchase(database, org_id)
    assert usage.purchased == 2
    [waiting] = entries(database)
    if database.dialect == "postgresql":  # the aborted side's attempt is the one undone
        assert outcome in (["committed"], ["aborted"])
        assert (waiting.provisioned_at is None) == (outcome == ["committed"])
    else:  # one writer at a time: the purchase comes second and takes the member over
        assert outcome == ["committed"] and waiting.member_id == ann_id


@pytest.fixture
def ann_waiting(client, database: Database) -> int:  # type: ignore[no-untyped-def]
    """acme, its one seat taken, ann refused and waiting, automatic provisioning on."""
    org_id = make_org(database, "acme", seats=1)
    scim = Scim(client, issue_token(database, "acme"))
    assert scim.post("/Users", user("first@acme.example.com")).status_code == 201
    assert scim.post("/Users", user("ann@acme.example.com")).status_code == 403
    with database.unit_of_work() as session:
        organization = get_organization(session, "acme")
        waiting_list.set_auto_provision(session, organization, True, actor=OPERATOR)
    return org_id


def _buy_while(database: Database, other: Callable[[threading.Event], None]) -> None:
    """Buy a seat while ``other`` runs in a transaction of its own, once it has added ann."""
    added = threading.Event()
    thread = threading.Thread(target=other, args=(added,))
    thread.start()
    assert added.wait(10)
    buy(database, "acme", 1)
    thread.join()


def _after_purchase(database: Database, org_id: int) -> tuple[SeatUsage, int]:
    """The seats and ann's member id, once the ledger is checked consistent."""
    with database.unit_of_work(write=False) as session:
        usage = seat_usage(session, org_id)
        assert recount(session, org_id).consistent
        ann = session.scalar(select(Member).where(Member.email == "ann@acme.example.com"))
        assert ann is not None
        return usage, ann.id
