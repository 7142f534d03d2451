"""``seatgate sso configure|show`` and ``seatgate keys rotate|list``."""

from __future__ import annotations

import json
from pathlib import Path

from flask.testing import FlaskClient, FlaskCliRunner

from app.db import Database
from tests.factories import make_org
from tests.sso.conftest import BASE_URL, Door, sp_metadata
from tests.sso.idp import IDP_ENTITY_ID, IDP_SSO_URL, KeyPair, TestIdentityProvider


def run(runner: FlaskCliRunner, *args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def fails(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 1, result.output
    return result.output


def test_configure_from_idp_metadata_then_sign_in(
    runner: FlaskCliRunner,
    client: FlaskClient,
    database: Database,
    idp_keys: dict[str, KeyPair],
    tmp_path: Path,
    app,  # type: ignore[no-untyped-def]
) -> None:
    make_org(database, "acme", seats=3)
    # The IdP's metadata as pysaml2 publishes it (no SP known yet).
    metadata = tmp_path / "idp-metadata.xml"
    metadata.write_text(TestIdentityProvider(idp_keys["current"], []).metadata_xml())
    shown = run(runner, "sso", "configure", "acme", "--metadata", str(metadata))
    assert shown["entity_id"] == IDP_ENTITY_ID and shown["sso_url"] == IDP_SSO_URL
    assert len(shown["certificates"]) == 1
    assert shown["acs_url"] == f"{BASE_URL}/sso/acme/acs"
    assert shown["sp_entity_id"] == f"{BASE_URL}/sso/acme/metadata"
    assert (shown["allow_idp_initiated"], shown["jit_provisioning"]) == (False, True)
    assert shown["required_signature"] == "assertion"
    assert (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
        in (shown["attribute_map"]["email"])
    )
    door = Door(
        client=client,
        idp=TestIdentityProvider(idp_keys["current"], [sp_metadata(client, "acme")]),
        database=database,
        app=app,
    )
    assert door.sign_in("dana@acme.example.com").status_code == 303


def test_configure_options_and_show(
    runner: FlaskCliRunner, database: Database, idp_keys: dict[str, KeyPair]
) -> None:
    make_org(database, "acme")
    run(
        runner,
        "sso",
        "configure",
        "acme",
        "--entity-id",
        "https://idp.example.test/e",
        "--sso-url",
        "https://idp.example.test/sso",
        "--cert",
        str(idp_keys["current"].cert_file),
        "--cert",
        str(idp_keys["next"].cert_file),
    )
    updated = run(
        runner,
        "sso",
        "configure",
        "acme",
        "--idp-initiated",
        "--no-jit",
        "--sign-requests",
        "--require-signed",
        "both",
        "--attribute",
        "email=corpMail",
        "--attribute",
        "email=mail",
        "--allow-redirect",
        "https://app.acme.example.com/portal/",
    )
    shown = run(runner, "sso", "show", "acme")
    assert shown == updated
    assert len(shown["certificates"]) == 2
    assert shown["certificates"][0]["subject"] == "CN=test idp current"
    assert (shown["allow_idp_initiated"], shown["jit_provisioning"]) == (True, False)
    assert (shown["sign_authn_requests"], shown["required_signature"]) == (True, "both")
    assert shown["attribute_map"]["email"] == ["corpMail", "mail"]
    assert shown["allowed_redirects"] == ["https://app.acme.example.com/portal/"]
    cleared = run(runner, "sso", "configure", "acme", "--clear-redirects")
    assert cleared["allowed_redirects"] == []


def test_signed_authn_requests_verify_with_the_published_sp_certificate(
    runner: FlaskCliRunner, door: Door
) -> None:
    run(runner, "sso", "configure", "acme", "--sign-requests")
    metadata = sp_metadata(door.client, "acme")
    assert 'AuthnRequestsSigned="true"' in metadata
    location = door.client.get("/sso/acme/login").headers["Location"]
    assert "Signature=" in location and "SigAlg=" in location
    assert door.idp.verify_redirect_signature(location, metadata)
    tampered = location.replace("RelayState=", "RelayState=x")
    assert not door.idp.verify_redirect_signature(tampered, metadata)


def test_configure_errors(
    runner: FlaskCliRunner, database: Database, idp_keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    make_org(database, "acme")
    assert "First configuration needs" in fails(runner, "sso", "configure", "acme")
    assert "No organization" in fails(runner, "sso", "configure", "nobody", "--no-jit")
    assert "no IdP configured" in fails(runner, "sso", "show", "acme")
    assert "go together" in fails(
        runner, "sso", "configure", "acme", "--entity-id", "https://idp.example.test/e"
    )
    hostile = tmp_path / "hostile.xml"
    hostile.write_text(
        '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">&x;'
        "</md:EntityDescriptor>"
    )
    assert "not readable SAML metadata" in fails(
        runner, "sso", "configure", "acme", "--metadata", str(hostile)
    )
    not_a_cert = tmp_path / "bad.pem"
    not_a_cert.write_text("hello")
    assert "certificate" in fails(
        runner,
        "sso",
        "configure",
        "acme",
        "--entity-id",
        "https://idp.example.test/e",
        "--sso-url",
        "https://idp.example.test/sso",
        "--cert",
        str(not_a_cert),
    )
    assert "KIND=NAME" in fails(
        runner,
        "sso",
        "configure",
        "acme",
        "--entity-id",
        "https://idp.example.test/e",
        "--sso-url",
        "https://idp.example.test/sso",
        "--cert",
        str(idp_keys["current"].cert_file),
        "--attribute",
        "email",
    )


def test_keys_rotate_and_list(
    runner: FlaskCliRunner, client: FlaskClient, database: Database
) -> None:
    first = run(runner, "keys", "rotate")
    second = run(runner, "keys", "rotate")
    listed = run(runner, "keys", "list")
    assert [key["kid"] for key in listed] == [second["kid"], first["kid"]]
    assert all(key["published"] for key in listed)
    assert listed[1]["retired_at"] is not None and listed[0]["retired_at"] is None
    published = {key["kid"] for key in client.get("/.well-known/jwks.json").json["keys"]}
    assert published == {first["kid"], second["kid"]}
