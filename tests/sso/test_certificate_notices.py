"""Owners are warned 30, 7 and 1 days before a pinned IdP certificate or the organization's
SP certificate expires, once per certificate and notice, through the alerts outbox."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from flask import Flask
from sqlalchemy import select

from app.alerts.messages import render
from app.alerts.triggers import certificate_notices
from app.db import Database
from app.models import Alert, AlertKind
from tests.factories import make_org
from tests.sso.conftest import configure_org
from tests.sso.idp import KeyPair


def notices(database: Database, today: dt.date) -> list[Alert]:
    with database.unit_of_work() as session:
        return certificate_notices(session, today=today)


def expiry(keys: KeyPair) -> dt.date:
    return x509.load_pem_x509_certificate(keys.certificate.encode()).not_valid_after_utc.date()


def test_each_pinned_certificate_is_announced_once_per_notice(
    app: Flask, database: Database, idp_keys: dict[str, KeyPair]
) -> None:
    make_org(database, "acme", seats=2)
    # Two IdP certificates pinned during a rotation; the test keys live 30 days.
    configure_org(
        database, app, "acme", [idp_keys["current"].certificate, idp_keys["next"].certificate]
    )
    ends = expiry(idp_keys["current"])
    assert notices(database, ends - dt.timedelta(days=31)) == []

    first = notices(database, ends - dt.timedelta(days=30))
    assert [(a.kind, a.details["certificate"], a.details["days_left"]) for a in first] == [
        (AlertKind.CERTIFICATE_EXPIRING.value, "idp", 30),
        (AlertKind.CERTIFICATE_EXPIRING.value, "idp", 30),
    ]
    assert notices(database, ends - dt.timedelta(days=20)) == []  # already announced
    week = notices(database, ends - dt.timedelta(days=7))
    assert [a.details["days_left"] for a in week] == [7, 7]
    last = notices(database, ends - dt.timedelta(days=1))
    assert len(last) == 2
    assert notices(database, ends) == []  # expired: nothing "before" is left to say

    message = render(last[0], "Acme", "https://seatgate.test")
    assert message.subject == "[Acme] SAML certificate expires in 1 day"
    assert "identity provider's SAML signing certificate" in message.text
    with database.unit_of_work(write=False) as session:
        stored = session.scalars(select(Alert.kind)).all()
    assert stored.count(AlertKind.CERTIFICATE_EXPIRING.value) == 6  # the CHECK allows the kind
