"""Signing in through the door: seats, JIT, refusals, the session token and its revocation."""

from __future__ import annotations

import datetime as dt

import jwt
import lxml.html
import pytest
from flask import Flask
from sqlalchemy import delete, func, select, update

from app.db import Database
from app.ledger import seat_usage
from app.models import Member, SeatEvent
from app.organizations import get_organization
from sso.providers import PolicyChange
from tests.factories import add_users, make_org
from tests.sso.conftest import BASE_URL, Door, SetPolicy, configure_org, location_of, sp_metadata
from tests.sso.idp import TestIdentityProvider

ALICE = "alice@acme.example.com"
BOB = "bob@acme.example.com"
CAROL = "carol@acme.example.com"


def usage(database: Database, slug: str = "acme") -> tuple[int, int]:
    with database.unit_of_work(write=False) as session:
        current = seat_usage(session, get_organization(session, slug).id)
        return current.purchased, current.assigned


def member(database: Database, email: str) -> Member | None:
    with database.unit_of_work(write=False) as session:
        return session.scalar(select(Member).where(Member.email_normalized == email.casefold()))


def session_cookie(door: Door) -> str:
    cookie = door.client.get_cookie("seatgate_session", domain="localhost")
    assert cookie is not None
    return cookie.value


def test_new_user_signs_in_and_gets_a_seat_just_in_time(door: Door, database: Database) -> None:
    response = door.sign_in("Alice@ACME.example.com", next_url="/dashboard")
    assert response.status_code == 303
    assert location_of(response) == f"{BASE_URL}/dashboard"
    cookie = response.headers["Set-Cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/"):
        assert flag in cookie
    created = member(database, ALICE)
    assert created is not None and created.active
    assert usage(database) == (2, 1)


def test_signing_in_twice_never_takes_two_seats(door: Door, database: Database) -> None:
    assert door.sign_in(ALICE).status_code == 303
    assert door.sign_in(ALICE).status_code == 303
    assert usage(database) == (2, 1)


def test_no_free_seat_shows_why_and_records_the_refusal(door: Door, database: Database) -> None:
    assert door.sign_in(ALICE).status_code == 303
    assert door.sign_in(BOB).status_code == 303
    refused = door.sign_in(CAROL)
    assert refused.status_code == 403
    page = refused.get_data(as_text=True)
    assert "No seat available" in page
    assert "owners have been notified" in page
    assert "Seats in use: 2 of 2" in page
    assert "seatgate_session" not in refused.headers.get("Set-Cookie", "")
    assert member(database, CAROL) is None  # nothing of the refused request was written
    with database.unit_of_work(write=False) as session:
        [event] = session.scalars(select(SeatEvent).where(SeatEvent.kind == "refuse"))
    assert (event.subject, event.source) == (CAROL, "sso")
    assert usage(database) == (2, 2)


def test_member_with_a_seat_gets_in_without_jit(
    door: Door, database: Database, acme_policy: SetPolicy
) -> None:
    acme_policy(PolicyChange(jit_provisioning=False))
    refused = door.sign_in(ALICE)
    assert refused.status_code == 403 and "No access yet" in refused.get_data(as_text=True)
    add_users(database, "acme", [ALICE])
    assert door.sign_in(ALICE).status_code == 403  # a member, but seatless: JIT is off
    assert usage(database) == (2, 0)


def test_deactivated_member_is_refused_and_their_sessions_end(
    door: Door, database: Database
) -> None:
    assert door.sign_in(ALICE).status_code == 303
    token = session_cookie(door)
    assert door.client.get("/sso/session").status_code == 200
    with database.unit_of_work() as session:
        session.execute(update(Member).where(Member.email == ALICE).values(active=False))
    status = door.client.get("/sso/session", headers={"Authorization": f"Bearer {token}"})
    assert status.status_code == 401 and status.json == {
        "active": False,
        "error": "session ended: deactivated",
    }
    refused = door.sign_in(ALICE)
    assert refused.status_code == 403
    assert "Account deactivated" in refused.get_data(as_text=True)


