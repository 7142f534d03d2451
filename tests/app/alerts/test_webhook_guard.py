"""Webhooks never reach inside: refused when added (CLI, owner page) and at every send.

The app here runs with the production rule (``webhooks.allow_private_addresses`` false), and
the receivers listen on 127.0.0.1 as an internal service would: a refused URL must leave them
without a single call, and what the owner learns must not say what answers there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, text

from app import create_app, database_of
from app.alerts.delivery import Deliverer
from app.alerts.webhooks import list_webhooks
from app.cli import cli
from app.db import Database
from app.models import AlertDelivery, AuditEntry, DeliveryChannel, Webhook, utcnow
from app.organizations import get_organization
from app.settings import SettingsError, load_settings
from tests.app import conftest as pages
from tests.app.alerts.helpers import PRIMARY, org_with_staff
from tests.app.alerts.peers import SmtpServer, WebhookReceiver
from tests.factories import add_users, at, make_org, seat_members
from tests.peers import LOOPBACK_RECEIVERS

NOW = at("2026-06-01")
REFUSED = "refused: address not allowed"  # all a refused send records: no address, no status
INTERNAL_URLS = [
    "http://127.0.0.1:5432/",
    "http://localhost:8080/hook",
    "http://[::1]/hook",
    "http://0x7f000001/hook",
    "http://2130706433/hook",
    "http://0177.0.0.1/hook",
    "http://127.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/hook",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://[fd00::1]/hook",
]


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The suite's app without the loopback exception: the rule production runs with (and a
    public base URL, so no 127.0.0.1 in a message comes from seatgate's own links)."""
    flask_app = create_app(
        {
            "env": "test",
            "base_url": "https://seatgate.example.com",
            "database": {"url": database_url},
        }
    )
    yield flask_app
    database_of(flask_app).dispose()


def stored_webhooks(database: Database) -> list[Webhook]:
    with database.unit_of_work(write=False) as session:
        return list_webhooks(session, get_organization(session, "acme"))


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_the_cli_refuses_an_internal_webhook_and_stores_nothing(
    database: Database, runner: FlaskCliRunner, url: str
) -> None:
    make_org(database)
    result = runner.invoke(args=["webhook", "add", "acme", url])
    assert result.exit_code == 1
    assert "is not a public internet address" in result.output
    assert stored_webhooks(database) == []
    with database.unit_of_work(write=False) as session:
        assert "webhook.add" not in session.scalars(select(AuditEntry.action)).all()


def test_the_cli_accepts_a_public_address(database: Database, runner: FlaskCliRunner) -> None:
    make_org(database)
    result = runner.invoke(args=["webhook", "add", "acme", "https://93.184.216.34/hook"])
    assert result.exit_code == 0, result.output
    assert [hook.url for hook in stored_webhooks(database)] == ["https://93.184.216.34/hook"]


@pytest.mark.parametrize(
    "url", ["http://localhost/x", "http://0x7f000001/x", "http://169.254.169.254/", "http://[::1]/"]
)
def test_the_owner_page_refuses_an_internal_webhook_and_keeps_the_reason_in_view(
    acme: int,
    client: FlaskClient,
    sign_in: Callable[[FlaskClient, str], FlaskClient],
    database: Database,
    url: str,
) -> None:
    sign_in(client, pages.PRIMARY)
    form = client.get("/settings/billing/alerts", headers=pages.HTML)
    response = client.post(
        "/settings/billing/alerts",
        data={"csrf_token": pages.csrf_from(form), "action": "add_webhook", "url": url},
        headers=pages.HTML,
    )
    assert response.status_code == 400
    [alert] = pages.page(response).xpath("//p[@role='alert']")
    assert "is not a public internet address" in alert.text_content()
    assert stored_webhooks(database) == []
    assert "must be a public internet address" in pages.text_of(response, "url-hint")


