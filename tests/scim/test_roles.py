"""Roles from identity-provider groups: ``seatgate roles map|unmap|list`` and SCIM membership
changes, which update roles at once, never touch the Primary Owner, and are audited."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskCliRunner
from sqlalchemy import select

from app.cli import cli
from app.db import Database
from app.models import AuditEntry, Member
from tests.factories import add_users
from tests.scim.conftest import Scim, user
from tests.scim.test_groups import make_group

PRIMARY = "owner@acme.example.com"


def roles_cli(runner: FlaskCliRunner, *args: str, status: int = 0) -> Any:
    result = runner.invoke(cli, ["roles", *args])
    assert result.exit_code == status, result.output
    return json.loads(result.stdout) if status == 0 else result.stderr


def roles(database: Database) -> dict[str, str]:
    with database.unit_of_work(write=False) as session:
        return {m.email.split("@")[0]: m.role for m in session.scalars(select(Member))}


def test_mapped_groups_give_roles_at_once(
    scim: Scim, runner: FlaskCliRunner, database: Database
) -> None:
    assert roles_cli(runner, "map", "acme", "Seatgate Admins", "admin") == {
        "group": "Seatgate Admins",
        "role": "admin",
    }
    roles_cli(runner, "map", "acme", "Seatgate Owners", "owner")
    assert roles_cli(runner, "list", "acme") == [
        {"group": "Seatgate Admins", "role": "admin"},
        {"group": "Seatgate Owners", "role": "owner"},
    ]
    alice, bob, primary = (
        scim.post("/Users", user(f"{n}@acme.example.com")).get_json()["id"]
        for n in ("alice", "bob", "owner")
    )
    admins = make_group(scim, "seatgate admins", [alice])["id"]  # names match case-insensitively
    assert roles(database) == {"owner": "primary_owner", "alice": "admin", "bob": "user"}

    owners = make_group(scim, "Seatgate Owners", [bob, primary])["id"]
    assert roles(database) == {"owner": "primary_owner", "alice": "admin", "bob": "owner"}
    scim.patch(f"/Groups/{owners}", [{"op": "add", "path": "members", "value": [{"value": alice}]}])
    assert roles(database)["alice"] == "owner"  # the highest mapped role wins
    scim.patch(f"/Groups/{owners}", [{"op": "remove", "path": f'members[value eq "{alice}"]'}])
    assert roles(database)["alice"] == "admin"
    scim.patch(
        f"/Groups/{admins}", [{"op": "Remove", "path": "members", "value": [{"value": alice}]}]
    )
    assert roles(database)["alice"] == "user"

    scim.patch(f"/Groups/{admins}", [{"op": "add", "path": "members", "value": [{"value": alice}]}])
    scim.patch(f"/Groups/{admins}", [{"op": "replace", "path": "displayName", "value": "Staff"}])
    assert roles(database)["alice"] == "user"  # renamed away from its mapping
    roles_cli(runner, "unmap", "acme", "SEATGATE OWNERS")
    assert roles(database) == {"owner": "primary_owner", "alice": "user", "bob": "user"}
    roles_cli(runner, "map", "acme", "Seatgate Owners", "owner")
    assert roles(database)["bob"] == "owner"
    assert scim.delete(f"/Groups/{owners}").status_code == 204
    assert roles(database) == {"owner": "primary_owner", "alice": "user", "bob": "user"}
    make_group(scim, "Seatgate Owners", [bob])
    assert scim.delete(f"/Users/{bob}").status_code == 204  # leaving the directory
    assert roles(database)["bob"] == "user"

    with database.unit_of_work(write=False) as session:
        changes = [
            (e.target, e.details["from"], e.details["to"])
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.action == "member.role").order_by(AuditEntry.id)
            )
        ]
        actions = set(session.scalars(select(AuditEntry.action)))
    assert changes == [
        ("alice@acme.example.com", "user", "admin"),
        ("bob@acme.example.com", "user", "owner"),
        ("alice@acme.example.com", "admin", "owner"),
        ("alice@acme.example.com", "owner", "admin"),
        ("alice@acme.example.com", "admin", "user"),
        ("alice@acme.example.com", "user", "admin"),
        ("alice@acme.example.com", "admin", "user"),
        ("bob@acme.example.com", "owner", "user"),
        ("bob@acme.example.com", "user", "owner"),
        ("bob@acme.example.com", "owner", "user"),
        ("bob@acme.example.com", "user", "owner"),
        ("bob@acme.example.com", "owner", "user"),
    ]
    assert {"roles.map", "roles.unmap", "group.create", "group.update", "group.delete"} <= actions


def test_unmapped_groups_leave_roles_alone(scim: Scim, database: Database) -> None:
    add_users(database, "acme", ["carol@acme.example.com"])
    with database.unit_of_work() as session:
        carol = session.scalars(select(Member).where(Member.email.like("carol%"))).one()
        carol.role = "admin"  # given by an operator, not by a group
    carol_id = scim.post("/Users", user("carol@acme.example.com")).get_json()["id"]
    group = make_group(scim, "Book Club", [carol_id])["id"]
    scim.patch(f"/Groups/{group}", [{"op": "remove", "path": "members"}])
    assert roles(database)["carol"] == "admin"


def test_cli_refusals(runner: FlaskCliRunner, scim: Scim) -> None:
    assert "No role mapping" in roles_cli(runner, "unmap", "acme", "Nobody", status=1)
    assert "Invalid value" in roles_cli(runner, "map", "acme", "X", "user", status=2)
    assert "no organization" in roles_cli(runner, "list", "nope", status=1).lower()


def test_an_operator_removes_a_provisioned_member_as_a_scim_delete_would(
    scim: Scim, runner: FlaskCliRunner, database: Database
) -> None:
    """`seatgate member remove` takes the same path as the IdP's DELETE: out of its groups
    (its role from a mapped group falls back), out of the directory, the seat released."""
    roles_cli(runner, "map", "acme", "Seatgate Admins", "admin")
    alice = scim.post("/Users", user("alice@acme.example.com")).get_json()["id"]
    admins = make_group(scim, "Seatgate Admins", [alice])["id"]
    assert roles(database)["alice"] == "admin"
    result = runner.invoke(cli, ["member", "remove", "acme", "alice@acme.example.com"])
    assert result.exit_code == 0, result.output
    removed = json.loads(result.stdout)
    assert (removed["active"], removed["seat"], removed["role"]) == (False, False, "user")
    assert scim.get(f"/Users/{alice}").status_code == 404
    assert scim.get(f"/Groups/{admins}").get_json().get("members", []) == []
    with database.unit_of_work(write=False) as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.target == "alice@acme.example.com")
        ).all()
    assert "directory.remove" in actions
    # the identity provider provisions the same person again: the member row is taken over
    assert scim.post("/Users", user("alice@acme.example.com")).status_code == 201
    assert roles(database)["alice"] == "user"
