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
from app.ledger import release_seat
from app.models import AuditEntry, Member, SeatEvent
from app.scim_tokens import authenticate
from tests.factories import OPERATOR, at

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


def test_malformed_dates_and_numbers_are_usage_errors(runner: FlaskCliRunner) -> None:
    args = list(ORG)
    args[args.index("--term-start") + 1] = "01/01/2026"
    assert "use YYYY-MM-DD" in refused(runner, *args, status=2)
    args = list(ORG)
    args[args.index("--seats") + 1] = "-5"
    assert "'--seats': must be a whole number" in refused(runner, *args, status=2)
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


def test_org_list_and_show(runner: FlaskCliRunner) -> None:
    assert ok(runner, "org", "list") == []
    ok(runner, *ORG)
    globex = list(ORG)
    globex[2], globex[4] = "globex", "Globex"
    globex[globex.index("--primary-owner") + 1] = "po@globex.example.com"
    ok(runner, *globex, "--no-auto-renew")
    ok(runner, "seats", "claim", "acme", "po@acme.example.com")
    assert ok(runner, "org", "list") == [
        {"slug": "acme", "name": "Acme", "purchased": 2, "assigned": 1, "free": 1,
         "term_end": "2027-01-01", "auto_renew": True},
        {"slug": "globex", "name": "Globex", "purchased": 2, "assigned": 0, "free": 2,
         "term_end": "2027-01-01", "auto_renew": False},
    ]  # fmt: skip
    shown = ok(runner, "org", "show", "acme")
    assert {k: v for k, v in shown.items() if k != "created_at"} == {
        "slug": "acme",
        "name": "Acme",
        "locale": "en",
        "primary_owner": "po@acme.example.com",
        "contract": {
            "plan": "annual_invoiced",
            "term_start": "2026-01-01",
            "term_end": "2027-01-01",
            "currency": "USD",
            "seat_price": "30.00",
            "next_term_seat_price": None,
            "auto_renew": True,
        },
        "seats": {"purchased": 2, "assigned": 1, "free": 1, "term_start": "2026-01-01",
                  "term_end": "2027-01-01"},
        "billing": {"legal_name": None, "address": None, "tax_id": None},
    }  # fmt: skip
    assert "No organization with slug 'nope'" in refused(runner, "org", "show", "nope")


def test_org_update_changes_only_what_is_given_and_audits_it(
    runner: FlaskCliRunner, database: Database
) -> None:
    ok(runner, *ORG)
    updated = ok(
        runner, "org", "update", "acme", "--name", " Acme Iberia ", "--locale", "es-ES",
        "--legal-name", "Acme Iberia S.L.", "--address", "Calle Mayor 1\r\n28013 Madrid",
        "--tax-id", "ESB12345678", "--next-term-price", "32.50", "--no-auto-renew",
    )  # fmt: skip
    assert (updated["name"], updated["locale"]) == ("Acme Iberia", "es_ES")
    assert updated["billing"] == {
        "legal_name": "Acme Iberia S.L.",
        "address": "Calle Mayor 1\n28013 Madrid",
        "tax_id": "ESB12345678",
    }
    contract = updated["contract"]
    assert (contract["seat_price"], contract["next_term_seat_price"]) == ("30.00", "32.50")
    assert contract["auto_renew"] is False
    # only what is given changes; "" clears a billing detail and the next term's price
    again = ok(runner, "org", "update", "acme", "--tax-id", "", "--next-term-price", "")
    assert (again["name"], again["billing"]["legal_name"]) == ("Acme Iberia", "Acme Iberia S.L.")
    assert (again["billing"]["tax_id"], again["contract"]["next_term_seat_price"]) == (None, None)
    assert ok(runner, "org", "update", "acme", "--locale", "es_ES") == again  # no change
    with database.unit_of_work(write=False) as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "organization.update")
        ).all()
    assert len(entries) == 2  # the run that changed nothing wrote nothing
    assert entries[0].details["next_term_price_minor"] == 3250
    assert entries[1].details == {"billing_tax_id": None, "next_term_price_minor": None}


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--locale", "klingon-xx", "is not a known locale"),
        ("--locale", "", "is not a known locale"),
        ("--name", "", "Name must be 1-200 characters"),
        ("--name", "Acme\nEvil", "on one line"),
        ("--legal-name", "x" * 201, "legal name must be one line of text of at most 200"),
        ("--tax-id", "ES\x1bB1", "tax id must be one line of text"),
        ("--address", "a\x00b", "address must be text of at most 1000"),
        ("--next-term-price", "-1", "zero or a positive amount"),
        ("--next-term-price", "32.555", "more than 2 decimals"),
    ],
)
def test_bad_org_updates_are_refused_and_change_nothing(
    runner: FlaskCliRunner, option: str, value: str, message: str
) -> None:
    ok(runner, *ORG)
    before = ok(runner, "org", "show", "acme")
    assert message in refused(runner, "org", "update", "acme", "--tax-id", "T-1", option, value)
    assert ok(runner, "org", "show", "acme") == before


