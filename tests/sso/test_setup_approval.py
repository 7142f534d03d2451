"""Owners decide what comes through a setup link: the billing page shows the pending IdP
configuration and SCIM tokens, approves or rejects them, lists and revokes setup links; the
CLI lists and revokes links; every IdP change alerts the owners (``sso_changed``).

Real signed SAML responses (pysaml2) throughout: a configuration counts as "in use" when a
response signed with its key signs someone in.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from app import scim_tokens, settings_of, setup_links
from app.alerts.delivery import Deliverer
from app.crypto import certificate_summary
from app.db import Database
from app.models import Alert, AlertKind, IdpSubmission, Role
from app.settings import SmtpSettings
from tests.app.alerts.peers import SmtpServer, start_receiver
from tests.app.conftest import session_token
from tests.factories import add_users, make_org
from tests.sso.conftest import BASE_URL, Door
from tests.sso.idp import IDP_ENTITY_ID, IDP_SSO_URL, KeyPair, TestIdentityProvider, encode
from tests.sso.test_setup import csrf, new_link, text

PRIMARY = "owner@acme.example.com"
HTML = {"Accept": "text/html"}


def owner_door(app: Flask, door: Door, email: str = PRIMARY) -> Door:
    """A second browser: an owner signed in through the IdP in use."""
    owner = Door(client=app.test_client(), idp=door.idp, database=door.database, app=app)
    assert owner.sign_in(email).status_code == 303
    return owner


def billing(client: FlaskClient) -> TestResponse:
    page = client.get("/settings/billing", headers=HTML)
    assert page.status_code == 200, page.get_data(as_text=True)
    return page


def submit(door: Door, path: str, idp: TestIdentityProvider) -> None:
    page = door.client.get(path)
    saved = door.client.post(
        f"{path}/idp", data={"csrf_token": csrf(page), "metadata_xml": idp.metadata_xml()}
    )
    assert saved.status_code == 200, saved.get_data(as_text=True)


def decide(client: FlaskClient, action: str, page: TestResponse) -> TestResponse:
    """Press a button of the billing page (its form's action ends with ``action``)."""
    tree = lxml.html.fromstring(page.get_data(as_text=True))
    [form] = [f for f in tree.xpath("//form") if f.get("action", "").endswith(action)]
    response = client.post(form.get("action"), data={"csrf_token": csrf(page)}, headers=HTML)
    assert response.status_code == 303
    return response


def sso_changes(database: Database) -> list[tuple[str, str]]:
    with database.unit_of_work(write=False) as session:
        return [
            (a.details["change"], a.details["by"])
            for a in session.scalars(
                select(Alert).where(Alert.kind == AlertKind.SSO_CHANGED.value).order_by(Alert.id)
            )
        ]


def link_id(database: Database, path: str) -> int:
    with database.unit_of_work(write=False) as session:
        return setup_links.open_link(session, path.removeprefix("/setup/")).id


def test_owners_approve_the_configuration_they_were_shown(
    app: Flask, door: Door, database: Database, idp_keys: dict[str, KeyPair]
) -> None:
    owner = owner_door(app, door)
    path = new_link(app)
    rotated = door.idp.signed_by(idp_keys["next"])
    submit(door, path, rotated)

    page = billing(owner.client)
    assert "waiting for your approval" in text(page, "approval-notice")
    shown = text(page, "pending-idp")
    summary = certificate_summary(idp_keys["next"].certificate)
    for detail in (
        "https://idp.example.test/saml/metadata",
        "https://idp.example.test/saml/sso",
        summary["sha256"],
        summary["not_valid_after"][:10],
        f"through setup link {link_id(database, path)}, created by operator:",
    ):
        assert detail in shown, detail
    assert re.search(r"Submitted \d{4}-\d\d-\d\d \d\d:\d\d UTC", shown)

    # Pending: the organization's IdP still signs people in, the submitted one does not.
    assert door.sign_in("alex@acme.example.com", idp=rotated).status_code == 403
    assert door.sign_in("alex@acme.example.com").status_code == 303

    decide(owner.client, "/approve", page)
    assert "Approved" in billing(owner.client).get_data(as_text=True)
    assert door.sign_in("alex@acme.example.com", idp=rotated).status_code == 303
    assert door.sign_in("alex@acme.example.com").status_code == 403  # the old key is gone
    assert [change for change, _ in sso_changes(database)] == [
        "configured",  # the fixture's `sso configure`
        "submitted",
        "approved",
    ]
    assert sso_changes(database)[1][1].startswith("setup-link:")
    assert sso_changes(database)[2][1] == PRIMARY


def test_rejecting_keeps_the_idp_in_use(
    app: Flask, door: Door, database: Database, idp_keys: dict[str, KeyPair]
) -> None:
    owner = owner_door(app, door)
    rogue = door.idp.signed_by(idp_keys["rogue"])
    submit(door, new_link(app), rogue)
    decide(owner.client, "/reject", billing(owner.client))
    page = billing(owner.client)
    assert "Rejected" in page.get_data(as_text=True)
    assert "pending-idp" not in page.get_data(as_text=True)
    assert door.sign_in("alex@acme.example.com", idp=rogue).status_code == 403
    assert door.sign_in("alex@acme.example.com").status_code == 303
    assert sso_changes(database)[-1] == ("rejected", PRIMARY)


def test_a_replaced_submission_cannot_be_approved_unseen(
    app: Flask, door: Door, database: Database, idp_keys: dict[str, KeyPair]
) -> None:
    """The owner opened the page; the link holder then sent another configuration. The
    approval names what the owner saw, which is no longer pending: nothing changes."""
    owner = owner_door(app, door)
    path = new_link(app)
    submit(door, path, door.idp.signed_by(idp_keys["next"]))
    seen = billing(owner.client)
    rogue = door.idp.signed_by(idp_keys["rogue"])
    submit(door, path, rogue)

    decide(owner.client, "/approve", seen)
    page = billing(owner.client)
    assert "no longer waiting for approval" in page.get_data(as_text=True)
    assert certificate_summary(idp_keys["rogue"].certificate)["sha256"] in text(page, "pending-idp")
    assert door.sign_in("alex@acme.example.com", idp=rogue).status_code == 403
    assert door.sign_in("alex@acme.example.com").status_code == 303
    with database.unit_of_work(write=False) as session:
        statuses = list(session.scalars(select(IdpSubmission.status).order_by(IdpSubmission.id)))
    assert statuses == ["superseded", "pending"]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.USER])
