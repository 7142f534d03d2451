"""The `seatgate` CLI: JSON on stdout, one-line errors on stderr, no partial writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import Result
from flask.testing import FlaskCliRunner
from sqlalchemy import select, update

from app.cli import cli
from app.db import Database
from app.models import AuditEntry, Member
from app.scim_tokens import authenticate

ORG = [
    "org", "create", "acme", "--name", "Acme", "--seats", "2", "--seat-price", "30.00",
    "--currency", "USD", "--term-start", "2026-01-01", "--primary-owner", "po@acme.example.com",
]  # fmt: skip


def run(runner: FlaskCliRunner, *args: str) -> Result:
    return runner.invoke(cli, list(args))


def ok(runner: FlaskCliRunner, *args: str) -> Any:
    result = run(runner, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def refused(runner: FlaskCliRunner, *args: str, status: int = 1) -> str:
    result = run(runner, *args)
    assert result.exit_code == status, result.output
    assert result.stdout == ""
    return result.stderr


def test_org_create_prints_the_seat_pool(runner: FlaskCliRunner) -> None:
    assert ok(runner, *ORG) == {
        "slug": "acme",
        "name": "Acme",
        "purchased": 2,
        "assigned": 0,
        "free": 2,
        "term_start": "2026-01-01",
        "term_end": "2027-01-01",
    }
    assert ok(runner, "seats", "show", "acme")["free"] == 2
    [owner] = ok(runner, "member", "list", "acme")
    assert (owner["email"], owner["role"], owner["seat"]) == (
        "po@acme.example.com",
        "primary_owner",
        False,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--seats": "0"}, "Seats must be between 1"),
        ({"--seats": "-5"}, "Seats must be between 1"),
        ({"--seat-price": "thirty"}, "is not a number"),
        ({"--seat-price": "-1"}, "zero or a positive amount"),
        ({"--seat-price": "30.001"}, "more than 2 decimals"),
        ({"--currency": "ZZZ"}, "Unknown currency"),
        ({"--primary-owner": "not-an-address"}, "not a valid e-mail address"),
        ({"acme": "Bad Slug!"}, "lowercase letters"),
    ],
)
def test_bad_org_input_is_refused_and_writes_nothing(
    runner: FlaskCliRunner, change: dict[str, str], message: str
) -> None:
    args = list(ORG)
    for key, value in change.items():
        args[args.index(key) + (0 if key == "acme" else 1)] = value
    assert message in refused(runner, *args)
    assert "No organization" in refused(runner, "seats", "show", "acme")


def test_malformed_dates_are_usage_errors(runner: FlaskCliRunner) -> None:
    args = list(ORG)
    args[args.index("--term-start") + 1] = "01/01/2026"
    assert "use YYYY-MM-DD" in refused(runner, *args, status=2)
    ok(runner, *ORG)
    assert "ISO 8601" in refused(runner, "seats", "quote", "acme", "1", "--at", "soon", status=2)
    assert "use YYYY-MM-DD" in refused(runner, "renew", "--today", "tomorrow", status=2)


def test_duplicate_slug_is_refused(runner: FlaskCliRunner) -> None:
    ok(runner, *ORG)
    assert "already exists" in refused(runner, *ORG)


def test_unknown_organization(runner: FlaskCliRunner) -> None:
    assert "No organization with slug 'nope'" in refused(runner, "seats", "show", "nope")
    assert "No organization" in refused(runner, "member", "add", "nope", "a@b.example.com")


def test_members_claim_and_release_seats(runner: FlaskCliRunner) -> None:
    ok(runner, *ORG)
    for email in ("a@acme.example.com", "b@acme.example.com"):
        assert ok(runner, "member", "add", "acme", email)["seat"] is False
    ok(runner, "seats", "claim", "acme", "a@acme.example.com")
    ok(runner, "seats", "claim", "acme", "po@acme.example.com")
    stderr = refused(runner, "seats", "claim", "acme", "b@acme.example.com")
    assert json.loads(stderr.splitlines()[0]) == {"purchased": 2, "assigned": 2}
    assert "No free seat: 2 of 2 seats are assigned" in stderr
    released = ok(runner, "seats", "release", "acme", "a@acme.example.com")
    assert (released["released"], released["free"]) == (True, 1)
    ok(runner, "seats", "claim", "acme", "b@acme.example.com")
    assert ok(runner, "seats", "recount", "acme")["consistent"] is True
    assert "already a member" in refused(runner, "member", "add", "acme", "A@acme.example.com")


def test_quote_then_add_prints_the_invoice(runner: FlaskCliRunner) -> None:
    ok(runner, *ORG)
    quote = ok(runner, "seats", "quote", "acme", "5", "--at", "2026-03-01")
    assert (quote["total"], quote["total_minor"]) == ("1500.00", 150000)
    assert ok(runner, "seats", "show", "acme")["purchased"] == 2
    buy = ["seats", "add", "acme", "5", "--by", "po@acme.example.com", "--at", "2026-03-01",
           "--idempotency-key", "k-1"]  # fmt: skip
    invoice = ok(runner, *buy)
    [line] = invoice["lines"]
    assert (line["quantity"], line["unit_price"], line["months"], line["amount"]) == (
        5,
        "30.00",
        10,
        "1500.00",
    )
    assert (invoice["total"], invoice["replayed"]) == ("1500.00", False)
    assert ok(runner, *buy)["replayed"] is True
    assert ok(runner, "seats", "show", "acme")["purchased"] == 7


def test_only_the_primary_owner_can_add(runner: FlaskCliRunner) -> None:
    ok(runner, *ORG)
    ok(runner, "member", "add", "acme", "o@acme.example.com", "--role", "owner")
    stderr = refused(runner, "seats", "add", "acme", "1", "--by", "o@acme.example.com")
    assert "Only the organization's Primary Owner" in stderr
    assert "must be between 1" in refused(
        runner, "seats", "add", "acme", "0", "--by", "po@acme.example.com"
    )
    assert ok(runner, "seats", "show", "acme")["purchased"] == 2


def test_renew_command(runner: FlaskCliRunner) -> None:
    ok(runner, *ORG)
    ok(runner, "seats", "claim", "acme", "po@acme.example.com")
    [report] = ok(runner, "renew", "--today", "2027-01-01")
    assert (report["status"], report["purchased"]) == ("renewed", 1)
    assert ok(runner, "renew", "--today", "2027-01-01") == []


def test_demo_creates_the_organization_once_and_prints_a_working_scim_token(
    runner: FlaskCliRunner, database: Database
) -> None:
    first = ok(runner, "demo")
    second = ok(runner, "demo")
    assert (first["created"], second["created"]) == (True, False)
    assert second["urls"]["scim_base"].endswith("/scim/v2")
    assert authenticate(database, first["scim_token"]) is None  # revoked by the second run
    assert authenticate(database, second["scim_token"]) is not None


def test_the_primary_owner_role_is_handed_on(runner: FlaskCliRunner, database: Database) -> None:
    """The Primary Owner leaves (the IdP deactivates them): an operator names the next one,
    who can then buy seats (R9) while the previous one, now an Owner, cannot."""
    ok(runner, *ORG)
    ok(runner, "member", "add", "acme", "next@acme.example.com", "--role", "admin")
    moved = ok(runner, "member", "transfer-primary", "acme", "NEXT@acme.example.com")
    assert (moved["primary_owner"]["email"], moved["primary_owner"]["role"]) == (
        "next@acme.example.com",
        "primary_owner",
    )
    assert (moved["previous"]["email"], moved["previous"]["role"]) == (
        "po@acme.example.com",
        "owner",
    )
    roles = {m["email"]: m["role"] for m in ok(runner, "member", "list", "acme")}
    assert roles == {"po@acme.example.com": "owner", "next@acme.example.com": "primary_owner"}
    stderr = refused(runner, "seats", "add", "acme", "1", "--by", "po@acme.example.com")
    assert "Only the organization's Primary Owner" in stderr
    assert ok(runner, "seats", "add", "acme", "1", "--by", "next@acme.example.com")["lines"]
    again = ok(runner, "member", "transfer-primary", "acme", "next@acme.example.com")
    assert again["previous"]["email"] == "next@acme.example.com"  # already so: nothing changes
    with database.unit_of_work(write=False) as session:
        actions = session.scalars(
            select(AuditEntry.target).where(AuditEntry.action == "member.primary_owner.transfer")
        ).all()
    assert actions == ["next@acme.example.com"]


def test_the_primary_owner_role_goes_only_to_an_active_member(
    runner: FlaskCliRunner, database: Database
) -> None:
    ok(runner, *ORG)
    ok(runner, "member", "add", "acme", "gone@acme.example.com")
    with database.unit_of_work() as session:  # as the identity provider's deprovisioning does
        session.execute(
            update(Member).where(Member.email == "gone@acme.example.com").values(active=False)
        )
    assert "No member" in refused(
        runner, "member", "transfer-primary", "acme", "nobody@acme.example.com"
    )
    assert "No organization" in refused(
        runner, "member", "transfer-primary", "nope", "gone@acme.example.com"
    )
    assert "deactivated" in refused(
        runner, "member", "transfer-primary", "acme", "gone@acme.example.com"
    )
    roles = {m["email"]: m["role"] for m in ok(runner, "member", "list", "acme")}
    assert roles == {"po@acme.example.com": "primary_owner", "gone@acme.example.com": "user"}
