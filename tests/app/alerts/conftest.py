"""Fixtures for alert tests: real SMTP and HTTP peers, and a deliverer wired to them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from flask import Flask

from app import settings_of
from app.alerts.delivery import Deliverer
from app.db import Database
from app.settings import SmtpSettings
from tests.app.alerts.peers import SmtpServer, WebhookReceiver, start_receiver


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver, thread = start_receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def deliverer(app: Flask, database: Database, smtp_server: SmtpServer) -> Deliverer:
    settings = dataclasses.replace(
        settings_of(app),
        smtp=SmtpSettings(url=smtp_server.url, from_address="seatgate <alerts@seatgate.test>"),
    )
    return Deliverer(database, settings)
