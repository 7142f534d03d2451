"""Owners sign in by e-mail link: a production app, a real SMTP server on loopback (aiosmtpd),
the alert deliverer sending the mail, a browser following the link.

The link must open a billing-only session for Owners and the Primary Owner only, once, for
15 minutes; asking for one must look and cost the same whatever the address; a mail scanner
fetching the link must not spend it.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text, update
from werkzeug.test import TestResponse

from app import create_app, database_of, settings_of, sign_in_links
from app.alerts.delivery import Deliverer
from app.alerts.webhooks import add_webhook
from app.crypto import secret_digest
from app.db import Database
from app.ledger import Actor, seat_usage
from app.models import (
    Alert,
    AlertDelivery,
    AlertKind,
    EmailSignInLink,
    Member,
    Role,
    Source,
    utcnow,
)
from app.organizations import get_organization
from app.sessions import BILLING_AUDIENCE
from tests.app.alerts.peers import SmtpServer
from tests.app.conftest import ADMIN, HTML, OWNER, PRIMARY, TERM_START, USER, csrf_from, text_of
from tests.factories import add_users, make_org
from tests.sso.idp import TestIdentityProvider, make_key_pair

BASE_URL = "https://seatgate.example.test"
LINK = re.compile(re.escape(BASE_URL) + r"(/signin/link/sgsignin_[A-Za-z0-9_-]+)")


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def production_app(database_url: str, smtp_url: str, **more: Any) -> Flask:
    return create_app(
        {
            "env": "production",
            "secret_key": "a-production-secret-key-of-forty-characters",
            "base_url": BASE_URL,
            "database": {"url": database_url},
            "smtp": {"url": smtp_url, "from_address": "seatgate <signin@seatgate.example.test>"},
            **more,
        }
    )


@pytest.fixture
def app(database_url: str, smtp_server: SmtpServer) -> Iterator[Flask]:
    flask_app = production_app(database_url, smtp_server.url)
    yield flask_app
    database_of(flask_app).dispose()


@pytest.fixture
def acme(database: Database) -> int:
    org_id = make_org(database, "acme", seats=10, term_start=TERM_START)
    add_users(database, "acme", [OWNER], Role.OWNER)
    add_users(database, "acme", [ADMIN], Role.ADMIN)
    add_users(database, "acme", [USER], Role.USER)
    return org_id


def ask(client: FlaskClient, email: str, organization: str = "acme") -> TestResponse:
    page = client.get("/signin", headers=HTML)
    return client.post(
        "/signin/email-link",
        data={"csrf_token": csrf_from(page), "organization": organization, "email": email},
        headers=HTML,
    )


def deliver(app: Flask) -> dict[str, Any]:
    return Deliverer(database_of(app), settings_of(app)).run_pass().as_dict()


def link_in(smtp_server: SmtpServer, address: str) -> str:
    [message] = [m for m in smtp_server.to(address) if "sign-in link" in m["Subject"]]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found is not None, body.get_content()
    return found.group(1)


def redeem(client: FlaskClient, path: str) -> TestResponse:
    confirm = client.get(path, headers=HTML)
    token = path.rsplit("/", 1)[1]
    csrf = csrf_from(confirm) if confirm.status_code == 200 else csrf_from(client.get("/signin"))
    return client.post("/signin/link", data={"csrf_token": csrf, "token": token}, headers=HTML)


def test_an_owner_signs_in_by_email_into_a_billing_only_session(
    app: Flask, acme: int, database: Database, smtp_server: SmtpServer
) -> None:
    client = app.test_client()
    asked = ask(client, "Owner@ACME.example.com")
    assert asked.status_code == 200
    assert "a sign-in link is on its way" in text_of(asked, "email-link-sent")
    report = deliver(app)
    assert (report["sign_in_links"], report["sent"]) == (1, 1)
    [message] = smtp_server.received
    assert message.recipients == [PRIMARY]
    assert message.message["Subject"] == "[Acme] Your seatgate sign-in link"
    path = link_in(smtp_server, PRIMARY)

    # A mail scanner fetches the link: a confirmation page, nothing spent.
    for _ in range(2):
        scanned = app.test_client().get(path, headers=HTML)
        assert scanned.status_code == 200
        assert scanned.headers["Cache-Control"] == "no-store"
        assert scanned.headers["Referrer-Policy"] == "no-referrer"
        assert "Sign in to Acme" in scanned.get_data(as_text=True)

    signed_in = redeem(client, path)
    assert signed_in.status_code == 303
    assert signed_in.headers["Location"].endswith("/settings/billing")
    cookie = client.get_cookie("seatgate_session", domain="localhost")
    assert cookie is not None
    claims = jwt.decode(cookie.value, options={"verify_signature": False})
    assert (claims["aud"], claims["role"], claims["email"]) == (
        BILLING_AUDIENCE,
        "primary_owner",
        PRIMARY,
    )
    assert client.get("/settings/billing", headers=HTML).status_code == 200
    product = client.get("/sso/session", headers={"Authorization": f"Bearer {cookie.value}"})
    assert product.status_code == 401  # no product token
    with database.unit_of_work(write=False) as session:
        assert seat_usage(session, acme).assigned == 0  # no seat taken

    # Once only: another browser with the same link finds nothing.
    assert redeem(app.test_client(), path).status_code == 404
    assert app.test_client().get(path, headers=HTML).status_code == 404


def test_only_the_tokens_hash_is_stored(
    app: Flask, acme: int, database: Database, smtp_server: SmtpServer
) -> None:
    ask(app.test_client(), PRIMARY)
    deliver(app)
    token = link_in(smtp_server, PRIMARY).rsplit("/", 1)[1]
    with database.engine.connect() as connection:
        tables = [row[0] for row in connection.execute(text(_TABLES[database.engine.name]))]
        dumped = "".join(
            str(row)
            for table in tables
            for row in connection.execute(text(f"SELECT * FROM {table}"))
        )
    assert token not in dumped
    assert secret_digest(token) in dumped


_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
}


def test_the_answer_and_its_trace_are_the_same_for_anyone(
    app: Flask, acme: int, database: Database, smtp_server: SmtpServer
) -> None:
    """Owner or not, member or not: the same page, one request row each; afterwards only
    owners get mail and nothing is left of anyone else's request."""
    answers = {}
    for address in (PRIMARY, OWNER, ADMIN, USER, "nobody@acme.example.com"):
        response = ask(app.test_client(), address)
        body = re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True))
        answers[address] = (
            response.status_code,
            body.replace(address, "ADDRESS"),
            sorted(k for k, _ in response.headers if k != "Set-Cookie"),
        )
    assert len(set(map(repr, answers.values()))) == 1
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(EmailSignInLink)) == 5

    deliver(app)
    assert sorted(r.recipients[0] for r in smtp_server.received) == sorted([PRIMARY, OWNER])
    with database.unit_of_work(write=False) as session:
        kept = session.scalars(select(EmailSignInLink.address_key)).all()
    assert sorted(kept) == sorted([PRIMARY, OWNER])


