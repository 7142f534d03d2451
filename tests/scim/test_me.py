"""``GET /scim/v2/Me``: the signed-in member's own User, with the gateway session from SSO."""

from __future__ import annotations

from flask import Flask

from app import settings_of
from app.db import Database
from tests.app.conftest import session_token
from tests.scim.conftest import Scim, user
from tests.scim.test_groups import make_group
from tests.scim.test_users import assert_error


def test_me_with_the_session_cookie_or_token(app: Flask, scim: Scim, database: Database) -> None:
    alice = scim.post("/Users", user("alice@acme.example.com", title="Engineer")).get_json()
    group = make_group(scim, "Readers", [alice["id"]])
    token = session_token(app, database, "alice@acme.example.com")

    by_header = scim.client.get("/scim/v2/Me", headers={"Authorization": f"Bearer {token}"})
    assert by_header.status_code == 200, by_header.get_json()
    me = by_header.get_json()
    assert me["id"] == alice["id"] and me["title"] == "Engineer"
    assert [g["value"] for g in me["groups"]] == [group["id"]]
    assert by_header.headers["Content-Location"] == alice["meta"]["location"]

    browser = app.test_client()
    browser.set_cookie(settings_of(app).sso.cookie_name, token)
    assert browser.get("/scim/v2/Me", query_string={"attributes": "userName"}).get_json() == {
        "schemas": alice["schemas"],
        "id": alice["id"],
        "userName": "alice@acme.example.com",
    }
    assert_error(browser.put("/scim/v2/Me", json={}), 405)

    # Deactivated by the identity provider: the session no longer opens /Me.
    scim.patch(f"/Users/{alice['id']}", [{"op": "replace", "value": {"active": False}}])
    assert_error(browser.get("/scim/v2/Me"), 401)


def test_me_refuses_without_a_member_session(app: Flask, scim: Scim, database: Database) -> None:
    anonymous = app.test_client().get("/scim/v2/Me")
    assert_error(anonymous, 401)
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(scim.get("/Me"), 401)  # a SCIM token is an identity provider, not a person
    forged = app.test_client().get("/scim/v2/Me", headers={"Authorization": "Bearer e30.e30.x"})
    assert_error(forged, 401)
    # A member who signed in but was never provisioned over SCIM has no User resource.
    token = session_token(app, database, "owner@acme.example.com")
    assert_error(
        app.test_client().get("/scim/v2/Me", headers={"Authorization": f"Bearer {token}"}), 404
    )
