"""A sign-in whose admission fails part-way: what survives, what the person is told.

The answer is spent and the admission runs in a savepoint of the same transaction: a failure
must undo exactly the admission's writes, keep the answer spent, and answer in kind (a
database outage is a 503 with Retry-After, never a 500). Failures are caused for real (a lock
held by another transaction, a server-side connection kill) or, where nothing real can cause
them at that point, by making one step of the admission raise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select, text

from app import sessions
from app.alerts import triggers
from app.db import Database
from app.ledger import add_purchased
from app.models import Member, SeatAssignment, SeatEvent, SeenAssertion, SignInSession
from sso.providers import PolicyChange
from tests.factories import OPERATOR
from tests.sso.conftest import Door, SetPolicy, sso_app

ALICE = "alice@acme.example.com"
BOB = "bob@acme.example.com"
CAROL = "carol@acme.example.com"
TABLES = (Member, SeatAssignment, SeatEvent, SeenAssertion, SignInSession)


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """As the SSO tests' app, with a 1-second statement and lock timeout (the production
    bound on any one wait), so a test can make a statement wait out its lock."""
    yield from sso_app(database_url, statement_timeout=1)


def rows(database: Database) -> dict[str, int]:
    with database.unit_of_work(write=False) as session:
        return {
            table.__name__: session.scalar(select(func.count()).select_from(table)) or 0
            for table in TABLES
        }


def full(door: Door, acme_policy: SetPolicy) -> None:
    """acme's two seats taken; IdP-initiated sign-in allowed."""
    acme_policy(PolicyChange(allow_idp_initiated=True))
    assert door.sign_in(ALICE).status_code == 303
    assert door.sign_in(BOB).status_code == 303


@pytest.mark.postgresql_only  # a row lock another transaction holds exists on PostgreSQL only
def test_a_refusal_that_cannot_be_recorded_still_spends_the_response(
    door: Door, database: Database, database_url: str, acme_policy: SetPolicy
) -> None:
    """No seat for carol, and the refusal cannot be recorded in time (another transaction
    holds the seat pool): she is told to retry (503), nothing half-recorded, the response
    spent. Without its own savepoint, the failed record aborted the whole transaction and
    its "commit" silently un-spent the response, which then signed carol in once a seat
    was bought."""
    full(door, acme_policy)
    xml = door.unsolicited(CAROL)
    before = rows(database)
    holder = create_engine(database_url)
    with holder.connect() as purchase:  # e.g. a purchase, holding the pool row
        purchase.execute(text("SELECT 1 FROM seat_pools FOR UPDATE"))
        refused = door.post(xml)
        purchase.rollback()
    holder.dispose()
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert rows(database) == {**before, "SeenAssertion": before["SeenAssertion"] + 1}
    with database.unit_of_work() as session:
        add_purchased(session, 1, 1, actor=OPERATOR, reason="more seats")
    replayed = door.post(xml)
    assert replayed.status_code == 403
    assert "Sign-in already used" in replayed.get_data(as_text=True)


@pytest.mark.parametrize("failing", ["token", "refusal record"])
def test_an_admission_that_fails_after_writing_leaves_only_the_spent_response(
    door: Door,
    database: Database,
    acme_policy: SetPolicy,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    """carol arrives by just-in-time provisioning (a member written, then a seat claimed or
    refused and recorded) and a later step fails: none of it is kept, the response is."""
    if failing == "token":  # carol has a seat and a member row by then
        acme_policy(PolicyChange(allow_idp_initiated=True))
        target: Any = sessions
        name = "issue"
    else:  # carol was refused; the refusal's event is written, its digest fails
        full(door, acme_policy)
        target, name = triggers, "seat_refused"

    def fails(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(f"{failing} failed")

    monkeypatch.setattr(target, name, fails)
    xml = door.unsolicited(CAROL)
    before = rows(database)
    assert door.post(xml).status_code == 500
    assert rows(database) == {**before, "SeenAssertion": before["SeenAssertion"] + 1}
    monkeypatch.undo()
    assert "Sign-in already used" in door.post(xml).get_data(as_text=True)


@pytest.mark.postgresql_only  # server-side connections to kill exist on PostgreSQL only
def test_a_connection_lost_during_admission_answers_503(
    door: Door, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database connection dies in the middle of the admission: the person is told to
    retry (503 with Retry-After) and nobody is signed in; not a 500."""
    issue = sessions.issue

    def connection_lost(session: Any, *args: Any, **kwargs: Any) -> Any:
        session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return issue(session, *args, **kwargs)

    monkeypatch.setattr(sessions, "issue", connection_lost)
    xml, relay_state = door.answer(ALICE)
    lost = door.post(xml, relay_state=relay_state)
    assert lost.status_code == 503 and lost.headers["Retry-After"]
    assert "seatgate_session" not in lost.headers.get("Set-Cookie", "")
    assert rows(database)["SignInSession"] == 0
