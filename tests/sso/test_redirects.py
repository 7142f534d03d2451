"""No open redirect: after sign-in, only seatgate itself or the organization's allowed URLs."""

from __future__ import annotations

import pytest
from flask import Flask

from app.errors import InvalidInput
from sso.errors import ForbiddenRedirect
from sso.providers import PolicyChange
from sso.redirects import parse_allowed_redirect, safe_next
from tests.sso.conftest import BASE_URL, Door, SetPolicy, location_of

ALLOWED = ["https://app.acme.example.com/portal/", "http://localhost:3000"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (None, f"{BASE_URL}/"),
        ("", f"{BASE_URL}/"),
        ("/dashboard?tab=1", f"{BASE_URL}/dashboard?tab=1"),
        (f"{BASE_URL}/anything", f"{BASE_URL}/anything"),
        ("https://app.acme.example.com/portal/x?y=1", "https://app.acme.example.com/portal/x?y=1"),
        ("https://APP.acme.example.com:443/portal", "https://APP.acme.example.com:443/portal"),
        ("http://localhost:3000/cb", "http://localhost:3000/cb"),
    ],
)
def test_allowed_targets(target: str | None, expected: str) -> None:
    assert safe_next(target, base_url=BASE_URL, allowed=ALLOWED) == expected


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "///evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "https:evil.example",
        "https://app.acme.example.com.evil.example/portal/",
        "https://app.acme.example.com@evil.example/portal/",
        "https://evil.example\\@app.acme.example.com/portal/",
        "https://app.acme.example.com/portalevil",
        "https://app.acme.example.com/other",
        "http://app.acme.example.com/portal/",
        "https://app.acme.example.com:8443/portal/",
        "http://localhost:3001/",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "/\tevil",
        "https://seatgate.test\n.evil.example/",
        "https://[::1/",
        "/" + "a" * 2048,
    ],
)
def test_refused_targets(target: str) -> None:
    with pytest.raises(ForbiddenRedirect):
        safe_next(target, base_url=BASE_URL, allowed=ALLOWED)


@pytest.mark.parametrize(
    "entry", ["app.example.com", "ftp://x.example/", "https://u@x.example/", "https://x.example/?q"]
)
def test_allowed_entries_must_be_plain_url_prefixes(entry: str) -> None:
    with pytest.raises(InvalidInput):
        parse_allowed_redirect(entry)


def test_login_refuses_a_foreign_next_before_talking_to_the_idp(door: Door) -> None:
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example", "/x" * 2000):
        response = door.client.get("/sso/acme/login", query_string={"next": target})
        assert response.status_code == 400
        assert "Redirect not allowed" in response.get_data(as_text=True)


def test_sign_in_lands_on_an_allowed_url(door: Door, app: Flask, acme_policy: SetPolicy) -> None:
    acme_policy(PolicyChange(allowed_redirects=["https://app.acme.example.com/portal/"]))
    target = "https://app.acme.example.com/portal/reports?id=7"
    response = door.sign_in("alice@acme.example.com", next_url=target)
    assert response.status_code == 303
    assert location_of(response) == target


def test_tampered_relay_state_cannot_change_the_destination(door: Door) -> None:
    """SP-initiated: the target stored with the AuthnRequest wins over RelayState."""
    xml, _ = door.answer("alice@acme.example.com", next_url="/home")
    response = door.post(xml, relay_state="https://evil.example/")
    assert response.status_code == 303
    assert location_of(response) == f"{BASE_URL}/home"
