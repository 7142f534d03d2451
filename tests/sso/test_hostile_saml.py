"""Responses seatgate must refuse: each gets a 4xx refusal page, never a 500, never a session.

Valid responses come from pysaml2 and are then attacked the way an attacker holding one would:
replayed, re-targeted, tampered, re-wrapped, or sent to another organization.
"""

from __future__ import annotations

import copy
import re
import threading
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from sqlalchemy import func, select, update

from app import create_app, database_of
from app.db import Database
from app.models import AuthnRequestRecord, Member, SeatEvent
from app.models import RequiredSignature as Signed
from sso.providers import PolicyChange
from tests.factories import make_org
from tests.sso.conftest import BASE_URL, Door, SetPolicy, configure_org, location_of, sp_metadata
from tests.sso.idp import KeyPair, TestIdentityProvider, encode

ALICE = "alice@acme.example.com"
MALLORY = "mallory@acme.example.com"
NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
HOSTILE = sorted(p for p in (Path(__file__).parent / "hostile").iterdir() if p.suffix != ".md")


def assert_refused(response, status: int = 403, title: str | None = None) -> str:  # type: ignore[no-untyped-def]
    page = response.get_data(as_text=True)
    assert response.status_code == status, page
    assert "seatgate_session" not in response.headers.get("Set-Cookie", "")
    assert re.search(r"quote this reference: <code>[0-9a-f]{12}</code>", page)
    if title:
        assert title in page
    return page


def members(database: Database) -> set[str]:
    with database.unit_of_work(write=False) as session:
        return set(session.scalars(select(Member.email)))


def replace_subject(xml: str, old: str, new: str) -> str:
    assert old in xml
    return xml.replace(old, new)


# --- replay, request matching, unsolicited ------------------------------------------------


def test_replayed_response_is_refused(door: Door, database: Database) -> None:
    xml, relay_state = door.answer(ALICE)
    assert door.post(xml, relay_state=relay_state).status_code == 303
    assert_refused(door.post(xml, relay_state=relay_state), title="Sign-in could not be verified")


def test_replayed_idp_initiated_assertion_hits_the_replay_cache(
    door: Door, acme_policy: SetPolicy
) -> None:
    acme_policy(PolicyChange(allow_idp_initiated=True))
    xml = door.unsolicited(ALICE)
    assert door.post(xml).status_code == 303
    assert_refused(door.post(xml), title="Sign-in already used")


def test_refused_sign_in_cannot_be_replayed_after_seats_are_freed(door: Door) -> None:
    """The request id and assertion id are spent before the seat check, win or lose."""
    assert door.sign_in("a@acme.example.com").status_code == 303
    assert door.sign_in("b@acme.example.com").status_code == 303
    xml, relay_state = door.answer("c@acme.example.com")
    assert_refused(door.post(xml, relay_state=relay_state), title="No seat available")
    assert_refused(door.post(xml, relay_state=relay_state), title="could not be verified")


def test_a_sign_in_refused_at_the_door_still_spends_its_response(
    door: Door, acme_policy: SetPolicy
) -> None:
    """Refused for who they are rather than for a seat: the request id and the assertion id
    are spent all the same (a failure after the admission wrote something:
    ``test_admission_failures.py``)."""
    acme_policy(PolicyChange(jit_provisioning=False, allow_idp_initiated=True))
    xml, relay_state = door.answer(ALICE)
    assert_refused(door.post(xml, relay_state=relay_state), title="No access yet")
    assert_refused(door.post(xml, relay_state=relay_state), title="could not be verified")
    unsolicited = door.unsolicited(ALICE)
    assert_refused(door.post(unsolicited), title="No access yet")
    assert_refused(door.post(unsolicited), title="Sign-in already used")


