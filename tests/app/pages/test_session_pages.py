"""Owner pages keep a session alive while in use (sliding renewal under an absolute limit),
and sign out with a form that carries the CSRF token."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from http.cookies import SimpleCookie

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from app import create_app, database_of, sessions, settings_of
from app.db import Database
from app.ledger import claim_seat
from app.models import SignInSession, utcnow
from app.organizations import get_member, get_organization
from tests.app.conftest import HTML, PRIMARY, csrf_from, page
from tests.factories import OPERATOR

COOKIE = "seatgate_session"
LIFETIME = 900  # sso.token_lifetime_seconds, the default


def issued_at(app: Flask, database: Database, email: str, at: dt.datetime) -> str:
    """A session as SSO opens it (a seat, then the token), opened at ``at``."""
    with database.unit_of_work() as session:
        organization = get_organization(session, "acme")
        member = get_member(session, organization, email)
        claim_seat(session, member, actor=OPERATOR)
        return sessions.issue(
            session, settings_of(app), organization, member, name_id=email, session_index=None,
            now=at,
        ).token  # fmt: skip


def set_cookie_of(response: TestResponse, name: str) -> SimpleCookie | None:
    for header in response.headers.getlist("Set-Cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie
    return None


def expiry_of(token: str) -> dt.datetime:
    claims = jwt.decode(token, options={"verify_signature": False})
    return dt.datetime.fromtimestamp(claims["exp"], dt.UTC)


def same_second(moment: dt.datetime, other: dt.datetime) -> bool:
    """A JWT's ``exp`` is whole seconds; the session row keeps the microseconds."""
    return abs(moment - other) < dt.timedelta(seconds=1)


def session_row(database: Database, token: str) -> SignInSession:
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    with database.unit_of_work(write=False) as session:
        found = session.get(SignInSession, sid)
        assert found is not None
        return found


def test_an_owner_at_work_gets_a_fresh_token_before_the_old_one_runs_out(
    acme: int, app: Flask, client: FlaskClient, database: Database
) -> None:
    """Signed in 10 minutes ago, 5 minutes left: a page visit renews the same session."""
    old = issued_at(app, database, PRIMARY, utcnow() - dt.timedelta(minutes=10))
    client.set_cookie(COOKIE, old)
    response = client.get("/settings/billing/seats/edit", headers=HTML)
    assert response.status_code == 200
    renewed = set_cookie_of(response, COOKIE)
    assert renewed is not None, "no renewed session cookie"
    morsel = renewed[COOKIE]
    assert morsel["httponly"] and morsel["secure"] and morsel["samesite"] == "Lax"
    new = morsel.value
    assert (
        jwt.decode(new, options={"verify_signature": False})["sid"]
        == jwt.decode(old, options={"verify_signature": False})["sid"]
    )
    assert expiry_of(new) - utcnow() > dt.timedelta(seconds=LIFETIME - 60)
    assert expiry_of(old) - utcnow() < dt.timedelta(minutes=6)
    assert same_second(session_row(database, new).expires_at, expiry_of(new))
    product = client.get("/sso/session", headers={"Authorization": f"Bearer {new}"})
    assert product.status_code == 200

    # the purchase goes on with the renewed cookie
    token = csrf_from(client.get("/settings/billing/seats/edit", headers=HTML))
    review = client.post(
        "/settings/billing/seats/review", data={"csrf_token": token, "seats": "12"}, headers=HTML
    )
    assert review.status_code == 200


def test_a_token_with_most_of_its_life_left_is_not_reissued(
    acme: int, app: Flask, client: FlaskClient, database: Database
) -> None:
    client.set_cookie(COOKIE, issued_at(app, database, PRIMARY, utcnow()))
    response = client.get("/settings/billing", headers=HTML)
    assert response.status_code == 200
    assert set_cookie_of(response, COOKIE) is None


def test_renewal_stops_at_the_absolute_limit(
    acme: int, app: Flask, client: FlaskClient, database: Database
) -> None:
    """A session opened almost 12 hours ago is renewed only up to its 12th hour."""
    token = issued_at(app, database, PRIMARY, utcnow() - dt.timedelta(minutes=10))
    opened = utcnow() - dt.timedelta(hours=12) + dt.timedelta(minutes=7)
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    with database.unit_of_work() as session:
        session.execute(
            update(SignInSession).where(SignInSession.id == sid).values(created_at=opened)
        )
    client.set_cookie(COOKIE, token)
    renewed = set_cookie_of(client.get("/settings/billing", headers=HTML), COOKIE)
    assert renewed is not None
    limit = opened + dt.timedelta(hours=12)
    assert same_second(expiry_of(renewed[COOKIE].value), limit)
    assert int(renewed[COOKIE]["max-age"]) <= 7 * 60

    with database.unit_of_work() as session:  # past the limit: nothing more to renew
        session.execute(
            update(SignInSession)
            .where(SignInSession.id == sid)
            .values(created_at=opened - dt.timedelta(minutes=10))
        )
    client.set_cookie(COOKIE, token)
    assert set_cookie_of(client.get("/settings/billing", headers=HTML), COOKIE) is None


