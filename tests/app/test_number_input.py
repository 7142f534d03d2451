"""Whole numbers people type, on every form, API field and CLI option: ASCII digits within
the field's bounds, else a 4xx (or exit status 2) naming the field, and nothing changed.

Issue 19 reproduced 500s: superscript digits (``²`` passes ``str.isdigit()``, then
``int()`` raises) in every numeric form field and the alerts API's ``limit``, and a 23-digit
webhook id (past SQLite's and PostgreSQL's integers). Other decimal digits (``٣``,
Arabic-Indic three) were read as numbers by ``int()``; they are refused too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from app.alerts.policy import policy_of
from app.cli import cli
from app.db import Database
from app.ledger import seat_usage
from app.models import AuditEntry, Invoice, SignInLog, Webhook
from tests.app.conftest import HTML, PRIMARY, csrf_from, page, session_token, text_of
from tests.factories import make_org

SignIn = Callable[[FlaskClient, str], FlaskClient]
HUGE = "1" * 23  # past 64 bits
NOT_NUMBERS = ["²", "8²", "٣", "١٥", "1_0", HUGE]


def purchased(database: Database, org_id: int) -> int:
    with database.unit_of_work(write=False) as session:
        return seat_usage(session, org_id).purchased


def audit_entries(database: Database) -> int:
    with database.unit_of_work(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def value_of(response, name: str) -> str:  # type: ignore[no-untyped-def]
    [value] = page(response).xpath(f"//input[@name='{name}']/@value")
    return str(value)


def add_webhook_row(database: Database, org_id: int) -> int:
    """A registered webhook, written directly: this is about removing one."""
    with database.unit_of_work() as session:
        hook = Webhook(organization_id=org_id, url="https://hooks.example.com/a", secret="s")
        session.add(hook)
        session.flush()
        return hook.id


def test_the_seats_form_keeps_what_was_typed_and_names_the_field(
    acme: int, client: FlaskClient, sign_in: SignIn, database: Database
) -> None:
    sign_in(client, PRIMARY)
    token = csrf_from(client.get("/settings/billing/seats/edit", headers=HTML))
    for typed in NOT_NUMBERS:
        response = client.post(
            "/settings/billing/seats/review",
            data={"csrf_token": token, "seats": typed},
            headers=HTML,
        )
        assert response.status_code == 400, typed
        assert "whole number of seats" in text_of(response, "form-error"), typed
        assert value_of(response, "seats") == typed
    prefilled = client.get("/settings/billing/seats/edit?seats=²", headers=HTML)
    assert prefilled.status_code == 200 and value_of(prefilled, "seats") == "11"
    assert purchased(database, acme) == 10


def test_a_review_form_with_numbers_that_are_not_refuses_by_field(
    acme: int, client: FlaskClient, sign_in: SignIn, database: Database
) -> None:
    sign_in(client, PRIMARY)
    token = csrf_from(client.get("/settings/billing/seats/edit", headers=HTML))
    names = {"quantity": "seats to add", "expected_total_minor": "total you reviewed"}
    for field, name in names.items():
        for typed in NOT_NUMBERS:
            form = {"quantity": "5", "expected_total_minor": "15000", field: typed}
            response = client.post(
                "/settings/billing/seats",
                data={**form, "csrf_token": token, "idempotency_key": f"k-{field}-{typed}"},
                headers=HTML,
            )
            assert response.status_code == 400, (field, typed)
            assert name in text_of(response, "form-error"), (field, typed)
    assert purchased(database, acme) == 10
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Invoice)) == 0


def test_the_thresholds_form_keeps_what_was_typed_and_names_the_field(
    acme: int, client: FlaskClient, sign_in: SignIn, database: Database
) -> None:
    sign_in(client, PRIMARY)
    token = csrf_from(client.get("/settings/billing/alerts", headers=HTML))
    with database.unit_of_work(write=False) as session:
        before = policy_of(session, acme)
    names = {
        "percents": "Percent of seats in use",
        "seats_left": "Seats left",
        "digest_minutes": "Refusal digest window",
    }
    for field, name in names.items():
        for typed in NOT_NUMBERS:
            form = {"percents": "80, 90", "seats_left": "3", "digest_minutes": "15", field: typed}
            response = client.post(
                "/settings/billing/alerts",
                data={**form, "csrf_token": token, "action": "policy"},
                headers=HTML,
            )
            assert response.status_code == 400, (field, typed)
            assert name in text_of(response, "form-error"), (field, typed)
            assert {key: value_of(response, key) for key in form} == form
    with database.unit_of_work(write=False) as session:
        assert policy_of(session, acme) == before


def test_removing_a_webhook_by_something_that_is_not_its_number_changes_nothing(
    acme: int, client: FlaskClient, sign_in: SignIn, database: Database
) -> None:
    hook = add_webhook_row(database, acme)
    sign_in(client, PRIMARY)
    token = csrf_from(client.get("/settings/billing/alerts", headers=HTML))
    entries = audit_entries(database)
    for typed in NOT_NUMBERS:
        response = client.post(
            "/settings/billing/alerts",
            data={"csrf_token": token, "action": "remove_webhook", "webhook_id": typed},
            headers=HTML,
        )
        assert response.status_code == 400, typed
        assert "Webhook" in text_of(response, "form-error"), typed
    with database.unit_of_work(write=False) as session:
        assert session.scalars(select(Webhook.id)).all() == [hook]
    assert audit_entries(database) == entries


def test_the_alerts_api_limit_is_ascii_digits(
    app: Flask, acme: int, client: FlaskClient, database: Database
) -> None:
    headers = {"Authorization": f"Bearer {session_token(app, database, PRIMARY)}"}
    for typed in NOT_NUMBERS:
        response = client.get(f"/api/v1/orgs/acme/alerts?limit={typed}", headers=headers)
        assert response.status_code == 400, typed
        assert response.get_json()["error"] == "invalid_input"
        assert "limit" in response.get_json()["detail"]
    assert client.get("/api/v1/orgs/acme/alerts?limit=5", headers=headers).status_code == 200


def test_log_filters_in_other_digits_are_ignored_not_read_as_numbers(
    app: Flask, acme: int, client: FlaskClient, database: Database
) -> None:
    """The logs' filters ignore what they cannot read (documented); ``٣`` is not 3."""
    with database.unit_of_work() as session:
        session.add_all(SignInLog(organization_id=acme, outcome="admitted") for _ in range(5))
    headers = {"Authorization": f"Bearer {session_token(app, database, PRIMARY)}"}
    every = client.get("/api/v1/orgs/acme/logs/sign-ins", headers=headers).get_json()
    assert len(every["sign_ins"]) == 5
    for query in ("before=٣", "before=²", f"before={HUGE}", "limit=١", "limit=²"):
        response = client.get(f"/api/v1/orgs/acme/logs/sign-ins?{query}", headers=headers)
        assert response.status_code == 200, query
        assert response.get_json() == every, query