def test_admins_and_users_cannot_decide(
    app: Flask, door: Door, database: Database, idp_keys: dict[str, KeyPair], role: Role
) -> None:
    owner = owner_door(app, door)
    path = new_link(app)
    submit(door, path, door.idp.signed_by(idp_keys["rogue"]))
    page = billing(owner.client)
    staff = f"{role.value}@acme.example.com"
    add_users(database, "acme", [staff], role)
    other = owner_door(app, door, staff)
    tree = lxml.html.fromstring(page.get_data(as_text=True))
    for action in tree.xpath("//form/@action"):
        if action.endswith(("/approve", "/reject", "/revoke")):
            token = csrf(other.client.get(path))  # a valid CSRF token of this browser
            refused = other.client.post(action, data={"csrf_token": token}, headers=HTML)
            assert refused.status_code == 404, action
    with database.unit_of_work(write=False) as session:  # nothing was decided
        assert list(session.scalars(select(IdpSubmission.status))) == ["pending"]
    assert door.client.get(path).status_code == 200  # nor revoked


def test_a_first_configuration_is_tested_then_approved(
    app: Flask, client: FlaskClient, database: Database, idp_keys: dict[str, KeyPair]
) -> None:
    """An organization without an IdP: the pending configuration has no SP key yet, its test
    sign-in still works, and approval creates the IdP (and its SP metadata)."""
    make_org(database, "beta", seats=2)
    path = new_link(app, "beta")
    idp = TestIdentityProvider(idp_keys["current"], [])
    page = client.get(path)
    client.post(f"{path}/idp", data={"csrf_token": csrf(page), "metadata_xml": idp.metadata_xml()})
    assert client.get("/sso/beta/metadata").status_code == 404
    assert client.get("/sso/beta/login").status_code == 404  # no IdP in use

    redirect = client.post(f"{path}/test", data={"csrf_token": csrf(client.get(path))})
    request_id, acs_url, relay_state = idp.read_request(redirect.headers["Location"])
    xml = idp.response_xml(
        email="it@beta.example.com",
        acs_url=acs_url,
        sp_entity_id=f"{BASE_URL}/sso/beta/metadata",
        in_response_to=request_id,
    )
    report = client.post(
        "/sso/beta/acs", data={"SAMLResponse": encode(xml), "RelayState": relay_state}
    )
    assert "would be let in" in text(report, "test-outcome")

    owner = app.test_client()
    owner.set_cookie(
        "seatgate_session", session_token(app, database, "owner@beta.example.com", "beta")
    )
    decide(owner, "/approve", billing(owner))
    metadata = client.get("/sso/beta/metadata")
    assert metadata.status_code == 200
    signed_in = Door(
        client=app.test_client(),
        idp=TestIdentityProvider(idp_keys["current"], [metadata.get_data(as_text=True)]),
        database=database,
        app=app,
    )
    assert signed_in.sign_in("it@beta.example.com", slug="beta").status_code == 303


