"""SCIM connection logs (redacted, per organization, pruned), verified e-mail domains on SCIM,
and the log pages and API that owners and admins read."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import database_of, domains, scim_request_log_of, settings_of
from app.connection_logs import REDACTED
from app.db import Database
from app.logs import JsonFormatter
from app.models import Role, ScimRequestLog
from app.organizations import get_organization
from tests.app.conftest import session_token
from tests.factories import OPERATOR, add_users, make_org
from tests.scim.conftest import BASE, CORE, Scim, counts, issue_token, user

PASSWORD = "correct horse battery staple"


def scim_logs(app: Flask) -> list[ScimRequestLog]:
    """The stored rows, once this process's pending rows are written."""
    scim_request_log_of(app).flush()
    with database_of(app).unit_of_work(write=False) as session:
        return list(session.scalars(select(ScimRequestLog).order_by(ScimRequestLog.id)))


@pytest.fixture
def app_log() -> Iterator[io.StringIO]:
    """Everything seatgate logs (JSON lines) while the test runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("seatgate")
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def test_each_request_is_logged_with_secrets_and_personal_fields_redacted(
    app: Flask, scim: Scim, app_log: io.StringIO
) -> None:
    body = user(
        "john.doe@acme.example.com",
        userName="jdoe",
        password=PASSWORD,
        phoneNumbers=[{"value": "+1 555 0100", "type": "mobile"}],
    )
    created = scim.post("/Users", body)
    assert created.status_code == 201
    scim.get("/Users", filter='userName eq "jdoe"')
    [create, search] = scim_logs(app)
    assert (create.method, create.path, create.status, create.scim_type) == (
        "POST",
        f"{BASE}/Users",
        201,
        None,
    )
    assert create.body["userName"] == "jdoe"
    assert create.body["active"] is True
    assert create.body["schemas"] == [CORE]
    assert create.body["password"] == REDACTED
    assert create.body["emails"] == [{"value": REDACTED, "type": REDACTED, "primary": True}]
    assert create.body["name"] == {"givenName": REDACTED, "familyName": REDACTED}
    assert (search.method, search.status, search.body) == ("GET", 200, None)
    stored = json.dumps([vars(e) for e in scim_logs(app)], default=str)
    everything = stored + app_log.getvalue()
    for secret in (scim.token, PASSWORD, "john.doe@acme.example.com", "555 0100"):
        assert secret not in everything


def test_refusals_are_logged_with_their_scim_type(
    app: Flask, scim: Scim, database: Database
) -> None:
    with database.unit_of_work() as session:
        acme = get_organization(session, "acme")
        domains.add_domain(session, acme, "acme.example.com", actor=OPERATOR)
    before = counts(database, acme.id)
    refused = scim.post("/Users", user("someone@elsewhere.example.org"))
    assert refused.status_code == 400
    assert refused.get_json()["scimType"] == "invalidValue"
    assert "not in this organization's e-mail domains" in refused.get_json()["detail"]
    assert counts(database, acme.id) == before  # no member, no seat, no ledger event
    assert scim.post("/Users", user("someone@acme.example.com")).status_code == 201
    assert scim.post("/Users", user("x@sub.acme.example.com")).status_code == 201
    logged = [(e.status, e.scim_type) for e in scim_logs(app)]
    assert logged == [(400, "invalidValue"), (201, None), (201, None)]


def test_unauthenticated_calls_are_not_logged_and_orgs_see_only_their_own(
    app: Flask, client: FlaskClient, scim: Scim, database: Database
) -> None:
    client.get(f"{BASE}/Users", headers={"Authorization": "Bearer sgscim_forged"})
    make_org(database, "beta", seats=2)
    Scim(client, issue_token(database, "beta")).get("/Users")
    scim.get("/Users")
    with database.unit_of_work(write=False) as session:
        beta = get_organization(session, "beta").id
    assert [e.organization_id == beta for e in scim_logs(app)] == [True, False]


def test_owners_and_admins_read_the_logs_users_do_not(
    app: Flask, client: FlaskClient, scim: Scim, database: Database
) -> None:
    add_users(database, "acme", ["admin@acme.example.com"], Role.ADMIN)
    add_users(database, "acme", ["user@acme.example.com"], Role.USER)
    scim.post("/Users", user("new@acme.example.com"))
    cookie = settings_of(app).sso.cookie_name
    html = {"Accept": "text/html"}
    for email, status in (
        ("owner@acme.example.com", 200),
        ("admin@acme.example.com", 200),
        ("user@acme.example.com", 404),
    ):
        token = session_token(app, database, email)
        client.set_cookie(cookie, token)
        page = client.get("/settings/logs/scim", headers=html)
        assert page.status_code == status, email
        api = client.get(
            "/api/v1/orgs/acme/logs/scim", headers={"Authorization": f"Bearer {token}"}
        )
        assert api.status_code == status, email
        if status == 200:
            assert "POST /scim/v2/Users" in page.get_data(as_text=True)
            assert [r["status"] for r in api.get_json()["requests"]] == [201]
        assert client.get("/settings/logs/sign-ins", headers=html).status_code == status
    admin = session_token(app, database, "admin@acme.example.com")
    client.set_cookie(cookie, admin)
    assert client.get("/settings/billing", headers=html).status_code == 404  # R8 still holds
    filtered = client.get(
        "/api/v1/orgs/acme/logs/scim?failed=1", headers={"Authorization": f"Bearer {admin}"}
    )
    assert filtered.get_json() == {"requests": []}


def test_logs_prune_removes_rows_older_than_the_retention(
    app: Flask, scim: Scim, database: Database
) -> None:
    scim.get("/Users")
    scim.get("/Users")
    scim_request_log_of(app).flush()
    with database.unit_of_work() as session:
        old = session.scalars(select(ScimRequestLog).order_by(ScimRequestLog.id)).first()
        assert old is not None
        old.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
    result = app.test_cli_runner().invoke(args=["logs", "prune"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "retention_days": 30,
        "removed": {"sign_ins": 0, "scim_requests": 1},
    }
    assert len(scim_logs(app)) == 1


def test_domain_commands(app: Flask, database: Database) -> None:
    make_org(database, "acme", seats=2)
    runner = app.test_cli_runner()
    added = runner.invoke(args=["domain", "add", "acme", "Acme.Example.COM."])
    assert json.loads(added.output)["domains"] == ["acme.example.com"]
    bad = runner.invoke(args=["domain", "add", "acme", "not a domain"])
    assert bad.exit_code == 1 and "is not a domain name" in bad.output
    listed = runner.invoke(args=["domain", "list", "acme"])
    assert json.loads(listed.output)["domains"] == ["acme.example.com"]
    assert runner.invoke(args=["domain", "remove", "acme", "acme.example.com"]).exit_code == 0
    missing = runner.invoke(args=["domain", "remove", "acme", "acme.example.com"])
    assert missing.exit_code == 1