def test_deleting_the_member_deletes_their_sessions(door: Door, database: Database) -> None:
    assert door.sign_in(ALICE).status_code == 303
    with database.unit_of_work() as session:
        session.execute(delete(Member).where(Member.email == ALICE))
    assert door.client.get("/sso/session").status_code == 401


@pytest.mark.parametrize(
    ("idp_name", "attributes"),
    [
        ("okta", {"email": [BOB], "firstName": ["Bob"], "lastName": ["Builder"]}),
        (
            "entra",
            {
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": [BOB],
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname": ["Bob"],
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname": ["Builder"],
            },
        ),
        ("google", {"email": [BOB], "givenName": ["Bob"], "surname": ["Builder"]}),
        (
            "ldap-oids",
            {
                "urn:oid:0.9.2342.19200300.100.1.3": [BOB],
                "urn:oid:2.5.4.42": ["Bob"],
                "urn:oid:2.5.4.4": ["Builder"],
            },
        ),
    ],
)
def test_default_attribute_names_of_common_idps(
    door: Door, database: Database, idp_name: str, attributes: dict[str, list[str]]
) -> None:
    # The NameID is an opaque id (as Entra's persistent ids are): the e-mail must come from
    # the attributes.
    response = door.sign_in(BOB, attributes=attributes, name_id=f"{idp_name}-opaque-id-123")
    assert response.status_code == 303, response.get_data(as_text=True)
    signed_in = member(database, BOB)
    assert signed_in is not None and signed_in.display_name == "Bob Builder"


def test_custom_attribute_mapping(door: Door, database: Database, acme_policy: SetPolicy) -> None:
    acme_policy(PolicyChange(attribute_map={"email": ["corpMail"]}))
    response = door.sign_in(BOB, attributes={"corpMail": [BOB]}, name_id="opaque-7")
    assert response.status_code == 303
    assert member(database, BOB) is not None


def test_missing_email_is_refused(door: Door) -> None:
    response = door.sign_in(BOB, attributes={"department": ["R&D"]}, name_id="opaque-id")
    assert response.status_code == 400
    assert "E-mail address missing" in response.get_data(as_text=True)


def test_token_verifies_with_the_published_jwks(door: Door, database: Database) -> None:
    """What the product behind the gateway does: verify with JWKS, pinned algorithm."""
    assert door.sign_in(ALICE).status_code == 303
    token = session_cookie(door)
    jwks = door.client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    key_set = jwt.PyJWKSet.from_dict(jwks.json)
    kid = jwt.get_unverified_header(token)["kid"]
    signing_key = next(key for key in key_set.keys if key.key_id == kid)
    claims = jwt.decode(
        token,
        signing_key,
        algorithms=["RS256"],
        audience="seatgate-product",
        issuer=BASE_URL,
    )
    alice = member(database, ALICE)
    assert alice is not None
    assert claims["sub"] == str(alice.id)
    assert (claims["email"], claims["org"], claims["role"]) == (ALICE, "acme", "user")
    assert claims["exp"] - claims["iat"] == 900
    assert claims["sid"]