def test_unknown_organizations_get_the_same_answer(
    app: Flask, acme: int, smtp_server: SmtpServer
) -> None:
    known = ask(app.test_client(), "nobody@acme.example.com")
    unknown = ask(app.test_client(), "nobody@acme.example.com", organization="no-such-org")
    assert (known.status_code, text_of(known, "email-link-sent")) == (
        unknown.status_code,
        text_of(unknown, "email-link-sent"),
    )
    deliver(app)
    assert smtp_server.received == []


def test_a_link_is_sent_to_that_owner_alone_and_never_listed_as_an_alert(
    app: Flask, acme: int, database: Database, smtp_server: SmtpServer
) -> None:
    with database.unit_of_work() as session:  # a name this machine cannot resolve: no guard
        organization = get_organization(session, "acme")
        add_webhook(
            session,
            organization,
            "https://hooks.example.test/seatgate",
            actor=Actor(label="operator:test", source=Source.CLI, request_id=None),
            allow_private_addresses=True,
        )
    ask(app.test_client(), OWNER)
    deliver(app)
    assert [r.recipients for r in smtp_server.received] == [[OWNER]]
    with database.unit_of_work(write=False) as session:
        channels = session.scalars(select(AlertDelivery.channel)).all()
    assert channels == ["email"]  # no webhook delivery, no other owner
    listed = app.test_cli_runner().invoke(args=["alerts", "list", "acme"])
    assert AlertKind.SIGN_IN_LINK.value not in listed.output