def test_unknown_in_response_to_is_refused(door: Door) -> None:
    door.start()
    xml = door.idp.response_xml(
        email=ALICE,
        acs_url=f"{BASE_URL}/sso/acme/acs",
        sp_entity_id=f"{BASE_URL}/sso/acme/metadata",
        in_response_to="ONELOGIN_never_sent_by_seatgate",
    )
    assert_refused(door.post(xml), title="does not match a sign-in started here")


def test_expired_authn_request_is_refused(door: Door, database: Database) -> None:
    xml, relay_state = door.answer(ALICE)
    with database.unit_of_work() as session:
        session.execute(update(AuthnRequestRecord).values(expires_at=AuthnRequestRecord.created_at))
    assert_refused(door.post(xml, relay_state=relay_state))


def test_unsolicited_response_refused_unless_allowed(door: Door) -> None:
    assert_refused(door.post(door.unsolicited(ALICE)), title="Sign-in must start here")


def test_idp_initiated_relay_state_to_a_foreign_host_is_refused(
    door: Door, app: Flask, acme_policy: SetPolicy
) -> None:
    acme_policy(
        PolicyChange(
            allow_idp_initiated=True, allowed_redirects=["https://app.acme.example.com/portal/"]
        )
    )
    for relay_state in (
        "https://evil.example/",
        "//evil.example",
        "https://app.acme.example.com.evil.example/portal/",
    ):
        assert_refused(door.post(door.unsolicited(ALICE), relay_state=relay_state), status=400)
    allowed = door.post(
        door.unsolicited(ALICE), relay_state="https://app.acme.example.com/portal/home"
    )
    assert location_of(allowed) == "https://app.acme.example.com/portal/home"


# --- time, audience, destination ----------------------------------------------------------


@pytest.mark.parametrize("shift_seconds", [+600, -600], ids=["expired", "not-yet-valid"])
def test_response_outside_its_validity_window_is_refused(
    door: Door, monkeypatch: pytest.MonkeyPatch, shift_seconds: int
) -> None:
    xml, relay_state = door.answer(ALICE)
    real_now = OneLogin_Saml2_Utils.now
    monkeypatch.setattr(
        OneLogin_Saml2_Utils, "now", staticmethod(lambda: real_now() + shift_seconds)
    )
    assert_refused(door.post(xml, relay_state=relay_state), title="could not be verified")


@pytest.fixture
def globex(
    door: Door, database: Database, app: Flask, idp_keys: dict[str, KeyPair]
) -> TestIdentityProvider:
    """A second organization behind the same IdP; the IdP knows both SPs."""
    make_org(database, "globex", seats=5)
    configure_org(database, app, "globex", [idp_keys["current"].certificate])
    door.idp = TestIdentityProvider(
        idp_keys["current"], [sp_metadata(door.client, "acme"), sp_metadata(door.client, "globex")]
    )
    return door.idp


def test_wrong_audience_is_refused(door: Door, globex: TestIdentityProvider) -> None:
    request_id, acs_url, _ = door.start("acme")
    xml = globex.response_xml(
        email=ALICE,
        acs_url=acs_url,
        sp_entity_id=f"{BASE_URL}/sso/globex/metadata",
        in_response_to=request_id,
    )
    assert_refused(door.post(xml), title="could not be verified")


def test_response_for_one_organization_is_refused_by_another(
    door: Door, globex: TestIdentityProvider, database: Database
) -> None:
    xml, _ = door.answer(ALICE, slug="acme")
    assert_refused(door.post(xml, slug="globex"))
    # Nor may globex's response answer acme's request id.
    acme_request, _, _ = door.start("acme")
    crossed = globex.response_xml(
        email="alice@globex.example.com",
        acs_url=f"{BASE_URL}/sso/globex/acs",
        sp_entity_id=f"{BASE_URL}/sso/globex/metadata",
        in_response_to=acme_request,
    )
    assert_refused(door.post(crossed, slug="globex"), title="does not match")
    assert members(database) == {"owner@acme.example.com", "owner@globex.example.com"}


