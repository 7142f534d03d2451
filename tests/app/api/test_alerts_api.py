"""``GET /api/v1/orgs/<slug>/alerts``: owners read their alerts; others get 401 or 404 (R8, I7)."""

from __future__ import annotations

import datetime as dt
import json

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app import settings_of
from app.api.auth import mint_api_token
from app.db import Database
from app.models import Role
from app.organizations import get_member, get_organization
from tests.app.alerts.helpers import OWNER, PRIMARY, org_with_staff
from tests.factories import add_users, at, make_org, seat_members


def token_for(runner: FlaskCliRunner, slug: str, email: str) -> str:
    result = runner.invoke(args=["api-token", slug, email])
    assert result.exit_code == 0, result.output
    return str(json.loads(result.output)["token"])


def get_alerts(client: FlaskClient, token: str | None, slug: str = "acme", query: str = ""):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(f"/api/v1/orgs/{slug}/alerts{query}", headers=headers)


@pytest.fixture
def acme(database: Database) -> int:
    org_id = org_with_staff(database)
    members = add_users(database, "acme", [f"u{i}@acme.example.com" for i in range(8)])
    seat_members(database, members, when=at("2026-06-01"))
    add_users(database, "acme", ["plain@acme.example.com"], Role.USER)
    return org_id


@pytest.mark.parametrize("email", [PRIMARY, OWNER])
def test_owners_read_their_alerts(
    acme: int, client: FlaskClient, runner: FlaskCliRunner, email: str
) -> None:
    response = get_alerts(client, token_for(runner, "acme", email))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    [alert] = body["alerts"]
    assert body["organization"] == "acme"
    assert alert["kind"] == "seats_low"
    assert alert["title"] == "[Acme] Seats running low: 80 % of seats in use"
    assert "Seats: 10 purchased, 8 assigned, 2 free." in alert["text"]
    assert alert["details"]["assigned"] == 8 and alert["status"] == "pending"
    assert alert["deliveries"] == {}


@pytest.mark.parametrize("email", ["admin@acme.example.com", "plain@acme.example.com"])
def test_admins_and_users_get_not_found(
    acme: int, client: FlaskClient, runner: FlaskCliRunner, email: str
) -> None:
    response = get_alerts(client, token_for(runner, "acme", email))
    assert response.status_code == 404
    assert "alerts" not in response.get_json()


def test_an_inactive_owner_gets_not_found(
    acme: int, client: FlaskClient, app: Flask, database: Database
) -> None:
    with database.unit_of_work() as session:
        organization = get_organization(session, "acme")
        former = get_member(session, organization, "former-owner@acme.example.com")
        token, _ = mint_api_token(
            settings_of(app).secret_key, former, organization, ttl_seconds=300
        )
    assert get_alerts(client, token).status_code == 404


def test_no_or_bad_credentials_get_401_with_a_challenge(
    acme: int, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    for response in (
        get_alerts(client, None),
        get_alerts(client, "not-a-jwt"),
        client.get("/api/v1/orgs/acme/alerts", headers={"Authorization": "Basic YTpi"}),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="seatgate"'
        assert response.get_json()["error"] == "Unauthorized"


def test_forged_expired_and_unsigned_tokens_are_refused(
    acme: int, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    genuine = token_for(runner, "acme", PRIMARY)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    now = dt.datetime.now(dt.UTC)
    forged = jwt.encode(claims, "not the secret key at all, but long enough", algorithm="HS256")
    expired = {**claims, "exp": now - dt.timedelta(seconds=1), "iat": now - dt.timedelta(hours=1)}
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    for token in (forged, unsigned):
        assert get_alerts(client, token).status_code == 401
    header, _payload, signature = genuine.split(".")
    tampered = jwt.encode(expired, "x" * 40, algorithm="HS256").split(".")[1]
    assert get_alerts(client, f"{header}.{tampered}.{signature}").status_code == 401


def test_another_organizations_owner_cannot_read_them(
    acme: int, database: Database, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    make_org(database, "globex", owner="boss@globex.example.com")
    token = token_for(runner, "globex", "boss@globex.example.com")
    assert get_alerts(client, token, "acme").status_code == 404
    assert get_alerts(client, token, "globex").status_code == 200


def test_limit_is_validated(acme: int, client: FlaskClient, runner: FlaskCliRunner) -> None:
    token = token_for(runner, "acme", PRIMARY)
    assert get_alerts(client, token, query="?limit=1").status_code == 200
    assert get_alerts(client, token, query="?limit=0").status_code == 400
    assert get_alerts(client, token, query="?limit=abc").status_code == 400


def test_api_token_for_an_unknown_member_fails(acme: int, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["api-token", "acme", "nobody@acme.example.com"])
    assert result.exit_code == 1
    assert "No member" in result.output
