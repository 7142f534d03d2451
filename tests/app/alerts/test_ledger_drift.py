"""``seatgate ledger verify``: recount from the ledger, report drift, alert the operators."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import text

from app import create_app, database_of
from app.cli import cli
from app.db import Database
from app.ledger import claim_seat
from app.organizations import get_member, get_organization
from tests.app.alerts.peers import SmtpServer, WebhookReceiver
from tests.factories import OPERATOR, add_users, make_org
from tests.peers import LOOPBACK_RECEIVERS

OPERATORS = "ops@seatgate.test"


@pytest.fixture
def watched(
    database_url: str, smtp_server: SmtpServer, webhook_receiver: WebhookReceiver
) -> Iterator[Flask]:
    """An app whose operators are reachable by e-mail and webhook; two healthy organizations."""
    flask_app = create_app(
        {
            "env": "test",
            "database": {"url": database_url},
            "smtp": {"url": smtp_server.url},
            "operators": {"email": OPERATORS, "webhook_url": webhook_receiver.url("/ops")},
            **LOOPBACK_RECEIVERS,
        }
    )
    database = database_of(flask_app)
    for slug in ("acme", "globex"):
        make_org(database, slug, seats=3)
        add_users(database, slug, [f"a@{slug}.example.com"])
        with database.unit_of_work() as session:
            organization = get_organization(session, slug)
            claim_seat(
                session, get_member(session, organization, f"a@{slug}.example.com"), actor=OPERATOR
            )
    yield flask_app
    database.dispose()


def verify(flask_app: Flask, *args: str) -> tuple[int, dict[str, object]]:
    result = flask_app.test_cli_runner().invoke(cli, ["ledger", "verify", *args])
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}


def drift(database: Database, slug: str) -> None:
    """A counter changed behind the ledger's back (a manual UPDATE, a bad restore)."""
    with database.unit_of_work() as session:
        session.execute(
            text(
                "UPDATE seat_pools SET purchased = purchased + 2 WHERE organization_id = "
                "(SELECT id FROM organizations WHERE slug = :slug)"
            ),
            {"slug": slug},
        )


def test_a_consistent_ledger_exits_0_and_alerts_nobody(
    watched: Flask, smtp_server: SmtpServer, webhook_receiver: WebhookReceiver
) -> None:
    status, report = verify(watched)
    assert status == 0
    assert report == {"checked": 2, "consistent": True, "drift": [], "alerted": []}
    assert smtp_server.received == [] and webhook_receiver.calls == []


def test_drift_exits_1_names_the_organization_and_alerts_every_channel(
    watched: Flask,
    smtp_server: SmtpServer,
    webhook_receiver: WebhookReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    drift(database_of(watched), "globex")
    logging.getLogger("seatgate").propagate = True  # let caplog see the JSON logger's records
    try:
        with caplog.at_level(logging.ERROR, logger="seatgate.reconciliation"):
            status, report = verify(watched)
    finally:
        logging.getLogger("seatgate").propagate = False
    assert status == 1
    assert report["consistent"] is False and report["checked"] == 2
    [drifted] = report["drift"]  # type: ignore[misc]
    assert drifted["organization"] == "globex"
    assert drifted["stored"] == {"purchased": 5, "assigned": 1}
    assert drifted["ledger"] == {"purchased": 3, "assigned": 1}
    assert report["alerted"] == ["log", "email", "webhook"]
    assert {r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR} == {
        "ledger drift"
    }
    [mail] = smtp_server.to(OPERATORS)
    assert "globex" in mail["Subject"] and '"purchased": 5' in mail.get_content()
    [call] = webhook_receiver.calls
    assert call.path == "/ops" and call.json["type"] == "ledger_drift"
    assert call.json["drift"][0]["organization"] == "globex"


def test_one_organization_can_be_verified_alone(watched: Flask) -> None:
    drift(database_of(watched), "globex")
    assert verify(watched, "acme", "--no-alert") == (
        0,
        {
            "checked": 1,
            "consistent": True,
            "drift": [],
        },
    )
    assert verify(watched, "globex", "--no-alert")[0] == 1


def test_an_unknown_organization_is_an_error(watched: Flask) -> None:
    result = watched.test_cli_runner().invoke(cli, ["ledger", "verify", "nobody"])
    assert result.exit_code == 1
    assert "nobody" in result.stderr


def test_an_unreachable_channel_does_not_hide_the_drift(database_url: str) -> None:
    flask_app = create_app(
        {
            "env": "test",
            "database": {"url": database_url},
            "operators": {"webhook_url": "http://127.0.0.1:9/ops"},
            **LOOPBACK_RECEIVERS,
        }
    )
    make_org(database_of(flask_app), "acme", seats=3)
    drift(database_of(flask_app), "acme")
    status, report = verify(flask_app)
    assert status == 1 and report["alerted"] == ["log"]
    database_of(flask_app).dispose()