def test_owners_approve_or_reject_a_setup_links_scim_token(
    app: Flask, door: Door, database: Database
) -> None:
    owner = owner_door(app, door)
    path = new_link(app)
    tokens = []
    for _ in range(2):
        issued = door.client.post(
            f"{path}/scim-token", data={"csrf_token": csrf(door.client.get(path))}
        )
        tokens.append(text(issued, "scim-token"))
    assert [scim_tokens.authenticate(database, t) for t in tokens] == [None, None]
    page = billing(owner.client)
    assert "Waiting for your approval: SCIM token" in page.get_data(as_text=True)
    actions = [
        a
        for a in lxml.html.fromstring(page.get_data(as_text=True)).xpath("//form/@action")
        if "/scim-tokens/" in a
    ]
    first_approve = next(a for a in actions if a.endswith("/approve"))
    second_reject = [a for a in actions if a.endswith("/reject")][1]
    for action in (first_approve, second_reject):
        done = owner.client.post(action, data={"csrf_token": csrf(page)}, headers=HTML)
        assert done.status_code == 303
    assert scim_tokens.authenticate(database, tokens[0]) is not None
    assert scim_tokens.authenticate(database, tokens[1]) is None
    listed = json.loads(app.test_cli_runner().invoke(args=["token", "list", "acme"]).output)
    assert [(t["awaiting_approval"], t["revoked_at"] is None) for t in listed] == [
        (False, True),  # approved, in use
        (False, False),  # rejected: revoked
    ]
    assert "SCIM token" not in text(billing(owner.client), "setup-heading").split("Setup links")[0]
    assert [c for c, _ in sso_changes(database)][-4:] == [
        "scim_token_submitted",
        "scim_token_submitted",
        "scim_token_approved",
        "scim_token_rejected",
    ]


def test_owners_list_and_revoke_setup_links_on_the_billing_page(
    app: Flask, door: Door, database: Database, idp_keys: dict[str, KeyPair]
) -> None:
    owner = owner_door(app, door)
    path = new_link(app)
    submit(door, path, door.idp.signed_by(idp_keys["rogue"]))
    issued = door.client.post(
        f"{path}/scim-token", data={"csrf_token": csrf(door.client.get(path))}
    )
    token = text(issued, "scim-token")
    page = billing(owner.client)
    rows = lxml.html.fromstring(page.get_data(as_text=True)).xpath(
        "//table[@id='setup-links']/tbody/tr"
    )
    assert [" ".join(td.text_content().split()) for td in rows[0].xpath("td")][1] == "Active Revoke"

    revoked = decide(owner.client, "/revoke", page)
    assert revoked.headers["Location"].endswith("/settings/billing#setup-heading")
    assert door.client.get(path).status_code == 404  # a revoked link answers "not found"
    page = billing(owner.client)
    assert f"Revoked by {PRIMARY}" in text(page, "setup-links")
    assert "pending-idp" not in page.get_data(as_text=True)  # withdrawn with the link
    assert scim_tokens.authenticate(database, token) is None
    assert [c for c, _ in sso_changes(database)][-2:] == ["rejected", "scim_token_rejected"]


