"""``seatgate alerts …``, ``seatgate webhook …``: JSON on stdout, errors on stderr."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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


def test_alerts_deliver_logs_every_pass_and_prints_its_totals(
    database: Database, database_url: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """The long-running deliverer, as an operator runs it: a JSON log line per pass with its
    counts (idle passes too: the sign it is alive), and the totals on stdout when stopped."""
    org_with_staff(database)
    seat_members(
        database,
        add_users(database, "acme", [f"u{i}@acme.example.com" for i in range(8)]),
        when=at("2026-06-01"),
    )  # an 80 % alert for the owners
    env = {
        **os.environ,
        "SEATGATE_DATABASE_URL": database_url,
        "SEATGATE_SMTP_URL": smtp_server.url,
        "SEATGATE_ALERTS_POLL_INTERVAL": "1",
    }
    log = tmp_path / "deliver.log"
    with log.open("wb") as stderr:
        deliverer = subprocess.Popen(
            [str(Path(sys.executable).parent / "seatgate"), "alerts", "deliver"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            passes = [
                line
                for line in map(json.loads, log.read_text().splitlines())
                if line["message"] == "alert delivery pass"
            ]
            if len(passes) >= 3:
                break
            assert deliverer.poll() is None, log.read_text()
            time.sleep(0.2)
        else:
            raise AssertionError("no three passes logged: " + log.read_text())
    finally:
        deliverer.send_signal(signal.SIGTERM)
        out, _ = deliverer.communicate(timeout=60)
    assert deliverer.returncode == 0
    sent = len(smtp_server.received)
    assert sent >= 1
    assert passes[0]["level"] == "INFO" and passes[0]["logger"] == "seatgate.alerts"
    assert sum(line["sent"] for line in passes) == sent
    assert {"fanned_out", "failed", "email_waiting_for_smtp", "seconds"} <= set(passes[0])
    assert passes[-1]["sent"] == 0  # an idle pass is logged too
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[0]["message"] == "alert delivery started" and lines[0]["email"] is True
    assert lines[-1]["message"] == "alert delivery stopped"
    totals = json.loads(out)
    assert totals["sent"] == sent and totals["passes"] >= 3 and totals["failed_passes"] == 0
