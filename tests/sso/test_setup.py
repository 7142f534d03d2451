"""Self-serve setup links, the test sign-in, sign-in connection logs and e-mail domains,
against the pysaml2 IdP of the SSO tests (real signed responses)."""

from __future__ import annotations

import datetime as dt
import json

import lxml.html
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app import domains, scim_tokens, setup_links
from app.db import Database
from app.models import AuditEntry, Member, SeatEvent, SetupLink, SignInLog
from app.organizations import get_organization
from sso.providers import find_provider
from tests.factories import OPERATOR, add_users, make_org, seat_members
from tests.sso.conftest import BASE_URL, Door
from tests.sso.idp import IDP_ENTITY_ID, TestIdentityProvider


def new_link(runner_app: Flask, slug: str = "acme") -> str:
    result = runner_app.test_cli_runner().invoke(args=["setup-link", slug])
    assert result.exit_code == 0, result.output
    url = json.loads(result.output)["url"]
    assert url.startswith(f"{BASE_URL}/setup/sgsetup_")
    return url.removeprefix(BASE_URL)


def csrf(response: TestResponse) -> str:
    page = lxml.html.fromstring(response.get_data(as_text=True))
    return str(page.xpath("//input[@name='csrf_token']/@value")[0])


def text(response: TestResponse, element_id: str) -> str:
    page = lxml.html.fromstring(response.get_data(as_text=True))
    return " ".join(page.get_element_by_id(element_id).text_content().split())


def steps_of(response: TestResponse) -> dict[str, tuple[str, str]]:
    """The test report's steps: name → (result, detail)."""
    page = lxml.html.fromstring(response.get_data(as_text=True))
    rows = page.get_element_by_id("test-steps").xpath(".//tbody/tr")
    cells = [[" ".join(td.text_content().split()) for td in row.xpath("td")] for row in rows]
    return {name: (result, detail) for name, result, detail in cells}


def counts(database: Database, slug: str = "acme") -> tuple[int, int, int]:
    """(members, seat events, assigned seats) of the organization."""
    with database.unit_of_work(write=False) as session:
        organization = get_organization(session, slug)
        members = session.scalar(
            select(func.count()).where(Member.organization_id == organization.id)
        )
        events = session.scalar(
            select(func.count()).where(SeatEvent.organization_id == organization.id)
        )
        seated = session.scalar(
            select(func.count())
            .select_from(Member)
            .where(Member.organization_id == organization.id, Member.seat.has())
        )
        return int(members or 0), int(events or 0), int(seated or 0)


def latest_sign_in(database: Database) -> SignInLog:
    with database.unit_of_work(write=False) as session:
        entry = session.scalar(select(SignInLog).order_by(SignInLog.id.desc()))
        assert entry is not None
        return entry


def test_it_admin_sets_up_alone_and_the_link_dies_after_finishing(
    app: Flask, client: FlaskClient, database: Database, idp_keys
) -> None:  # type: ignore[no-untyped-def]
    make_org(database, "beta", seats=2)
    path = new_link(app, "beta")
    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert text(page, "sp-details").count(f"{BASE_URL}/sso/beta/acs") == 1
    assert f"{BASE_URL}/sso/beta/metadata" in text(page, "sp-details")
    token = csrf(page)

    bad = client.post(f"{path}/idp", data={"csrf_token": token, "metadata_xml": "<nope/>"})
    assert bad.status_code == 400
    assert "no IDPSSODescriptor" in text(bad, "setup-error")
    with database.unit_of_work(write=False) as session:
        assert find_provider(session, get_organization(session, "beta")) is None

    idp = TestIdentityProvider(idp_keys["current"], [])
    saved = client.post(
        f"{path}/idp", data={"csrf_token": token, "metadata_xml": idp.metadata_xml()}
    )
    assert saved.status_code == 200, saved.get_data(as_text=True)
    assert IDP_ENTITY_ID in text(saved, "idp-pending")  # waiting for an owner's approval
    assert client.get("/sso/beta/metadata").status_code == 404  # not configured until then

    issued = client.post(f"{path}/scim-token", data={"csrf_token": token})
    secret = text(issued, "scim-token")
    assert scim_tokens.authenticate(database, secret) is None  # until an owner approves it

    done = client.post(f"{path}/finish", data={"csrf_token": token})
    assert "no longer works" in text(done, "setup-finished")
    assert client.get(path).status_code == 404
    assert client.post(f"{path}/scim-token", data={"csrf_token": token}).status_code == 404
    with database.unit_of_work(write=False) as session:
        actions = list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.actor.startswith("setup-link:"))
                .order_by(AuditEntry.id)
            )
        )
    assert actions == [
        "setup_link.open",
        "sso.submit",
        "setup_link.idp_metadata",
        "scim_token.create",
        "setup_link.scim_token",
        "setup_link.finish",
    ]


def test_expired_or_forged_links_show_not_found(
    app: Flask, client: FlaskClient, database: Database
) -> None:
    make_org(database, "beta", seats=2)
    path = new_link(app, "beta")
    with database.unit_of_work() as session:
        for link in session.scalars(select(SetupLink)):
            link.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert client.get(path).status_code == 404
    assert client.get(path[:-2] + "xx").status_code == 404
    assert client.get("/setup/anything").status_code == 404


