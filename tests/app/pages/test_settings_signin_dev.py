"""Alert settings page, the sign-in hand-over to SSO, and development sign-in links."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app, database_of
from app.alerts.policy import policy_of
from app.alerts.webhooks import list_webhooks
from app.cli import cli
from app.db import Database
from app.organizations import get_organization
from tests.app.conftest import HTML, OWNER, PRIMARY, TERM_START, csrf_from, page, text_of
from tests.factories import make_org

SignIn = Callable[[FlaskClient, str], FlaskClient]


def test_owners_change_thresholds_and_webhooks(
    acme: int, client: FlaskClient, sign_in: SignIn, database: Database
) -> None:
    sign_in(client, OWNER)
    token = csrf_from(client.get("/settings/billing/alerts", headers=HTML))
    saved = client.post(
        "/settings/billing/alerts",
        data={"csrf_token": token, "action": "policy", "percents": "75, 90%", "seats_left": "2",
              "digest_minutes": "10"},
        headers=HTML,
    )  # fmt: skip
    assert saved.status_code == 200
    with database.unit_of_work(write=False) as session:
        policy = policy_of(session, acme)
    assert (policy.percents, policy.seats_left, policy.digest_minutes) == ((75, 90), 2, 10)
    added = client.post(
        "/settings/billing/alerts",
        data={"csrf_token": token, "action": "add_webhook", "url": "https://hooks.example.com/x"},
        headers=HTML,
    )
    assert added.status_code == 200
    assert text_of(added, "webhook-secret").startswith("whsec_")
    with database.unit_of_work(write=False) as session:
        [hook] = list_webhooks(session, get_organization(session, "acme"))
    removed = client.post(
        "/settings/billing/alerts",
        data={"csrf_token": token, "action": "remove_webhook", "webhook_id": str(hook.id)},
        headers=HTML,
    )
    assert removed.status_code == 200 and "No webhooks." in removed.get_data(as_text=True)


@pytest.mark.parametrize(
    "form",
    [
        {"action": "policy", "percents": "eighty", "digest_minutes": "15"},
        {"action": "policy", "percents": "150", "digest_minutes": "15"},
        {"action": "policy", "percents": "80", "digest_minutes": "0"},
        {"action": "add_webhook", "url": "ftp://x"},
        {"action": "remove_webhook", "webhook_id": "999"},
        {"action": "explode"},
    ],
)
def test_bad_alert_settings_are_explained_and_change_nothing(
    acme: int, client: FlaskClient, sign_in: SignIn, database: Database, form: dict[str, str]
) -> None:
    sign_in(client, PRIMARY)
    token = csrf_from(client.get("/settings/billing/alerts", headers=HTML))
    response = client.post(
        "/settings/billing/alerts", data={"csrf_token": token, **form}, headers=HTML
    )
    assert response.status_code == 400
    assert page(response).xpath("//p[@role='alert']")
    with database.unit_of_work(write=False) as session:
        assert policy_of(session, acme).percents == (80, 90, 95, 100)
        assert list_webhooks(session, get_organization(session, "acme")) == []


def test_sign_in_hands_over_to_the_organizations_sso(client: FlaskClient) -> None:
    form = client.get("/signin?next=/settings/billing/invoices", headers=HTML)
    assert form.status_code == 200 and page(form).get_element_by_id("organization") is not None
    response = client.get("/signin?organization=acme&next=/settings/billing/invoices")
    location = urlsplit(response.headers["Location"])
    assert response.status_code == 303 and location.path == "/sso/acme/login"
    assert parse_qs(location.query) == {"next": ["/settings/billing/invoices"]}


@pytest.mark.parametrize("target", ["//evil.example.com/x", "https://evil.example.com", "/\\evil"])
def test_sign_in_never_redirects_off_site(client: FlaskClient, target: str) -> None:
    response = client.get("/signin", query_string={"organization": "acme", "next": target})
    assert parse_qs(urlsplit(response.headers["Location"]).query) == {"next": ["/settings/billing"]}


@pytest.fixture
def dev_app(database_url: str):  # type: ignore[no-untyped-def]
    flask_app = create_app({"env": "development", "database": {"url": database_url}})
    yield flask_app
    database_of(flask_app).dispose()


def test_development_login_links_open_one_session(dev_app: Flask) -> None:
    make_org(database_of(dev_app), "acme", seats=2, term_start=TERM_START)
    result = dev_app.test_cli_runner().invoke(
        cli, ["dev", "login-link", "acme", "owner@acme.example.com"]
    )
    assert result.exit_code == 0, result.output
    path = urlsplit(json.loads(result.stdout)["url"]).path
    client = dev_app.test_client()
    opened = client.get(path)
    assert opened.status_code == 303 and opened.headers["Location"] == "/settings/billing"
    assert "HttpOnly" in opened.headers["Set-Cookie"]
    assert client.get("/settings/billing", headers=HTML).status_code == 200
    assert dev_app.test_client().get(path).status_code == 404  # one use only


def test_development_sign_in_does_not_exist_elsewhere(app: Flask, runner) -> None:  # type: ignore[no-untyped-def]
    assert app.test_client().get("/dev/login/anything").status_code == 404
    result = runner.invoke(cli, ["dev", "login-link", "acme", "owner@acme.example.com"])
    assert result.exit_code == 2 and "No such command 'dev'" in result.output