def test_links_last_15_minutes(
    app: Flask, acme: int, database: Database, smtp_server: SmtpServer
) -> None:
    ask(app.test_client(), PRIMARY)
    deliver(app)
    path = link_in(smtp_server, PRIMARY)
    with database.unit_of_work() as session:
        [link] = session.scalars(select(EmailSignInLink)).all()
        assert link.expires_at - link.requested_at == dt.timedelta(minutes=15)
        link.expires_at = utcnow() - dt.timedelta(seconds=1)
    assert app.test_client().get(path, headers=HTML).status_code == 404
    assert redeem(app.test_client(), path).status_code == 404


def test_a_request_not_sent_within_15_minutes_is_dropped(
    app: Flask, acme: int, database: Database, smtp_server: SmtpServer
) -> None:
    ask(app.test_client(), PRIMARY)
    later = utcnow() + dt.timedelta(minutes=16)
    report = Deliverer(database_of(app), settings_of(app)).run_pass(now=later)
    assert (report.sign_in_links, report.sent) == (0, 0)
    assert smtp_server.received == []


def test_a_resend_makes_a_new_token_and_the_old_one_stops(
    app: Flask, acme: int, database: Database, smtp_server: SmtpServer
) -> None:
    ask(app.test_client(), PRIMARY)
    deliver(app)
    first = link_in(smtp_server, PRIMARY)
    with database.unit_of_work() as session:  # as if the first send's outcome was lost
        session.execute(update(AlertDelivery).values(status="pending", next_attempt_at=utcnow()))
    smtp_server.received.clear()
    deliver(app)
    second = link_in(smtp_server, PRIMARY)
    assert first != second
    assert app.test_client().get(first, headers=HTML).status_code == 404
    assert redeem(app.test_client(), second).status_code == 303


def test_a_link_of_someone_no_longer_an_active_owner_opens_nothing(
    app: Flask, acme: int, database: Database, smtp_server: SmtpServer
) -> None:
    ask(app.test_client(), OWNER)
    deliver(app)
    path = link_in(smtp_server, OWNER)
    with database.unit_of_work() as session:
        session.execute(update(Member).where(Member.email == OWNER).values(role="admin"))
    client = app.test_client()
    assert redeem(client, path).status_code == 404
    assert client.get_cookie("seatgate_session", domain="localhost") is None


def test_two_redemptions_of_one_link_cannot_both_win(
    app: Flask, acme: int, database: Database, smtp_server: SmtpServer
) -> None:
    ask(app.test_client(), PRIMARY)
    deliver(app)
    token = link_in(smtp_server, PRIMARY).rsplit("/", 1)[1]
    start = threading.Barrier(2)
    won: list[bool] = []

    def attempt() -> None:
        with database.unit_of_work() as session:
            start.wait()
            won.append(
                sign_in_links.redeem(session, token, now=utcnow(), request_id=None) is not None
            )

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(won) == [False, True]


