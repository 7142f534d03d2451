"""An ended session stays ended (I9), whatever ended it, and answers use the member as now.

Each test signs in through the real door (a signed SAML response), then changes the member
the way an identity provider or an operator would (SCIM, the CLI), and asks ``/sso/session``
what the product would ask.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, text
from werkzeug.test import TestResponse

from app.cli import cli
from app.db import Database
from app.models import Member, SignInSession, utcnow
from tests.factories import add_users
from tests.scim.conftest import GROUP, Scim, issue_token, user
from tests.sso.conftest import Door

ALICE = "alice@acme.example.com"
BOB = "bob@acme.example.com"
PRIMARY = "owner@acme.example.com"


def signed_in(door: Door, email: str) -> str:
    """Sign ``email`` in through the door; their session token."""
    response = door.sign_in(email)
    assert response.status_code == 303, response.get_data(as_text=True)
    cookie = door.client.get_cookie("seatgate_session", domain="localhost")
    assert cookie is not None
    return cookie.value


def session_answer(client: FlaskClient, token: str) -> TestResponse:
    return client.get("/sso/session", headers={"Authorization": f"Bearer {token}"})


def claims_of(client: FlaskClient, token: str) -> dict[str, Any]:
    answer = session_answer(client, token)
    assert answer.status_code == 200, answer.get_json()
    claims: dict[str, Any] = answer.get_json()["claims"]
    return claims


def ends_of(database: Database, email: str) -> list[tuple[bool, str | None]]:
    """Each session of the member: (ended just now, why)."""
    with database.unit_of_work(write=False) as session:
        rows = session.execute(
            select(SignInSession.ended_at, SignInSession.end_reason)
            .join(Member, Member.id == SignInSession.member_id)
            .where(Member.email_normalized == email)
            .order_by(SignInSession.created_at)
        ).all()
    now = utcnow()
    return [
        (ended_at is not None and abs(now - ended_at) < dt.timedelta(minutes=1), reason)
        for ended_at, reason in rows
    ]


def run(runner: FlaskCliRunner, args: list[str]) -> Result:
    """A ``seatgate`` command, as an operator types it."""
    return runner.invoke(cli, args)


def scim_for(app: Flask, database: Database) -> Scim:
    return Scim(app.test_client(), issue_token(database, "acme"))


def provision(scim: Scim, email: str) -> dict[str, Any]:
    """Create the user as an identity provider would (an active user: it takes a seat)."""
    response = scim.post("/Users", user(email))
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def set_active(scim: Scim, resource_id: str, active: bool) -> None:
    response = scim.patch(f"/Users/{resource_id}", [{"op": "replace", "value": {"active": active}}])
    assert response.status_code == 200, response.get_json()


def test_deactivation_ends_the_session_and_reactivation_never_revives_it(
    door: Door, app: Flask, database: Database
) -> None:
    scim = scim_for(app, database)
    alice = provision(scim, ALICE)
    token = signed_in(door, ALICE)
    assert session_answer(door.client, token).status_code == 200

    set_active(scim, alice["id"], False)
    assert session_answer(door.client, token).status_code == 401
    set_active(scim, alice["id"], True)
    answer = session_answer(door.client, token)
    assert answer.status_code == 401
    assert answer.get_json() == {"active": False, "error": "session ended: deactivated"}
    assert ends_of(database, ALICE) == [(True, "deactivated")]

    fresh = signed_in(door, ALICE)  # signing in again is how a session starts
    assert session_answer(door.client, fresh).status_code == 200


def test_a_deleted_and_recreated_user_does_not_get_the_old_session_back(
    door: Door, app: Flask, database: Database
) -> None:
    scim = scim_for(app, database)
    alice = provision(scim, ALICE)
    token = signed_in(door, ALICE)

    assert scim.delete(f"/Users/{alice['id']}").status_code == 204
    assert session_answer(door.client, token).status_code == 401
    again = provision(scim, ALICE)
    assert again["id"] != alice["id"]
    assert session_answer(door.client, token).status_code == 401
    assert ends_of(database, ALICE) == [(True, "deactivated")]


def test_a_member_row_recreated_under_the_same_id_does_not_match_an_old_token(
    door: Door, database: Database
) -> None:
    """The member row itself deleted (its sessions go with it), then an address inserted
    again; on SQLite the new row even takes the freed id, the ``sub`` the old token names."""
    token = signed_in(door, ALICE)
    with database.unit_of_work() as session:
        old_id = session.scalar(select(Member.id).where(Member.email_normalized == ALICE))
        session.execute(text("DELETE FROM members WHERE id = :id"), {"id": old_id})
    add_users(database, "acme", [ALICE])
    assert session_answer(door.client, token).status_code == 401


def test_releasing_the_seat_ends_the_session_and_a_new_seat_does_not_revive_it(
    door: Door, runner: FlaskCliRunner, database: Database
) -> None:
    token = signed_in(door, ALICE)
    released = run(runner, ["seats", "release", "acme", ALICE])
    assert released.exit_code == 0, released.output
    assert session_answer(door.client, token).status_code == 401
    claimed = run(runner, ["seats", "claim", "acme", ALICE])
    assert claimed.exit_code == 0, claimed.output
    assert session_answer(door.client, token).status_code == 401
    assert ends_of(database, ALICE) == [(True, "seat_released")]


def test_transferring_the_primary_owner_role_ends_both_members_sessions(
    door: Door, runner: FlaskCliRunner, database: Database
) -> None:
    add_users(database, "acme", [ALICE])
    previous = signed_in(door, PRIMARY)
    assert claims_of(door.client, previous)["role"] == "primary_owner"
    successor = signed_in(door, ALICE)

    moved = run(runner, ["member", "transfer-primary", "acme", ALICE])
    assert moved.exit_code == 0, moved.output
    for token in (previous, successor):
        answer = session_answer(door.client, token)
        assert answer.status_code == 401
        assert answer.get_json()["error"] == "session ended: role_changed"
    assert claims_of(door.client, signed_in(door, PRIMARY))["role"] == "owner"
    assert claims_of(door.client, signed_in(door, ALICE))["role"] == "primary_owner"


def test_a_role_given_by_a_mapped_group_ends_the_session(
    door: Door, app: Flask, runner: FlaskCliRunner, database: Database
) -> None:
    scim = scim_for(app, database)
    alice = provision(scim, ALICE)
    token = signed_in(door, ALICE)
    assert claims_of(door.client, token)["role"] == "user"
    mapped = run(runner, ["roles", "map", "acme", "Billing", "owner"])
    assert mapped.exit_code == 0, mapped.output
    assert session_answer(door.client, token).status_code == 200  # nobody in it yet

    group = scim.post(
        "/Groups",
        {"schemas": [GROUP], "displayName": "Billing", "members": [{"value": alice["id"]}]},
    )
    assert group.status_code == 201, group.get_json()
    assert session_answer(door.client, token).status_code == 401
    assert ends_of(database, ALICE) == [(True, "role_changed")]
    assert claims_of(door.client, signed_in(door, ALICE))["role"] == "owner"


def test_the_session_answer_carries_the_members_current_profile(
    door: Door, app: Flask, database: Database
) -> None:
    """A profile change (not a role or state change) keeps the session; the answer names the
    member as they are now, not as the token remembers them."""
    scim = scim_for(app, database)
    alice = provision(scim, ALICE)
    token = signed_in(door, ALICE)
    renamed = scim.patch(
        f"/Users/{alice['id']}", [{"op": "replace", "path": "displayName", "value": "Alice Q."}]
    )
    assert renamed.status_code == 200, renamed.get_json()
    claims = claims_of(door.client, token)
    assert (claims["name"], claims["email"], claims["role"]) == ("Alice Q.", ALICE, "user")


def test_other_members_sessions_are_untouched(
    door: Door, runner: FlaskCliRunner, database: Database
) -> None:
    alice, bob = signed_in(door, ALICE), signed_in(door, BOB)
    assert run(runner, ["seats", "release", "acme", ALICE]).exit_code == 0
    assert session_answer(door.client, alice).status_code == 401
    assert session_answer(door.client, bob).status_code == 200
    assert ends_of(database, BOB) == [(False, None)]