def test_session_endpoint_refuses_forged_tokens(door: Door) -> None:
    assert door.sign_in(ALICE).status_code == 303
    token = session_cookie(door)
    claims = jwt.decode(token, options={"verify_signature": False})
    forged_none = jwt.encode(claims, key=None, algorithm="none")
    public_pem = door.client.get("/.well-known/jwks.json").json["keys"][0]["n"]
    forged_hs256 = jwt.encode(claims, public_pem, algorithm="HS256")
    header, payload, signature = token.split(".")
    tampered = ".".join([header, payload[:-4] + "AAAA", signature])
    door.client.delete_cookie("seatgate_session", domain="localhost")
    for forged in (forged_none, forged_hs256, tampered, "not-a-token"):
        response = door.client.get("/sso/session", headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401, forged


def test_logout_revokes_the_session(door: Door) -> None:
    assert door.sign_in(ALICE).status_code == 303
    token = session_cookie(door)
    form = lxml.html.fromstring(door.client.get("/sso/acme/logout").get_data(as_text=True))
    [csrf_token] = form.xpath("//form[@id='sign-out']//input[@name='csrf_token']/@value")
    response = door.client.post("/sso/acme/logout", data={"csrf_token": csrf_token})
    assert response.status_code == 303
    assert location_of(response).startswith("https://idp.example.test/saml/slo?SAMLRequest=")
    assert "seatgate_session=;" in response.headers["Set-Cookie"]
    status = door.client.get("/sso/session", headers={"Authorization": f"Bearer {token}"})
    assert status.status_code == 401


def test_logout_without_the_csrf_token_ends_nothing(door: Door) -> None:
    """Another site's form (or a plain link) cannot sign anyone out; seatgate's form can."""
    assert door.sign_in(ALICE).status_code == 303
    token = session_cookie(door)
    for forged in ({}, {"csrf_token": "forged"}):
        assert door.client.post("/sso/acme/logout", data=forged).status_code == 400
    asked = door.client.get("/sso/acme/logout")
    assert asked.status_code == 200 and 'id="sign-out"' in asked.get_data(as_text=True)
    status = door.client.get("/sso/session", headers={"Authorization": f"Bearer {token}"})
    assert status.status_code == 200


def test_the_products_server_signs_out_with_the_bearer_token(door: Door) -> None:
    """No browser sends an Authorization header to another site by itself: no CSRF token."""
    assert door.sign_in(ALICE).status_code == 303
    token = session_cookie(door)
    door.client.delete_cookie("seatgate_session", domain="localhost")
    bearer = {"Authorization": f"Bearer {token}"}
    assert door.client.post("/sso/acme/logout", headers=bearer).status_code == 303
    status = door.client.get("/sso/session", headers=bearer)
    assert status.status_code == 401 and status.json["error"] == "session ended: signed_out"


def test_key_rotation_keeps_old_tokens_valid(door: Door, runner) -> None:  # type: ignore[no-untyped-def]
    assert door.sign_in(ALICE).status_code == 303
    old_token = session_cookie(door)
    rotated = runner.invoke(args=["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    kids = {key["kid"] for key in door.client.get("/.well-known/jwks.json").json["keys"]}
    assert len(kids) == 2 and jwt.get_unverified_header(old_token)["kid"] in kids
    status = door.client.get("/sso/session", headers={"Authorization": f"Bearer {old_token}"})
    assert status.status_code == 200
    assert door.sign_in(ALICE).status_code == 303
    new_kid = jwt.get_unverified_header(session_cookie(door))["kid"]
    assert new_kid in kids and new_kid != jwt.get_unverified_header(old_token)["kid"]


def test_metadata_is_built_from_base_url_not_host(door: Door) -> None:
    response = door.client.get("/sso/acme/metadata", headers={"Host": "evil.example"})
    assert response.status_code == 200
    assert response.mimetype == "application/samlmetadata+xml"
    body = response.get_data(as_text=True)
    assert f'entityID="{BASE_URL}/sso/acme/metadata"' in body
    assert f'Location="{BASE_URL}/sso/acme/acs"' in body
    assert "evil.example" not in body


def test_unknown_organization_gets_a_404_page(door: Door, database: Database) -> None:
    for path in ("/sso/nobody/metadata", "/sso/nobody/login"):
        response = door.client.get(path)
        assert response.status_code == 404
        assert "Single sign-on is not set up" in response.get_data(as_text=True)
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 1


def test_idp_initiated_single_logout_ends_the_session(door: Door) -> None:
    assert door.sign_in(ALICE).status_code == 303
    token = session_cookie(door)
    other = door.sign_in(BOB)
    assert other.status_code == 303
    bob_token = session_cookie(door)
    url = door.idp.logout_request_url(
        sls_url=f"{BASE_URL}/sso/acme/sls",
        sp_entity_id=f"{BASE_URL}/sso/acme/metadata",
        name_id=ALICE,
    )
    response = door.client.get(url.removeprefix(BASE_URL))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert location_of(response).startswith("https://idp.example.test/saml/slo?SAMLResponse=")
    for bearer, expected in ((token, 401), (bob_token, 200)):
        status = door.client.get("/sso/session", headers={"Authorization": f"Bearer {bearer}"})
        assert status.status_code == expected


def test_unsigned_or_forged_logout_requests_are_refused(door: Door, idp_keys: dict) -> None:
    assert door.sign_in(ALICE).status_code == 303
    token = session_cookie(door)
    for idp, sign in ((door.idp, False), (door.idp.signed_by(idp_keys["rogue"]), True)):
        url = idp.logout_request_url(
            sls_url=f"{BASE_URL}/sso/acme/sls",
            sp_entity_id=f"{BASE_URL}/sso/acme/metadata",
            name_id=ALICE,
            sign=sign,
        )
        response = door.client.get(url.removeprefix(BASE_URL))
        assert response.status_code == 403
    status = door.client.get("/sso/session", headers={"Authorization": f"Bearer {token}"})
    assert status.status_code == 200


def test_ended_contract_refuses_sign_in_and_records_it(
    app: Flask,
    client,
    database: Database,
    idp_keys: dict,  # type: ignore[no-untyped-def]
) -> None:
    make_org(database, "acme", seats=5, term_start=dt.date(2024, 1, 1), auto_renew=False)
    configure_org(database, app, "acme", [idp_keys["current"].certificate])
    door = Door(
        client=client,
        idp=TestIdentityProvider(idp_keys["current"], [sp_metadata(client, "acme")]),
        database=database,
        app=app,
    )
    refused = door.sign_in(ALICE)
    assert refused.status_code == 403
    page = refused.get_data(as_text=True)
    assert "contract has ended" in page and "owners have been notified" in page
    with database.unit_of_work(write=False) as session:
        [event] = session.scalars(select(SeatEvent).where(SeatEvent.kind == "refuse"))
    assert event.subject == ALICE


def test_oversized_attribute_values_do_not_break_the_door(door: Door, database: Database) -> None:
    response = door.sign_in(BOB, attributes={"email": [BOB], "displayName": ["B" * 5000]})
    assert response.status_code == 303
    signed_in = member(database, BOB)
    assert signed_in is not None and signed_in.display_name == "B" * 255
    too_long = "x" * 400 + "@acme.example.com"
    assert door.sign_in(too_long).status_code == 400


def test_an_owner_refused_a_seat_still_reaches_billing_but_not_the_product(
    door: Door, database: Database
) -> None:
    """A full organization must stay fixable: its Primary Owner can still go and add seats."""
    assert door.sign_in(ALICE).status_code == 303
    assert door.sign_in(BOB).status_code == 303
    response = door.sign_in("owner@acme.example.com")
    assert response.status_code == 303
    assert location_of(response).startswith("/settings/billing")
    billing = door.client.get("/settings/billing", headers={"Accept": "text/html"})
    assert billing.status_code == 200
    assert "You hold no seat" in billing.get_data(as_text=True)
    token = session_cookie(door)
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "seatgate-billing"
    product_view = door.client.get("/sso/session", headers={"Authorization": f"Bearer {token}"})
    assert product_view.status_code == 401  # the product never accepts a billing-only token
    with database.unit_of_work(write=False) as session:
        refusals = session.scalar(
            select(func.count()).select_from(SeatEvent).where(SeatEvent.kind == "refuse")
        )
    assert refusals == 1 and usage(database) == (2, 2)


def test_a_user_refused_a_seat_gets_no_billing_session(door: Door) -> None:
    add_users(door.database, "acme", [CAROL])
    assert door.sign_in(ALICE).status_code == 303
    assert door.sign_in(BOB).status_code == 303
    refused = door.sign_in(CAROL)
    assert refused.status_code == 403
    assert "seatgate_session" not in refused.headers.get("Set-Cookie", "")