@pytest.mark.parametrize(
    "acs_url",
    [f"{BASE_URL}/sso/acme/acs-evil", "https://evil.example/sso/acme/acs", f"{BASE_URL}/sso/acme"],
)
def test_wrong_destination_or_recipient_is_refused(door: Door, acs_url: str) -> None:
    request_id, _, _ = door.start()
    xml = door.idp.response_xml(
        email=ALICE,
        acs_url=acs_url,
        sp_entity_id=f"{BASE_URL}/sso/acme/metadata",
        in_response_to=request_id,
    )
    assert_refused(door.post(xml), title="could not be verified")


def test_host_header_cannot_redirect_validation(door: Door) -> None:
    """Destination is checked against base_url, whatever Host the request claims."""
    xml, relay_state = door.answer(ALICE)
    response = door.client.post(
        "/sso/acme/acs",
        data={"SAMLResponse": encode(xml), "RelayState": relay_state},
        headers={"Host": "evil.example"},
    )
    assert response.status_code == 303
    assert location_of(response) == f"{BASE_URL}/"


# --- signatures -----------------------------------------------------------------------------


def test_unsigned_response_is_refused(door: Door) -> None:
    xml, _ = door.answer(ALICE, sign_assertion=False, sign_response=False)
    assert_refused(door.post(xml), title="could not be verified")


def test_signed_response_with_unsigned_assertion_is_refused_by_default(door: Door) -> None:
    xml, _ = door.answer(ALICE, sign_assertion=False, sign_response=True)
    assert_refused(door.post(xml))


def test_response_signature_accepted_when_the_org_requires_it(
    door: Door, acme_policy: SetPolicy
) -> None:
    acme_policy(PolicyChange(required_signature=Signed.RESPONSE))
    assert door.sign_in(ALICE, sign_assertion=False, sign_response=True).status_code == 303
    xml, _ = door.answer(ALICE, sign_assertion=True, sign_response=False)
    assert_refused(door.post(xml))


def test_both_signatures_required(door: Door, acme_policy: SetPolicy) -> None:
    acme_policy(PolicyChange(required_signature=Signed.BOTH))
    assert_refused(door.sign_in(ALICE, sign_assertion=True, sign_response=False))
    assert door.sign_in(ALICE, sign_assertion=True, sign_response=True).status_code == 303


def test_tampered_name_id_and_email_are_refused(door: Door, database: Database) -> None:
    xml, _ = door.answer(ALICE)
    assert_refused(door.post(replace_subject(xml, ALICE, MALLORY)), title="could not be verified")
    assert MALLORY not in members(database)


def test_key_not_pinned_is_refused(door: Door, idp_keys: dict[str, KeyPair]) -> None:
    """Signed by a key whose certificate rides in KeyInfo but was never pinned."""
    xml, _ = door.answer(ALICE, idp=door.idp.signed_by(idp_keys["rogue"]))
    assert_refused(door.post(xml), title="could not be verified")


def test_certificate_rotation_with_two_pinned_certificates(
    door: Door, database: Database, app: Flask, idp_keys: dict[str, KeyPair]
) -> None:
    configure_org(
        database,
        app,
        "acme",
        [idp_keys["current"].certificate, idp_keys["next"].certificate],
    )
    assert door.sign_in(ALICE).status_code == 303
    assert door.sign_in(ALICE, idp=door.idp.signed_by(idp_keys["next"])).status_code == 303
    assert_refused(door.sign_in(ALICE, idp=door.idp.signed_by(idp_keys["rogue"])))
    # After the rotation the old certificate is unpinned and refused.
    configure_org(database, app, "acme", [idp_keys["next"].certificate])
    assert_refused(door.sign_in(ALICE))


# --- signature wrapping -----------------------------------------------------------------------


