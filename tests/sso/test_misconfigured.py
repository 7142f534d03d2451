"""An IdP configuration python3-saml refuses is never saved; one saved before seatgate checked
(or unusable since) gets a refusal page and an owner alert, never a 500.

Issue 19 reproduced: an SSO URL without a dot in its host (``https://adfs/adfs/ls``, a
Windows ADFS server's short name) was saved by ``sso configure`` and by the setup page, and
from then on the organization's login, metadata and ACS all answered 500.
"""

from __future__ import annotations

import datetime as dt

import lxml.html
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, update

from app.alerts import triggers
from app.alerts.messages import render
from app.db import Database
from app.models import Alert, IdentityProvider, SignInLog
from app.organizations import get_organization
from sso.providers import find_provider
from tests.factories import make_org
from tests.sso.conftest import BASE_URL
from tests.sso.idp import IDP_SSO_URL, KeyPair, TestIdentityProvider, encode
from tests.sso.test_setup import csrf, new_link, text

REFUSED_BY_PYTHON3_SAML = "https://adfs/adfs/ls"
MISCONFIGURED = "sso_misconfigured"


def provider_urls(database: Database, slug: str = "acme") -> tuple[str, str | None] | None:
    with database.unit_of_work(write=False) as session:
        provider = find_provider(session, get_organization(session, slug))
        return None if provider is None else (provider.sso_url, provider.slo_url)


def alerts_of(database: Database, kind: str = MISCONFIGURED) -> list[Alert]:
    with database.unit_of_work(write=False) as session:
        return list(session.scalars(select(Alert).where(Alert.kind == kind).order_by(Alert.id)))


def test_sso_configure_refuses_urls_python3_saml_refuses_and_keeps_what_worked(
    runner: FlaskCliRunner, database: Database, acme: str, idp_keys: dict[str, KeyPair]
) -> None:
    make_org(database, "beta")
    before = provider_urls(database)
    cert = str(idp_keys["current"].cert_file)
    attempts = [
        ("beta", "--sso-url", REFUSED_BY_PYTHON3_SAML, "SSO URL"),
        ("acme", "--sso-url", REFUSED_BY_PYTHON3_SAML, "SSO URL"),
        ("acme", "--slo-url", "https://adfs/adfs/ls/?wa=wsignout1.0", "SLO URL"),
    ]
    for slug, option, url, named in attempts:
        args = ["sso", "configure", slug, "--entity-id", "https://adfs.example.com/adfs"]
        args += ["--sso-url", IDP_SSO_URL, "--cert", cert, option, url]
        result = runner.invoke(args=args)
        assert result.exit_code == 1, result.output
        assert f"The IdP {named} {url!r}" in result.output
    assert provider_urls(database, "beta") is None
    assert provider_urls(database) == before


def test_the_setup_page_refuses_such_metadata_naming_the_url_and_keeping_the_paste(
    app: Flask, client: FlaskClient, database: Database, idp_keys: dict[str, KeyPair]
) -> None:
    make_org(database, "beta", seats=2)
    path = new_link(app, "beta")
    page = client.get(path)
    metadata = TestIdentityProvider(idp_keys["current"], []).metadata_xml()
    metadata = metadata.replace(IDP_SSO_URL, REFUSED_BY_PYTHON3_SAML)
    refused = client.post(f"{path}/idp", data={"csrf_token": csrf(page), "metadata_xml": metadata})
    assert refused.status_code == 400
    assert f"The IdP SSO URL {REFUSED_BY_PYTHON3_SAML!r}" in text(refused, "setup-error")
    [kept] = lxml.html.fromstring(refused.get_data(as_text=True)).xpath(
        "//textarea[@name='metadata_xml']/text()"
    )
    assert kept.strip() == metadata.strip()
    assert provider_urls(database, "beta") is None


def test_a_stored_configuration_python3_saml_refuses_gets_a_refusal_page_and_one_alert(
    client: FlaskClient, database: Database, acme: str
) -> None:
    """As saved before seatgate checked: every endpoint refuses and the owners are told,
    once per window however many people try."""
    with database.unit_of_work() as session:
        session.execute(update(IdentityProvider).values(sso_url=REFUSED_BY_PYTHON3_SAML))
    answers = [
        client.get("/sso/acme/login"),
        client.get("/sso/acme/metadata"),
        client.post("/sso/acme/acs", data={"SAMLResponse": encode("<x/>"), "RelayState": ""}),
        client.get("/sso/acme/login"),
    ]
    for answer in answers:
        assert answer.status_code == 403, answer.get_data(as_text=True)[:300]
        body = " ".join(answer.get_data(as_text=True).split())
        assert "Single sign-on is misconfigured" in body
        assert "your owners have been told" in body
    [alert] = alerts_of(database)
    assert REFUSED_BY_PYTHON3_SAML in alert.details["reason"]
    message = render(alert, "Acme", BASE_URL)
    assert message.subject == "[Acme] Single sign-on is misconfigured"
    assert "Nobody can sign in" in message.text
    with database.unit_of_work(write=False) as session:
        logged = session.scalar(select(SignInLog).order_by(SignInLog.id.desc()))
        assert logged is not None and logged.outcome == "refused"
        assert logged.steps[-1]["step"] == "configuration"
        assert logged.steps[-1]["result"] == "failed"


def test_the_misconfiguration_alert_repeats_once_a_day_while_it_lasts(
    database: Database, acme: str
) -> None:
    with database.unit_of_work(write=False) as session:
        organization_id = get_organization(session, acme).id
    start = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
    for hours in (0, 1, 14, 24, 25, 49):
        with database.unit_of_work() as session:
            triggers.sso_misconfigured(
                session,
                organization_id,
                reason="python3-saml refuses the IdP SSO URL",
                now=start + dt.timedelta(hours=hours),
            )
    assert [a.created_at for a in alerts_of(database)] == [
        start,
        start + dt.timedelta(hours=24),
        start + dt.timedelta(hours=49),
    ]