def test_the_next_terms_price_applies_from_the_renewal_on(runner: FlaskCliRunner) -> None:
    ok(runner, *ORG)
    ok(runner, "org", "update", "acme", "--next-term-price", "45.00")
    ok(runner, "seats", "claim", "acme", "po@acme.example.com")
    # the current term still bills at its own price
    assert ok(runner, "seats", "quote", "acme", "1", "--at", "2026-12-01")["total"] == "30.00"
    [renewed] = ok(runner, "renew", "--today", "2027-01-01")
    assert renewed["seat_price"] == "45.00"
    contract = ok(runner, "org", "show", "acme")["contract"]
    assert (contract["seat_price"], contract["next_term_seat_price"]) == ("45.00", None)
    assert ok(runner, "seats", "quote", "acme", "1", "--at", "2027-12-01")["total"] == "45.00"
    [later] = ok(runner, "renew", "--today", "2028-01-01")
    assert later["seat_price"] == "45.00"  # applied once, then the contract's price


def test_a_renewal_applied_by_a_seat_change_takes_the_new_price(
    runner: FlaskCliRunner, database: Database
) -> None:
    """Nobody ran `seatgate renew`: the first claim after the term renews, price included."""
    ok(runner, *ORG)
    ok(runner, "org", "update", "acme", "--next-term-price", "0")  # a free next term
    ok(runner, "seats", "claim", "acme", "po@acme.example.com")
    with database.unit_of_work() as session:
        member = session.scalars(select(Member)).one()
        release_seat(session, member, actor=OPERATOR, now=at("2027-02-01"))
    contract = ok(runner, "org", "show", "acme")["contract"]
    assert (contract["term_start"], contract["seat_price"]) == ("2027-01-01", "0.00")


def test_member_remove_releases_the_seat_and_keeps_the_history(
    runner: FlaskCliRunner, database: Database
) -> None:
    ok(runner, *ORG)
    ok(runner, "member", "add", "acme", "a@acme.example.com")
    ok(runner, "seats", "claim", "acme", "a@acme.example.com")
    removed = ok(runner, "member", "remove", "acme", "A@acme.example.com")
    assert (removed["email"], removed["active"], removed["seat"]) == (
        "a@acme.example.com",
        False,
        False,
    )
    assert (removed["assigned"], removed["free"]) == (0, 2)
    assert ok(runner, "member", "remove", "acme", "a@acme.example.com")["active"] is False
    assert "deactivated" in refused(runner, "seats", "claim", "acme", "a@acme.example.com")
    members = {m["email"]: m["active"] for m in ok(runner, "member", "list", "acme")}
    assert members == {"po@acme.example.com": True, "a@acme.example.com": False}
    assert ok(runner, "seats", "recount", "acme")["consistent"] is True
    with database.unit_of_work(write=False) as session:
        kinds = session.scalars(select(SeatEvent.kind).order_by(SeatEvent.id)).all()
        removals = session.scalars(
            select(AuditEntry.target).where(AuditEntry.action == "member.remove")
        ).all()
    assert kinds[-2:] == ["assign", "release"]  # the history stays
    assert removals == ["a@acme.example.com"]  # once: the second removal changed nothing


def test_member_remove_refuses_the_primary_owner_and_strangers(runner: FlaskCliRunner) -> None:
    ok(runner, *ORG)
    assert "is the Primary Owner" in refused(
        runner, "member", "remove", "acme", "po@acme.example.com"
    )
    assert "No member" in refused(runner, "member", "remove", "acme", "who@acme.example.com")
    assert ok(runner, "member", "list", "acme")[0]["active"] is True