def _evil_copy(assertion: etree._Element, new_id: str | None) -> etree._Element:
    evil = copy.deepcopy(assertion)
    for signature in evil.findall("ds:Signature", NS):
        evil.remove(signature)
    if new_id is not None:
        evil.set("ID", new_id)
    for node in evil.iter():
        if node.text and ALICE in node.text:
            node.text = node.text.replace(ALICE, MALLORY)
    return evil


def _wrap(xml: str, variant: str) -> bytes:
    root = etree.fromstring(xml.encode())
    assertion = root.find("saml:Assertion", NS)
    assert assertion is not None
    if variant == "evil-sibling-before":
        root.insert(list(root).index(assertion), _evil_copy(assertion, "_evil"))
    elif variant == "evil-sibling-after":
        root.append(_evil_copy(assertion, "_evil"))
    elif variant == "original-in-extensions":
        extensions = etree.Element(f"{{{NS['samlp']}}}Extensions")
        root.insert(1, extensions)
        root.replace(assertion, _evil_copy(assertion, "_evil"))
        extensions.append(assertion)
    elif variant == "same-id-original-in-extensions":
        extensions = etree.Element(f"{{{NS['samlp']}}}Extensions")
        root.insert(1, extensions)
        root.replace(assertion, _evil_copy(assertion, None))
        extensions.append(assertion)
    elif variant == "original-inside-evil-signature-object":
        evil = _evil_copy(assertion, "_evil")
        signature = copy.deepcopy(assertion.find("ds:Signature", NS))
        assert signature is not None
        obj = etree.SubElement(signature, f"{{{NS['ds']}}}Object")
        obj.append(copy.deepcopy(assertion))
        evil.insert(1, signature)
        root.replace(assertion, evil)
    elif variant == "signature-moved-to-evil":
        evil = _evil_copy(assertion, None)
        signature = assertion.find("ds:Signature", NS)
        assert signature is not None
        evil.insert(1, signature)
        root.replace(assertion, evil)
    else:
        raise AssertionError(variant)
    return etree.tostring(root)


@pytest.mark.parametrize(
    "variant",
    [
        "evil-sibling-before",
        "evil-sibling-after",
        "original-in-extensions",
        "same-id-original-in-extensions",
        "original-inside-evil-signature-object",
        "signature-moved-to-evil",
    ],
)
def test_signature_wrapping_is_refused(door: Door, database: Database, variant: str) -> None:
    xml, _ = door.answer(ALICE)
    response = door.post(_wrap(xml, variant))
    assert response.status_code in {400, 403}
    assert_refused(response, status=response.status_code)
    assert MALLORY not in members(database) and ALICE not in members(database)


def test_wrapping_a_signed_response_inside_an_evil_one_is_refused(
    door: Door, database: Database, acme_policy: SetPolicy
) -> None:
    acme_policy(PolicyChange(required_signature=Signed.RESPONSE))
    xml, _ = door.answer(ALICE, sign_assertion=False, sign_response=True)
    original = etree.fromstring(xml.encode())
    evil = copy.deepcopy(original)
    evil.remove(evil.find("ds:Signature", NS))
    evil.set("ID", "_evil_response")
    for node in evil.iter():
        if node.text and ALICE in node.text:
            node.text = node.text.replace(ALICE, MALLORY)
    extensions = etree.Element(f"{{{NS['samlp']}}}Extensions")
    extensions.append(original)
    evil.insert(1, extensions)
    response = door.post(etree.tostring(evil))
    assert response.status_code in {400, 403}
    assert MALLORY not in members(database)


def test_comment_injection_does_not_truncate_the_subject(door: Door, database: Database) -> None:
    """The 2018 canonicalization trick: a comment splitting a signed NameID must not make
    seatgate read a shorter (other) identity."""
    signed_for = "mallory@acme.example.com.evil.test"
    xml, relay_state = door.answer(signed_for)
    injected = xml.replace(signed_for, "mallory@acme.example.com<!---->.evil.test")
    # Comments are outside the signature (exclusive c14n), so the response still verifies;
    # what matters is that seatgate reads the whole signed value.
    assert door.post(injected, relay_state=relay_state).status_code == 303
    assert MALLORY not in members(database)
    assert signed_for in members(database)


