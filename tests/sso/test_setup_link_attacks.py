"""What a setup-link holder must never be able to do (issue 19, item 1; DESIGN I10).

The holder is an outside helper: they may configure the organization's SSO and SCIM, pending
an owner's approval, but never sign in as anyone or make anyone an owner. Each test plays the
attack with real signed SAML responses (pysaml2) and real SCIM requests.
"""

from __future__ import annotations

import uuid

from flask import Flask
from sqlalchemy import func, select

from app.crypto import normalize_certificate
from app.db import Database
from app.idp_changes import MAX_SUBMISSIONS_PER_LINK
from app.models import Alert, IdpSubmission, Member, Role
from app.organizations import get_organization
from app.scim_tokens import MAX_TOKENS_PER_SETUP_LINK
from sso.providers import find_provider
from tests.sso.conftest import BASE_URL, Door
from tests.sso.idp import KeyPair, TestIdentityProvider
from tests.sso.test_setup import csrf, new_link, text

PRIMARY_OWNER = "owner@acme.example.com"
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def upload_metadata(door: Door, path: str, idp: TestIdentityProvider) -> str:
    """The link holder submits their own IdP's metadata; returns the setup page's text."""
    page = door.client.get(path)
    saved = door.client.post(
        f"{path}/idp", data={"csrf_token": csrf(page), "metadata_xml": idp.metadata_xml()}
    )
    assert saved.status_code == 200, saved.get_data(as_text=True)
    return saved.get_data(as_text=True)


def test_a_setup_link_cannot_swap_the_idp_and_buy_as_the_primary_owner(
    app: Flask, door: Door, database: Database, idp_keys: dict[str, KeyPair]
) -> None:
    """The issue's attack: attacker metadata through the link, then a response from the
    attacker's IdP naming the Primary Owner. No session, no purchase; the organization's own
    IdP keeps working."""
    attacker = door.idp.signed_by(idp_keys["rogue"])
    upload_metadata(door, new_link(app), attacker)

    answered = door.sign_in(PRIMARY_OWNER, idp=attacker)
    cookie = door.client.get_cookie("seatgate_session", domain="localhost")
    token = cookie.value if cookie is not None else "none"
    bought = door.client.post(
        "/api/v1/orgs/acme/seats/purchase",
        json={"quantity": 5},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "attack"},
    )
    assert (answered.status_code, bought.status_code) == (403, 401)  # main: (303, 201)
    assert "seatgate_session" not in answered.headers.get("Set-Cookie", "")

    with database.unit_of_work(write=False) as session:
        provider = find_provider(session, get_organization(session, "acme"))
        assert provider is not None
        assert provider.certificates == [normalize_certificate(idp_keys["current"].certificate)]
    assert door.sign_in(PRIMARY_OWNER).status_code == 303  # the real IdP still signs people in


def test_the_test_sign_in_with_a_pending_idp_admits_nobody(
    app: Flask, door: Door, database: Database, idp_keys: dict[str, KeyPair]
) -> None:
    """The pending configuration serves the setup page's test sign-in only: the report says
    the Primary Owner would be let in, and nobody is."""
    attacker = door.idp.signed_by(idp_keys["rogue"])
    path = new_link(app)
    upload_metadata(door, path, attacker)
    page = door.client.get(path)
    redirect = door.client.post(f"{path}/test", data={"csrf_token": csrf(page)})
    assert redirect.status_code == 302
    request_id, acs_url, relay_state = attacker.read_request(redirect.headers["Location"])
    xml = attacker.response_xml(
        email=PRIMARY_OWNER,
        acs_url=acs_url,
        sp_entity_id=f"{BASE_URL}/sso/acme/metadata",
        in_response_to=request_id,
    )
    report = door.post(xml, relay_state=relay_state)
    assert report.status_code == 200
    assert "would be let in" in text(report, "test-outcome")
    assert "seatgate_session" not in report.headers.get("Set-Cookie", "")
    assert door.client.get_cookie("seatgate_session", domain="localhost") is None
    assert door.post(xml, relay_state=relay_state).status_code == 403  # spent, like any answer


def scim(door: Door, method: str, path: str, token: str, body: object | None = None):  # type: ignore[no-untyped-def]
    return door.client.open(
        f"/scim/v2{path}",
        method=method,
        json=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
    )