def start_test_sign_in(door: Door, path: str) -> tuple[str, str, str]:
    page = door.client.get(path)
    redirect = door.client.post(f"{path}/test", data={"csrf_token": csrf(page)})
    assert redirect.status_code == 302
    assert "sgsetup_" not in redirect.headers["Location"]  # the link never reaches the IdP
    return door.idp.read_request(redirect.headers["Location"])


def test_test_sign_in_reports_each_step_and_admits_nobody(
    app: Flask, door: Door, database: Database
) -> None:
    path = new_link(app)
    before = counts(database)
    request_id, acs_url, relay_state = start_test_sign_in(door, path)
    xml = door.idp.response_xml(
        email="new.person@acme.example.com",
        acs_url=acs_url,
        sp_entity_id=f"{BASE_URL}/sso/acme/metadata",
        in_response_to=request_id,
    )
    report = door.post(xml, relay_state=relay_state)
    assert report.status_code == 200
    assert "would be let in" in text(report, "test-outcome")
    steps = steps_of(report)
    for step in ("signature", "audience", "destination", "replay", "domain", "seat"):
        assert steps[step][0] == "passed"
    assert steps["member"] == ("passed", "would be created at first sign-in")
    assert "seatgate_session" not in report.headers.get("Set-Cookie", "")
    assert counts(database) == before  # no member, no seat, no ledger event
    entry = latest_sign_in(database)
    assert (entry.test, entry.outcome, entry.subject) == (
        True,
        "test_passed",
        "new.person@acme.example.com",
    )
    # The answer was consumed: replaying it is refused like any other replay.
    assert door.post(xml, relay_state=relay_state).status_code == 403


def test_test_sign_in_without_a_free_seat_reports_the_seat_step_and_records_no_refusal(
    app: Flask, door: Door, database: Database
) -> None:
    seat_members(
        database, add_users(database, "acme", ["a@acme.example.com", "b@acme.example.com"])
    )
    path = new_link(app)
    before = counts(database)
    request_id, acs_url, relay_state = start_test_sign_in(door, path)
    xml = door.idp.response_xml(
        email="late@acme.example.com",
        acs_url=acs_url,
        sp_entity_id=f"{BASE_URL}/sso/acme/metadata",
        in_response_to=request_id,
    )
    report = door.post(xml, relay_state=relay_state)
    assert "would be refused" in text(report, "test-outcome")
    assert steps_of(report)["seat"] == ("failed", "no free seat (2 of 2 seats assigned)")
    assert counts(database) == before
    assert latest_sign_in(database).outcome == "test_refused"


def test_a_refused_sign_in_is_logged_with_the_failed_step_and_error_id(
    door: Door, database: Database, idp_keys
) -> None:  # type: ignore[no-untyped-def]
    rogue = door.idp.signed_by(idp_keys["rogue"])
    xml, relay_state = door.answer("x@acme.example.com", idp=rogue)
    refused = door.post(xml, relay_state=relay_state)
    assert refused.status_code == 403
    entry = latest_sign_in(database)
    assert entry.outcome == "refused" and entry.error_id
    assert entry.error_id in refused.get_data(as_text=True)
    assert entry.steps[-1]["step"] == "signature"
    assert entry.steps[-1]["result"] == "failed"

    ok = door.sign_in("x@acme.example.com")
    assert ok.status_code == 303
    entry = latest_sign_in(database)
    assert entry.outcome == "signed_in"
    assert [s["step"] for s in entry.steps][-4:] == ["email", "domain", "member", "seat"]
    assert all(s["result"] == "passed" for s in entry.steps)
    with database.unit_of_work(write=False) as session:  # one row per sign-in, never two
        assert session.scalar(select(func.count()).select_from(SignInLog)) == 2
    assert "<saml" not in json.dumps(entry.steps)
    metrics = door.client.get("/metrics").get_data(as_text=True)
    assert 'seatgate_saml_sign_ins_total{outcome="refused",reason="signature"} 1.0' in metrics
    assert 'seatgate_saml_sign_ins_total{outcome="signed_in",reason=""} 1.0' in metrics


def test_sign_ins_outside_the_organization_domains_are_refused_without_a_seat(
    door: Door, database: Database
) -> None:
    with database.unit_of_work() as session:
        domains.add_domain(
            session, get_organization(session, "acme"), "acme.example.com", actor=OPERATOR
        )
    before = counts(database)
    refused = door.sign_in("intruder@elsewhere.example.org")
    assert refused.status_code == 403
    assert "E-mail domain not allowed" in refused.get_data(as_text=True)
    assert counts(database) == before
    assert latest_sign_in(database).steps[-1]["step"] == "domain"
    assert door.sign_in("insider@acme.example.com").status_code == 303
    assert counts(database)[2] == before[2] + 1


def test_the_setup_link_button_is_for_owners(
    app: Flask, client: FlaskClient, database: Database, acme: str
) -> None:
    from tests.app.conftest import session_token

    add_users(database, "acme", ["boss@acme.example.com"])
    client.set_cookie("seatgate_session", session_token(app, database, "owner@acme.example.com"))
    billing = client.get("/settings/billing", headers={"Accept": "text/html"})
    created = client.post("/settings/billing/setup-link", data={"csrf_token": csrf(billing)})
    assert created.status_code == 200
    path = text(created, "setup-link").removeprefix(BASE_URL)
    assert client.get(path).status_code == 200
    with database.unit_of_work(write=False) as session:
        link = setup_links.open_link(session, path.removeprefix("/setup/"))
        assert link.created_by == "owner@acme.example.com"