# --- hostile XML --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", HOSTILE, ids=[p.name for p in HOSTILE])
def test_hostile_xml_is_refused_cleanly(door: Door, database: Database, path: Path) -> None:
    response = door.post(path.read_bytes())
    page = assert_refused(response, status=response.status_code)
    assert response.status_code in {400, 403}
    assert "root:" not in page
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(SeatEvent)) == 1  # the purchase


def test_dtd_in_front_of_a_validly_signed_response_is_refused(door: Door) -> None:
    xml, _ = door.answer(ALICE)
    body = xml.split("?>", 1)[1] if xml.startswith("<?xml") else xml
    hostile = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]>' + body
    assert_refused(door.post(hostile), status=400, title="could not be read safely")


@pytest.mark.parametrize("payload", ["", "%%%not-base64%%%", "A" * 300_000])
def test_garbage_payloads_are_refused(door: Door, payload: str) -> None:
    response = door.client.post("/sso/acme/acs", data={"SAMLResponse": payload})
    assert_refused(response, status=400)


def test_deprecated_signature_algorithm_is_refused(door: Door) -> None:
    request_id, acs_url, _ = door.start()
    response = door.idp.server.create_authn_response(
        identity={"email": [ALICE]},
        in_response_to=request_id,
        destination=acs_url,
        sp_entity_id=f"{BASE_URL}/sso/acme/metadata",
        name_id=None,
        authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
        sign_assertion=True,
        sign_alg="http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        digest_alg="http://www.w3.org/2000/09/xmldsig#sha1",
    )
    assert_refused(door.post(str(response)), title="could not be verified")


def test_replay_cache_holds_across_instances_racing(
    door: Door,
    database: Database,
    app: Flask,
    database_url: str,
    acme_policy: SetPolicy,
) -> None:
    """Two app instances on one database receive the same assertion at the same moment:
    the unique index lets exactly one of them sign the user in."""
    acme_policy(PolicyChange(allow_idp_initiated=True))
    xml = door.unsolicited(ALICE)
    second = create_app({"env": "test", "database": {"url": database_url}, "base_url": BASE_URL})
    clients = [app.test_client(), second.test_client()]
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def post(client: FlaskClient) -> None:
        barrier.wait()
        statuses.append(
            client.post("/sso/acme/acs", data={"SAMLResponse": encode(xml)}).status_code
        )

    try:
        threads = [threading.Thread(target=post, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        database_of(second).dispose()
    assert sorted(statuses) == [303, 403]
    with database.unit_of_work(write=False) as session:
        assert (
            session.scalar(
                select(func.count()).select_from(SeatEvent).where(SeatEvent.kind == "assign")
            )
            == 1
        )


@pytest.mark.parametrize(
    "recipient",
    [f"{BASE_URL}/sso/acme/acs-evil", f"https://evil.example/?next={BASE_URL}/sso/acme/acs"],
)
def test_recipient_must_be_exactly_the_acs(door: Door, recipient: str) -> None:
    """Signed Recipient is wrong, unsigned Destination rewritten to look right. python3-saml
    only checks that the ACS URL occurs *inside* Recipient; seatgate wants equality."""
    request_id, _, _ = door.start()
    xml = door.idp.response_xml(
        email=ALICE,
        acs_url=recipient,
        sp_entity_id=f"{BASE_URL}/sso/acme/metadata",
        in_response_to=request_id,
    )
    rewritten = xml.replace(f'Destination="{recipient}"', f'Destination="{BASE_URL}/sso/acme/acs"')
    assert rewritten != xml and f'Recipient="{recipient}"' in rewritten
    assert_refused(door.post(rewritten), title="could not be verified")
