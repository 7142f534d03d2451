"""Alert configuration layers, the SMTP URL, background delivery, and the schema's migration."""

from __future__ import annotations

import ast
import dataclasses
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from app import settings_of
from app.alerts.delivery import BackgroundDelivery
from app.alerts.mail import parse_smtp_url
from app.db import Database
from app.models import Base
from app.settings import AlertSettings, SettingsError, SmtpSettings, load_settings
from tests.app.alerts.helpers import PRIMARY, org_with_staff
from tests.app.alerts.peers import SmtpServer
from tests.factories import add_users, at, seat_members


def test_smtp_and_alert_settings_come_from_the_environment() -> None:
    settings = load_settings(
        environ={
            "SEATGATE_SMTP_URL": "smtp://a%40b.example:p%2Fw@mail.example.com:587?starttls=true",
            "SEATGATE_SMTP_FROM_ADDRESS": "alerts@b.example",
            "SEATGATE_ALERTS_DELIVER_IN_BACKGROUND": "false",
            "SEATGATE_ALERTS_RETRY_BASE_SECONDS": "10",
        }
    )
    assert settings.alerts.deliver_in_background is False
    assert settings.alerts.retry_base_seconds == 10
    server = parse_smtp_url(settings.smtp.url)
    assert (server.host, server.port, server.starttls, server.implicit_tls) == (
        "mail.example.com",
        587,
        True,
        False,
    )
    assert (server.username, server.password) == ("a@b.example", "p/w")
    assert parse_smtp_url("smtps://mail.example.com").port == 465


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SEATGATE_SMTP_URL": "http://mail.example.com"}, "smtp.url"),
        ({"SEATGATE_SMTP_URL": "smtp://u:secret@"}, "smtp.url"),
        ({"SEATGATE_SMTP_FROM_ADDRESS": "nobody"}, "smtp.from_address"),
        ({"SEATGATE_ALERTS_POLL_INTERVAL": "0"}, "alerts.poll_interval"),
        ({"SEATGATE_ALERTS_RETRY_MAX_SECONDS": "1"}, "alerts.retry_max_seconds"),
    ],
)
def test_bad_alert_settings_are_refused_by_name(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as refused:
        load_settings(environ=environ)
    assert "secret" not in str(refused.value)


def test_models_match_the_migrations(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_background_delivery_sends_without_a_command(app: Flask, database: Database) -> None:
    server = SmtpServer()
    server.start()
    settings = dataclasses.replace(
        settings_of(app),
        smtp=SmtpSettings(url=server.url),
        alerts=AlertSettings(poll_interval=1),
    )
    background = BackgroundDelivery(database, settings)
    try:
        org_with_staff(database)
        members = add_users(database, "acme", [f"u{i}@acme.example.com" for i in range(8)])
        seat_members(database, members, when=at("2026-06-01"))
        deadline = time.monotonic() + 30
        while not server.to(PRIMARY) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(server.to(PRIMARY)) == 1
    finally:
        background.stop()
        server.stop()


@pytest.mark.parametrize(
    "module", ["triggers", "policy", "messages", "delivery", "mail", "webhooks", "inbox"]
)
def test_alert_domain_modules_know_nothing_of_http_frameworks(module: str) -> None:
    source = Path(__file__).resolve().parents[3] / "app" / "alerts" / f"{module}.py"
    tree = ast.parse(source.read_text())
    roots = {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    } | {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not roots & {"flask", "werkzeug", "scim", "sso", "marshmallow"}