def test_asking_is_limited_per_address_and_per_client(
    database_url: str, smtp_server: SmtpServer
) -> None:
    app = production_app(
        database_url,
        smtp_server.url,
        sign_in_links={"per_address_per_hour": 2, "per_client_per_hour": 3},
    )
    database = database_of(app)
    make_org(database, "acme", seats=2, term_start=TERM_START)

    def from_client(address: str, ip: str) -> int:
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = ip
        return ask(client, address).status_code

    assert [from_client(PRIMARY, "192.0.2.1") for _ in range(3)] == [200, 200, 429]
    assert from_client(PRIMARY, "192.0.2.99") == 429  # the address is spent, from anywhere
    assert from_client("other@acme.example.com", "192.0.2.1") == 429  # and this client too
    assert from_client("other@acme.example.com", "192.0.2.2") == 200
    limited = app.test_client()
    limited.environ_base["REMOTE_ADDR"] = "192.0.2.1"
    refused = ask(limited, "third@acme.example.com")
    assert "Too many sign-in links" in text_of(refused, "email-link-error")
    assert 'value="third@acme.example.com"' in refused.get_data(as_text=True)  # form kept
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(EmailSignInLink)) == 3
    database.dispose()


def test_bad_requests_change_nothing(app: Flask, acme: int, database: Database) -> None:
    client = app.test_client()
    bad_address = ask(client, "not an address")
    assert bad_address.status_code == 400
    assert text_of(bad_address, "email-link-error") == "Enter a valid e-mail address."
    assert ask(client, PRIMARY, organization="Not A Slug!").status_code == 400
    no_csrf = client.post("/signin/email-link", data={"organization": "acme", "email": PRIMARY})
    assert no_csrf.status_code == 400
    assert client.get("/signin/link/sgsignin_forged", headers=HTML).status_code == 404
    assert redeem(client, "/signin/link/anything").status_code == 404
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(EmailSignInLink)) == 0


def test_without_smtp_the_page_offers_no_email_link(database_url: str) -> None:
    app = create_app({"env": "test", "database": {"url": database_url}})
    page = app.test_client().get("/signin", headers=HTML)
    assert "E-mail me a sign-in link" not in page.get_data(as_text=True)
    database_of(app).dispose()


def test_an_owner_without_working_sso_approves_the_first_idp_by_email_link(
    app: Flask, acme: int, database: Database, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """Billing and approval never depend on SSO already working: the organization has no IdP;
    its IT admin submits one through a setup link; the Primary Owner signs in by e-mail link
    and approves it from that billing-only session."""
    result = app.test_cli_runner().invoke(args=["setup-link", "acme"])
    setup = result.output.split('"url": "')[1].split('"')[0].removeprefix(BASE_URL)
    helper = app.test_client()
    page = helper.get(setup)
    metadata = _idp_metadata(tmp_path)
    saved = helper.post(
        f"{setup}/idp", data={"csrf_token": csrf_from(page), "metadata_xml": metadata}
    )
    assert saved.status_code == 200, saved.get_data(as_text=True)

    owner = app.test_client()
    ask(owner, PRIMARY)
    deliver(app)
    subjects = sorted(m["Subject"] for m in smtp_server.to(PRIMARY))
    assert subjects == [
        "[Acme] Identity provider configuration waiting for your approval",
        "[Acme] Your seatgate sign-in link",
    ]
    assert redeem(owner, link_in(smtp_server, PRIMARY)).status_code == 303
    billing = owner.get("/settings/billing", headers=HTML)
    assert "https://idp.example.test/saml/metadata" in text_of(billing, "pending-idp")
    form = re.search(
        r'action="(/settings/billing/idp/\d+/approve)"', billing.get_data(as_text=True)
    )
    assert form is not None
    approved = owner.post(form.group(1), data={"csrf_token": csrf_from(billing)}, headers=HTML)
    assert approved.status_code == 303
    assert app.test_client().get("/sso/acme/metadata").status_code == 200  # SSO is on
    with database.unit_of_work(write=False) as session:
        [approval] = session.scalars(
            select(Alert).where(Alert.kind == AlertKind.SSO_CHANGED.value).order_by(Alert.id)
        ).all()[-1:]
    assert (approval.details["change"], approval.details["by"]) == ("approved", PRIMARY)


def _idp_metadata(directory: Path) -> str:
    """An IdP's metadata as pysaml2 publishes it, with a signing certificate of its own."""
    return TestIdentityProvider(make_key_pair(directory, "email-link-test"), []).metadata_xml()