@pytest.fixture
def short_limit_app(database_url: str) -> Iterator[Flask]:
    flask_app = create_app(
        {
            "env": "test",
            "database": {"url": database_url},
            "sso": {"absolute_session_seconds": 3600},
        }
    )
    yield flask_app
    database_of(flask_app).dispose()


def test_the_absolute_limit_is_a_setting(
    acme: int, short_limit_app: Flask, database: Database
) -> None:
    client = short_limit_app.test_client()
    token = issued_at(short_limit_app, database, PRIMARY, utcnow() - dt.timedelta(minutes=10))
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    opened = utcnow() - dt.timedelta(minutes=50)  # the limit falls 10 minutes from now
    with database.unit_of_work() as session:
        session.execute(
            update(SignInSession).where(SignInSession.id == sid).values(created_at=opened)
        )
    client.set_cookie(COOKIE, token)
    renewed = set_cookie_of(client.get("/settings/billing", headers=HTML), COOKIE)
    assert renewed is not None
    assert same_second(expiry_of(renewed[COOKIE].value), opened + dt.timedelta(hours=1))


def test_an_ended_session_is_never_renewed(
    acme: int, app: Flask, client: FlaskClient, database: Database
) -> None:
    token = issued_at(app, database, PRIMARY, utcnow() - dt.timedelta(minutes=10))
    with database.unit_of_work() as session:
        sessions.end(session, session_row(database, token).id, sessions.EndReason.SIGNED_OUT)
    client.set_cookie(COOKIE, token)
    response = client.get("/settings/billing", headers=HTML)
    assert response.status_code == 303 and "/signin" in response.headers["Location"]
    assert set_cookie_of(response, COOKIE) is None
    assert same_second(session_row(database, token).expires_at, expiry_of(token))


def sign_out_form(response: TestResponse) -> tuple[str, dict[str, str]]:
    [form] = page(response).xpath("//form[@id='sign-out']")
    fields = {field.get("name"): field.get("value") for field in form.xpath(".//input")}
    assert form.get("method") == "post"
    return str(form.get("action")), fields


def test_the_pages_sign_out_button_ends_the_session(
    acme: int, app: Flask, client: FlaskClient, database: Database
) -> None:
    token = issued_at(app, database, PRIMARY, utcnow())
    client.set_cookie(COOKIE, token)
    action, fields = sign_out_form(client.get("/settings/billing", headers=HTML))
    assert action == "/sso/acme/logout" and fields["csrf_token"]
    signed_out = client.post(action, data=fields, headers=HTML)
    assert signed_out.status_code == 200
    assert "You are signed out" in signed_out.get_data(as_text=True)
    assert f"{COOKIE}=;" in signed_out.headers["Set-Cookie"]
    row = session_row(database, token)
    assert row.ended_at is not None and row.end_reason == "signed_out"
    client.set_cookie(COOKIE, token)
    assert client.get("/settings/billing", headers=HTML).status_code == 303


def test_signing_out_without_the_csrf_token_ends_nothing(
    acme: int, app: Flask, client: FlaskClient, database: Database
) -> None:
    """A cross-site form (or a plain link) cannot sign an owner out."""
    token = issued_at(app, database, PRIMARY, utcnow())
    client.set_cookie(COOKIE, token)
    client.get("/settings/billing", headers=HTML)  # the browser holds a CSRF session
    for forged in ({}, {"csrf_token": "forged"}):
        refused = client.post("/sso/acme/logout", data=forged, headers=HTML)
        assert refused.status_code == 400
    asked = client.get("/sso/acme/logout", headers=HTML)  # a link shows the form, ends nothing
    assert asked.status_code == 200
    action, fields = sign_out_form(asked)
    assert action == "/sso/acme/logout" and fields["csrf_token"]
    assert session_row(database, token).ended_at is None
    assert client.get("/settings/billing", headers=HTML).status_code == 200
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(SignInSession.ended_at)) is None