def test_a_webhook_stored_before_is_refused_at_send_and_never_called(
    app: Flask,
    database: Database,
    deliverer: Deliverer,
    smtp_server: SmtpServer,
    webhook_receiver: WebhookReceiver,
    runner: FlaskCliRunner,
    client: FlaskClient,
) -> None:
    """A URL accepted earlier (registered before this rule, or while the setting allowed it,
    or whose name resolved elsewhere then) is checked again at the send, and refused there."""
    org_id = org_with_staff(database)
    url = webhook_receiver.url(host="localhost")
    with database.unit_of_work() as session:
        webhook = Webhook(
            organization_id=org_id, url=url, secret="whsec_x", active=True, created_at=utcnow()
        )
        session.add(webhook)
        session.flush()
        webhook_id = webhook.id
    members = add_users(database, "acme", [f"u{i}@acme.example.com" for i in range(8)])
    seat_members(database, members, when=NOW)  # 80 %: an alert for owners and webhooks
    report = deliverer.run_pass(now=NOW)
    assert webhook_receiver.calls == []  # not POSTed
    assert (report.sent, report.webhooks_disabled) == (2, 1)  # the owners' e-mails went
    with database.unit_of_work(write=False) as session:
        [delivery] = session.scalars(
            select(AlertDelivery).where(AlertDelivery.channel == DeliveryChannel.WEBHOOK.value)
        ).all()
        assert (delivery.status, delivery.last_error) == ("cancelled", REFUSED)
        stored = session.get(Webhook, webhook_id)
        assert stored is not None and not stored.active
        assert stored.disabled_reason == REFUSED

    deliverer.run_pass()  # the owners are told, by e-mail, without a word from inside
    [told] = [m for m in smtp_server.to(PRIMARY) if "webhook disabled" in str(m["Subject"])]
    words = told.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "does not point at a public internet address" in words and url in words
    assert "127.0.0.1" not in words and "HTTP" not in words
    assert webhook_receiver.calls == []

    token = json.loads(runner.invoke(args=["api-token", "acme", PRIMARY]).output)["token"]
    answer = client.get("/api/v1/orgs/acme/alerts", headers={"Authorization": f"Bearer {token}"})
    seats_low = [a for a in answer.get_json()["alerts"] if a["kind"] == "seats_low"]
    assert seats_low[0]["deliveries"] == {"sent": 2, "cancelled": 1}
    assert "127.0.0.1" not in answer.get_data(as_text=True)


def test_the_operators_drift_webhook_is_guarded_too(
    database_url: str,
    smtp_server: SmtpServer,
    webhook_receiver: WebhookReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    flask_app = create_app(
        {
            "env": "test",
            "database": {"url": database_url},
            "smtp": {"url": smtp_server.url},
            "operators": {
                "email": "ops@seatgate.test",
                "webhook_url": webhook_receiver.url("/ops", host="localhost"),
            },
        }
    )
    database = database_of(flask_app)
    make_org(database, "acme", seats=3)
    with database.unit_of_work() as session:
        session.execute(text("UPDATE seat_pools SET purchased = purchased + 2"))
    logging.getLogger("seatgate").propagate = True  # let caplog see the JSON logger's records
    try:
        with caplog.at_level(logging.ERROR, logger="seatgate.reconciliation"):
            result = flask_app.test_cli_runner().invoke(cli, ["ledger", "verify"])
    finally:
        logging.getLogger("seatgate").propagate = False
        database.dispose()
    assert result.exit_code == 1
    assert json.loads(result.stdout)["alerted"] == ["log", "email"]
    assert webhook_receiver.calls == []
    failures = [r for r in caplog.records if r.getMessage() == "ledger drift webhook failed"]
    assert {r.__dict__["error"] for r in failures} == {REFUSED}


@pytest.mark.parametrize("host", ["127.0.0.1:9", "0x7f000001", "[::ffff:10.0.0.1]", "10.1.2.3"])
def test_start_up_refuses_an_operator_webhook_on_an_internal_address(host: str) -> None:
    environ = {"SEATGATE_OPERATORS_WEBHOOK_URL": f"http://{host}/ops"}
    with pytest.raises(SettingsError, match=r"^operators\.webhook_url: .* not a public"):
        load_settings(environ=environ)
    allowed = {**environ, "SEATGATE_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES": "true"}
    assert load_settings(environ=allowed).webhooks.allow_private_addresses is True


def test_production_refuses_to_allow_private_addresses() -> None:
    production = {
        "SEATGATE_ENV": "production",
        "SEATGATE_SECRET_KEY": "k" * 40,
        "SEATGATE_BASE_URL": "https://seatgate.example.com",
    }
    assert load_settings(environ=production).webhooks.allow_private_addresses is False
    with pytest.raises(SettingsError, match=r"^webhooks\.allow_private_addresses: production"):
        load_settings(environ={**production, "SEATGATE_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES": "true"})
    assert load_settings(overrides=LOOPBACK_RECEIVERS).webhooks.allow_private_addresses is True