def test_cli_numbers_are_ascii_digits_within_the_column(
    database: Database, runner: FlaskCliRunner
) -> None:
    org_id = make_org(database, "acme", owner=PRIMARY)
    hook = add_webhook_row(database, org_id)
    with database.unit_of_work(write=False) as session:
        before = policy_of(session, org_id)
    entries = audit_entries(database)
    today = dt.date.today().isoformat()
    commands = [
        ["webhook", "remove", "acme", HUGE],
        ["webhook", "remove", "acme", "٣"],
        ["token", "revoke", "acme", HUGE],
        ["alerts", "policy", "acme", "--digest-minutes", "٣"],
        ["alerts", "policy", "acme", "--percent", "8²"],
        ["alerts", "policy", "acme", "--seats-left", HUGE],
        ["alerts", "list", "acme", "--limit", "٣"],
        ["seats", "add", "acme", "١٥", "--by", PRIMARY],
        ["seats", "quote", "acme", HUGE],
        ["logs", "prune", "--days", HUGE],
        ["setup-link", "acme", "--hours", "٣"],
        ["org", "create", "big", "--name", "Big", "--seats", HUGE, "--seat-price", "1.00",
         "--term-start", today, "--primary-owner", "po@big.example.com"],
    ]  # fmt: skip
    for command in commands:
        result = runner.invoke(cli, command)
        assert result.exit_code == 2, (command, result.output)
        assert "must be a whole number" in result.output, (command, result.output)
    with database.unit_of_work(write=False) as session:
        assert session.scalars(select(Webhook.id)).all() == [hook]
        assert policy_of(session, org_id) == before
    assert audit_entries(database) == entries
    assert purchased(database, org_id) == 10
