"""One identity key for e-mail addresses in the CLI, the domain allowlist, the billing
page's refusals and the waiting list (:mod:`app.addresses`; migration 0015 has its own
tests)."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskCliRunner

from app import billing, domains, seat_reports, waiting_list
from app.db import Database
from app.errors import DomainNotAllowed, InvalidInput
from app.models import (
    WaitingEntry,
)
from app.organizations import get_member, get_organization
from tests.app.test_cli import ORG, ok, refused, run
from tests.factories import OPERATOR, make_org

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("existing", "look_alike"),
    [("sam", "\u017fam"), ("strasse", "straße")],
    ids=["long-s", "sharp-s"],
)
def test_the_cli_adds_a_look_alike_as_another_member(
    runner: FlaskCliRunner, existing: str, look_alike: str
) -> None:
    ok(runner, *ORG)
    ok(runner, "member", "add", "acme", f"{existing}@acme.example.com")
    second = ok(runner, "member", "add", "acme", f"{look_alike}@acme.example.com")
    assert second["email"] == f"{look_alike}@acme.example.com"
    claimed = ok(runner, "seats", "claim", "acme", f"{look_alike}@acme.example.com")
    assert claimed["seat"] is True
    listed = {m["email"]: m["seat"] for m in ok(runner, "member", "list", "acme")}
    assert listed[f"{existing}@acme.example.com"] is False  # the look-alike's seat is its own
    assert listed[f"{look_alike}@acme.example.com"] is True


def test_the_cli_finds_a_member_by_any_spelling_of_the_same_address(
    runner: FlaskCliRunner,
) -> None:
    ok(runner, *ORG)
    ok(runner, "member", "add", "acme", "kate@bücher.example")
    for spelling in ("\u212aATE@BÜCHER.example", "kate@xn--bcher-kva.example"):
        assert ok(runner, "seats", "claim", "acme", spelling)["seat"] is True
    again = run(runner, "member", "add", "acme", "Kate@xn--bcher-kva.example")
    assert again.exit_code == 1 and "already a member" in again.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["member", "add", "acme", "x@xn--zz.example"],
        ["seats", "claim", "acme", "x@xn--zz.example"],
        ["seats", "release", "acme", "x@ab--cd.example"],
        ["member", "transfer-primary", "acme", "x@a\u200db.example"],
        ["domain", "add", "acme", "\u2615.example"],
        ["domain", "add", "acme", "xn--zz.example"],
    ],
    ids=["add", "claim", "release", "transfer", "domain-symbol", "domain-bad-a-label"],
)
def test_the_cli_refuses_a_domain_that_is_not_valid_idna_in_one_line(
    runner: FlaskCliRunner, command: list[str]
) -> None:
    ok(runner, *ORG)
    error = refused(runner, *command)
    assert error.startswith("error: ") and error.count("\n") == 1
    assert "IDNA" in error or "not a valid e-mail address" in error


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Bücher.Example", "xn--bcher-kva.example"),
        ("XN--BCHER-KVA.example.", "xn--bcher-kva.example"),
        ("straße.example", "xn--strae-oqa.example"),  # IDNA 2008: ß is not ss
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),  # an internationalized top-level domain
    ],
)
def test_the_allowlist_stores_each_domain_idna_encoded(
    database: Database, given: str, stored: str
) -> None:
    make_org(database, "acme")
    with database.unit_of_work() as session:
        acme = get_organization(session, "acme")
        assert domains.add_domain(session, acme, given, actor=OPERATOR) == stored
        assert domains.list_domains(session, acme.id) == [stored]


def test_the_allowlist_matches_a_domain_in_either_spelling(database: Database) -> None:
    make_org(database, "acme")
    with database.unit_of_work() as session:
        acme = get_organization(session, "acme")
        domains.add_domain(session, acme, "straße.example", actor=OPERATOR)
        domains.add_domain(session, acme, "xn--bcher-kva.example", actor=OPERATOR)
        for allowed in (
            "anna@straße.example",
            "anna@xn--strae-oqa.example",
            "anna@bücher.example",
            "anna@team.BÜCHER.example",
        ):
            domains.check_allowed(session, acme.id, allowed)
        for refused in ("anna@strasse.example", "anna@buecher.example", "anna@xn--zz.example"):
            with pytest.raises(DomainNotAllowed):
                domains.check_allowed(session, acme.id, refused)
        with pytest.raises(InvalidInput):
            domains.remove_domain(session, acme, "xn--zz.example", actor=OPERATOR)
        assert domains.remove_domain(session, acme, "BÜCHER.example", actor=OPERATOR) == (
            "xn--bcher-kva.example"
        )


def test_the_billing_page_counts_look_alike_refusals_as_two_people(
    runner: FlaskCliRunner, database: Database
) -> None:
    ok(runner, *[arg if arg != "2" else "1" for arg in ORG])  # one seat
    for email in ("first@acme.example.com", "sam@acme.example.com", "\u017fam@acme.example.com"):
        ok(runner, "member", "add", "acme", email)
    ok(runner, "seats", "claim", "acme", "first@acme.example.com")
    for email in ("sam@acme.example.com", "\u017fam@acme.example.com", "SAM@acme.example.com"):
        assert run(runner, "seats", "claim", "acme", email).exit_code == 1  # no free seat
    with database.unit_of_work(write=False) as session:
        refusals = seat_reports.waiting_list(session, get_organization(session, "acme"))
    by_person = {r.subject: r.attempts for r in refusals}
    assert by_person == {"sam@acme.example.com": 2, "\u017fam@acme.example.com": 1}


def test_a_purchase_passes_a_waiting_address_that_is_no_longer_usable(
    database: Database,
) -> None:
    """An entry kept before identity keys whose domain IDNA 2008 refuses (migration 0015
    retired its key) stays on the list; the purchase and the next entry go through."""
    make_org(database, "acme", seats=1)
    with database.unit_of_work() as session:
        acme = get_organization(session, "acme")
        waiting_list.set_auto_provision(session, acme, True, actor=OPERATOR)
        for email, key in (("x@\u2615.example", "\u212a1"), ("ann@acme.example.com", None)):
            session.add(
                WaitingEntry(
                    organization_id=acme.id,
                    source="sso",
                    email=email,
                    email_normalized=key or email,
                    request={"name_id": email, "display_name": None, "attributes": {}},
                    attempts=1,
                    first_refused_at=NOW,
                    last_refused_at=NOW,
                )
            )
    with database.unit_of_work() as session:
        acme = get_organization(session, "acme")
        owner = get_member(session, acme, "owner@acme.example.com")
        billing.purchase_seats(session, acme, 1, buyer=owner, actor=OPERATOR)
    with database.unit_of_work(write=False) as session:
        left = [e.email for e in waiting_list.pending(session, acme.id)]
    assert left == ["x@\u2615.example"]
