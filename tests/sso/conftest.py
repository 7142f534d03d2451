"""SSO fixtures: an app with an https public URL, organizations wired to a pysaml2 IdP.

The IdP signs in Python (:mod:`tests.sso.signing`), so these tests run on any machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app, database_of, settings_of
from app.db import Database
from app.organizations import get_organization
from sso.providers import IdpDescription, PolicyChange, configure
from tests.factories import OPERATOR, make_org
from tests.peers import LOOPBACK_RECEIVERS
from tests.sso.idp import (
    IDP_ENTITY_ID,
    IDP_SLO_URL,
    IDP_SSO_URL,
    KeyPair,
    TestIdentityProvider,
    encode,
    make_key_pair,
)

BASE_URL = "https://seatgate.test"


def sso_app(database_url: str, **database: Any) -> Iterator[Flask]:
    """The SSO tests' app on ``database_url`` (more database settings in ``database``)."""
    settings = {"url": database_url, **database}
    flask_app = create_app(
        {"env": "test", "database": settings, "base_url": BASE_URL, **LOOPBACK_RECEIVERS}
    )
    yield flask_app
    database_of(flask_app).dispose()


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from sso_app(database_url)


@pytest.fixture(scope="session")
def idp_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    """The IdP's current key, its next key (rotation), and a key nobody pinned."""
    directory = tmp_path_factory.mktemp("idp-keys")
    return {name: make_key_pair(directory, name) for name in ("current", "next", "rogue")}


def configure_org(
    database: Database,
    app: Flask,
    slug: str,
    certificates: list[str],
    change: PolicyChange | None = None,
) -> None:
    with database.unit_of_work() as session:
        configure(
            session,
            get_organization(session, slug),
            description=IdpDescription(
                entity_id=IDP_ENTITY_ID,
                sso_url=IDP_SSO_URL,
                slo_url=IDP_SLO_URL,
                certificates=certificates,
            ),
            change=change or PolicyChange(),
            secret_key=settings_of(app).secret_key,
            actor=OPERATOR,
        )


@dataclass
class Door:
    """A browser going through seatgate's door, with the IdP answering its requests."""

    client: FlaskClient
    idp: TestIdentityProvider
    database: Database
    app: Flask

    def start(self, slug: str = "acme", next_url: str | None = None) -> tuple[str, str, str]:
        query = {"next": next_url} if next_url is not None else {}
        redirect = self.client.get(f"/sso/{slug}/login", query_string=query)
        assert redirect.status_code == 302, redirect.get_data(as_text=True)
        location = redirect.headers["Location"]
        assert location.startswith(IDP_SSO_URL + "?")
        return self.idp.read_request(location)

    def answer(
        self,
        email: str,
        *,
        slug: str = "acme",
        next_url: str | None = None,
        idp: TestIdentityProvider | None = None,
        **options: object,
    ) -> tuple[str, str]:
        """Start a sign-in and let the IdP answer it: (response XML, RelayState)."""
        request_id, acs_url, relay_state = self.start(slug, next_url)
        assert acs_url == f"{BASE_URL}/sso/{slug}/acs"
        xml = (idp or self.idp).response_xml(
            email=email,
            acs_url=acs_url,
            sp_entity_id=f"{BASE_URL}/sso/{slug}/metadata",
            in_response_to=request_id,
            **options,  # type: ignore[arg-type]
        )
        return xml, relay_state

    def post(self, xml: str | bytes, *, slug: str = "acme", relay_state: str = "") -> TestResponse:
        return self.client.post(
            f"/sso/{slug}/acs", data={"SAMLResponse": encode(xml), "RelayState": relay_state}
        )

    def sign_in(self, email: str, *, slug: str = "acme", **options: object) -> TestResponse:
        xml, relay_state = self.answer(email, slug=slug, **options)  # type: ignore[arg-type]
        return self.post(xml, slug=slug, relay_state=relay_state)

    def unsolicited(self, email: str, *, slug: str = "acme", **options: object) -> str:
        return self.idp.response_xml(
            email=email,
            acs_url=f"{BASE_URL}/sso/{slug}/acs",
            sp_entity_id=f"{BASE_URL}/sso/{slug}/metadata",
            in_response_to=None,
            **options,  # type: ignore[arg-type]
        )


def sp_metadata(client: FlaskClient, slug: str) -> str:
    response = client.get(f"/sso/{slug}/metadata")
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.fixture
def acme(database: Database, app: Flask, idp_keys: dict[str, KeyPair]) -> str:
    """Organization ``acme`` with 2 seats and its IdP pinned to the current key."""
    make_org(database, "acme", seats=2)
    configure_org(database, app, "acme", [idp_keys["current"].certificate])
    return "acme"


SetPolicy = Callable[[PolicyChange], None]


@pytest.fixture
def acme_policy(database: Database, app: Flask, idp_keys: dict[str, KeyPair]) -> SetPolicy:
    """Reconfigure acme's IdP (its current signing certificate) with one policy change."""

    def change(policy: PolicyChange) -> None:
        configure_org(database, app, "acme", [idp_keys["current"].certificate], policy)

    return change


@pytest.fixture
def door(
    app: Flask, client: FlaskClient, database: Database, acme: str, idp_keys: dict[str, KeyPair]
) -> Door:
    idp = TestIdentityProvider(idp_keys["current"], [sp_metadata(client, acme)])
    return Door(client=client, idp=idp, database=database, app=app)


def location_of(response: TestResponse) -> str:
    return response.headers.get("Location", "")
