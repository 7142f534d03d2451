"""Signed-in browsers for the billing pages: a real gateway session cookie per member."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import sessions, settings_of
from app.db import Database
from app.ledger import claim_seat
from app.models import Role
from app.organizations import get_member, get_organization
from tests.factories import OPERATOR, add_users, make_org

PRIMARY = "owner@acme.example.com"
OWNER = "co-owner@acme.example.com"
ADMIN = "admin@acme.example.com"
USER = "user@acme.example.com"
HTML = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}
TODAY = dt.datetime.now(dt.UTC).date()
TERM_START = TODAY.replace(day=1)


@pytest.fixture
def acme(database: Database) -> int:
    """An organization whose term started this month, with one member of each role."""
    org_id = make_org(database, "acme", seats=10, term_start=TERM_START)
    add_users(database, "acme", [OWNER], Role.OWNER)
    add_users(database, "acme", [ADMIN], Role.ADMIN)
    add_users(database, "acme", [USER], Role.USER)
    return org_id


def session_token(app: Flask, database: Database, email: str, slug: str = "acme") -> str:
    """What SSO does at the door: a seat, then a signed session."""
    with database.unit_of_work() as session:
        organization = get_organization(session, slug)
        member = get_member(session, organization, email)
        claim_seat(session, member, actor=OPERATOR)
        issued = sessions.issue(
            session, settings_of(app), organization, member, name_id=email, session_index=None
        )
    return issued.token


@pytest.fixture
def sign_in(app: Flask, database: Database) -> Callable[[FlaskClient, str], FlaskClient]:
    def _sign_in(client: FlaskClient, email: str) -> FlaskClient:
        client.set_cookie(settings_of(app).sso.cookie_name, session_token(app, database, email))
        return client

    return _sign_in


def page(response) -> lxml.html.HtmlElement:  # type: ignore[no-untyped-def]
    return lxml.html.fromstring(response.get_data(as_text=True))


def text_of(response, element_id: str) -> str:  # type: ignore[no-untyped-def]
    found = page(response).get_element_by_id(element_id)
    return " ".join(found.text_content().split())


def csrf_from(response) -> str:  # type: ignore[no-untyped-def]
    [value] = page(response).xpath("//input[@name='csrf_token']/@value")[:1]
    return str(value)
