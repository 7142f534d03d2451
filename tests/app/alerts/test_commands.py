"""``seatgate alerts …``, ``seatgate webhook …``: JSON on stdout, errors on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from app import create_app, database_of
from app.db import Database
from app.models import AuditEntry, Webhook
from tests.app.alerts.helpers import PRIMARY, org_with_staff
from tests.app.alerts.peers import SmtpServer, WebhookReceiver
from tests.factories import add_users, at, make_org, seat_members
from tests.peers import LOOPBACK_RECEIVERS


def run(runner: FlaskCliRunner, *args: str) -> object:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def mailing_app(database_url: str, smtp_server: SmtpServer) -> Iterator[Flask]:
    flask_app = create_app(
        {
            "env": "test",
            "database": {"url": database_url},
            "smtp": {"url": smtp_server.url},
            **LOOPBACK_RECEIVERS,
        }
    )
    yield flask_app
    database_of(flask_app).dispose()


def test_webhook_add_shows_the_secret_once(database: Database, runner: FlaskCliRunner) -> None:
    make_org(database)
    added = run(runner, "webhook", "add", "acme", "https://hooks.example.com/seatgate")
    assert isinstance(added, dict)
    assert str(added["secret"]).startswith("whsec_") and added["active"] is True
    listed = run(runner, "webhook", "list", "acme")
    assert listed == [{k: v for k, v in added.items() if k != "secret"}]
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(Webhook.secret)) == added["secret"]  # kept to sign calls
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "webhook.add" in actions


def test_webhook_add_refuses_bad_urls(database: Database, runner: FlaskCliRunner) -> None:
    make_org(database)
    for url in ("ftp://example.com/x", "not a url", "https://user:pw@example.com/x"):
        result = runner.invoke(args=["webhook", "add", "acme", url])
        assert result.exit_code == 1
        assert "must be an absolute http(s) URL" in result.output
    assert run(runner, "webhook", "list", "acme") == []


def test_webhook_remove_only_within_the_organization(
    database: Database, runner: FlaskCliRunner
) -> None:
    make_org(database)
    make_org(database, "globex")
    added = run(runner, "webhook", "add", "acme", "https://hooks.example.com/a")
    assert isinstance(added, dict)
    result = runner.invoke(args=["webhook", "remove", "globex", str(added["id"])])
    assert result.exit_code == 1 and "No webhook" in result.output
    assert run(runner, "webhook", "remove", "acme", str(added["id"])) == {"removed": added["id"]}
    assert run(runner, "webhook", "list", "acme") == []


def test_alerts_policy_shows_and_changes_thresholds(
    database: Database, runner: FlaskCliRunner
) -> None:
    make_org(database)
    assert run(runner, "alerts", "policy", "acme") == {
        "percents": [80, 90, 95, 100],
        "seats_left": None,
        "digest_minutes": 15,
    }
    changed = run(
        runner,
        "alerts",
        "policy",
        "acme",
        "--percent",
        "75",
        "--percent",
        "50",
        "--seats-left",
        "0",
    )
    assert changed == {"percents": [50, 75], "seats_left": 0, "digest_minutes": 15}
    assert run(runner, "alerts", "policy", "acme", "--digest-minutes", "5", "--no-seats-left") == {
        "percents": [50, 75],
        "seats_left": None,
        "digest_minutes": 5,
    }
    result = runner.invoke(args=["alerts", "policy", "acme", "--percent", "120"])
    assert result.exit_code == 1 and "between 1 and 100" in result.output


def test_alerts_deliver_once_sends_and_lists(
    mailing_app: Flask, smtp_server: SmtpServer, webhook_receiver: WebhookReceiver
) -> None:
    database = database_of(mailing_app)
    runner = mailing_app.test_cli_runner()
    org_with_staff(database)
    run(runner, "webhook", "add", "acme", webhook_receiver.url())
    seat_members(
        database,
        add_users(database, "acme", [f"u{i}@acme.example.com" for i in range(8)]),
        when=at("2026-06-01"),
    )
    report = run(runner, "alerts", "deliver", "--once")
    assert isinstance(report, dict)
    assert (report["fanned_out"], report["sent"], report["failed"]) == (1, 3, 0)
    assert len(smtp_server.to(PRIMARY)) == 1 and len(webhook_receiver.calls) == 1
    listed = run(runner, "alerts", "list", "acme")
    assert isinstance(listed, list)
    [alert] = listed
    assert alert["status"] == "dispatched" and alert["deliveries"] == {"sent": 3}