def test_the_cli_lists_and_revokes_setup_links(
    app: Flask, door: Door, database: Database, idp_keys: dict[str, KeyPair]
) -> None:
    runner = app.test_cli_runner()
    finished = new_link(app)
    door.client.post(f"{finished}/finish", data={"csrf_token": csrf(door.client.get(finished))})
    created = runner.invoke(args=["setup-link", "create", "acme", "--hours", "2"])
    assert created.exit_code == 0, created.output
    link = json.loads(created.output)
    path = link["url"].removeprefix(BASE_URL)
    submit(door, path, door.idp.signed_by(idp_keys["rogue"]))

    listed = json.loads(runner.invoke(args=["setup-link", "list", "acme"]).output)
    assert listed["organization"] == "acme"
    newest, oldest = listed["setup_links"]
    assert (newest["id"], newest["status"], oldest["status"]) == (link["id"], "active", "finished")
    assert newest["pending_idp_submission"] is not None
    assert newest["created_by"].startswith("operator:")

    result = runner.invoke(args=["setup-link", "revoke", "acme", str(link["id"])])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "revoked"
    assert door.client.get(path).status_code == 404
    listed = json.loads(runner.invoke(args=["setup-link", "list", "acme"]).output)
    assert listed["setup_links"][0]["pending_idp_submission"] is None

    missing = runner.invoke(args=["setup-link", "revoke", "acme", "999"])
    assert missing.exit_code == 1 and "No setup link 999" in missing.output
    make_org(database, "other", seats=1)
    foreign = runner.invoke(args=["setup-link", "revoke", "other", str(link["id"])])
    assert foreign.exit_code == 1  # one organization never revokes another's link


def test_every_idp_change_alerts_the_owners_at_once_by_email_and_webhook(
    app: Flask,
    door: Door,
    database: Database,
    idp_keys: dict[str, KeyPair],
    tmp_path: Path,
) -> None:
    """A certificate added with ``seatgate sso configure``: the owners hear of it in the next
    delivery pass (no digest window), by e-mail and webhook, with who did it and what changed."""
    smtp = SmtpServer()
    smtp.start()
    receiver, thread = start_receiver()
    try:
        runner = app.test_cli_runner()
        added = runner.invoke(args=["webhook", "add", "acme", receiver.url()])
        assert added.exit_code == 0, added.output
        described = ["--entity-id", IDP_ENTITY_ID, "--sso-url", IDP_SSO_URL]
        for name in ("current", "next"):
            described += ["--cert", str(idp_keys[name].cert_file)]
        configured = runner.invoke(args=["sso", "configure", "acme", *described])
        assert configured.exit_code == 0, configured.output
        settings = dataclasses.replace(
            settings_of(app), smtp=SmtpSettings(url=smtp.url, from_address="s <s@seatgate.test>")
        )
        Deliverer(database, settings).run_pass()
    finally:
        smtp.stop()
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join(timeout=5)

    subject = "[Acme] Identity provider configuration changed"
    [mail] = [m for m in smtp.to(PRIMARY) if m["Subject"] == subject][-1:]
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    words = " ".join(body.get_content().split())
    added_sha = certificate_summary(idp_keys["next"].certificate)["sha256"]
    assert "by the operator (operator:" in words and "on the command line" in words
    assert f"Certificates added: {added_sha}." in words
    assert "Certificates removed: none." in words
    [call] = [c for c in receiver.calls if c.json["type"] == "sso_changed"][-1:]
    assert call.json["details"]["change"] == "configured"
    assert call.json["details"]["by"].startswith("operator:")
    with database.unit_of_work(write=False) as session:
        alerts = session.scalars(select(Alert).where(Alert.kind == "sso_changed")).all()
    assert all(alert.deliverable_at == alert.created_at for alert in alerts)  # never digested