def test_a_setup_links_scim_token_cannot_take_over_an_owner_before_approval(
    app: Flask, door: Door, database: Database
) -> None:
    """With the SCIM token a link issues, the holder would adopt the Primary Owner (a member
    the IdP never provisioned) and move their address to one the holder reads; every owner
    alert and e-mail sign-in link would then go to the holder. Until an owner approves the
    token, it is refused."""
    path = new_link(app)
    page = door.client.get(path)
    issued = door.client.post(f"{path}/scim-token", data={"csrf_token": csrf(page)})
    token = text(issued, "scim-token")

    adopted = scim(
        door,
        "POST",
        "/Users",
        token,
        {"schemas": [SCIM_USER], "userName": PRIMARY_OWNER, "active": True},
    )
    assert adopted.status_code == 401
    if adopted.status_code == 201:  # what main did: now move the address
        scim(
            door,
            "PUT",
            f"/Users/{adopted.get_json()['id']}",
            token,
            {
                "schemas": [SCIM_USER],
                "userName": f"{uuid.uuid4().hex}@attacker.example",
                "emails": [{"value": "mallory@attacker.example", "primary": True}],
            },
        )
    with database.unit_of_work(write=False) as session:
        owner = session.scalar(select(Member).where(Member.role == Role.PRIMARY_OWNER.value))
        assert owner is not None and owner.email == PRIMARY_OWNER


def test_a_link_cannot_flood_the_owners_with_alerts(
    app: Flask, door: Door, database: Database, idp_keys: dict[str, KeyPair]
) -> None:
    """Each configuration and SCIM token sent through a link alerts every owner; a link may
    send a few (to fix mistakes), then it is refused with why, and nothing is written."""
    path = new_link(app)
    metadata = door.idp.signed_by(idp_keys["rogue"]).metadata_xml()
    for _ in range(MAX_SUBMISSIONS_PER_LINK):
        page = door.client.get(path)
        sent = door.client.post(
            f"{path}/idp", data={"csrf_token": csrf(page), "metadata_xml": metadata}
        )
        assert sent.status_code == 200
    for _ in range(MAX_TOKENS_PER_SETUP_LINK):
        issued = door.client.post(f"{path}/scim-token", data={"csrf_token": csrf(page)})
        assert issued.status_code == 200
    before = alert_count(database)
    refused = door.client.post(
        f"{path}/idp", data={"csrf_token": csrf(page), "metadata_xml": metadata}
    )
    assert refused.status_code == 400
    assert "ask an owner for a new link" in text(refused, "setup-error")
    refused = door.client.post(f"{path}/scim-token", data={"csrf_token": csrf(page)})
    assert refused.status_code == 400
    assert "ask an owner for a new link" in text(refused, "setup-error")
    assert alert_count(database) == before


def alert_count(database: Database) -> int:
    with database.unit_of_work(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(Alert)) or 0)


def test_a_pending_idps_answer_spends_nothing_but_its_own_test_request(
    app: Flask, door: Door, database: Database, idp_keys: dict[str, KeyPair]
) -> None:
    """The link holder's IdP answers a real sign-in (its InResponseTo names a real request)
    or nothing at all (IdP-initiated), and names the pending configuration in RelayState so
    that its signature is checked against it: refused, no session, the real request still
    usable by the organization's own IdP."""
    attacker = door.idp.signed_by(idp_keys["rogue"])
    upload_metadata(door, new_link(app), attacker)
    with database.unit_of_work(write=False) as session:
        submission_id = session.scalar(select(IdpSubmission.id))
    rehearsal = f"seatgate-rehearsal:{submission_id}"

    request_id, acs_url, _ = door.start()
    sp = f"{BASE_URL}/sso/acme/metadata"
    for in_response_to in (request_id, None):
        forged = attacker.response_xml(
            email=PRIMARY_OWNER, acs_url=acs_url, sp_entity_id=sp, in_response_to=in_response_to
        )
        refused = door.post(forged, relay_state=rehearsal)
        assert refused.status_code == 403, refused.get_data(as_text=True)
        assert "seatgate_session" not in refused.headers.get("Set-Cookie", "")
    real = door.idp.response_xml(
        email=PRIMARY_OWNER, acs_url=acs_url, sp_entity_id=sp, in_response_to=request_id
    )
    assert door.post(real).status_code == 303
