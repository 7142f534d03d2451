"""What Okta and Microsoft Entra ID really send, replayed request by request.

The shapes follow each provider's published SCIM integration guides: Okta's "SCIM 2.0
protocol reference" and Entra ID's "Develop and plan provisioning for a SCIM endpoint".
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from app.db import Database
from app.models import Member
from tests.factories import make_org
from tests.scim.conftest import CORE, ENTERPRISE, PATCH_OP, Scim, issue_token, seats
from tests.scim.test_users import assert_error


def probe(scim: Scim, expression: str) -> dict[str, Any]:
    """The providers' match probe, URL-encoded the way they send it."""
    response = scim.client.get(
        f"/scim/v2/Users?filter={quote(expression)}&startIndex=1&count=100",
        headers={"Authorization": f"Bearer {scim.token}"},
    )
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def test_okta_lifecycle(scim: Scim, database: Database, org_id: int) -> None:
    assert probe(scim, 'userName eq "test.user@okta.local"')["totalResults"] == 0
    created = scim.post(
        "/Users",
        {
            "schemas": [CORE],
            "userName": "test.user@okta.local",
            "name": {"givenName": "Test", "familyName": "User"},
            "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
            "displayName": "Test User",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "password": "1mz050nq",
            "active": True,
        },
    )
    assert created.status_code == 201
    user = created.get_json()
    assert "password" not in user
    assert seats(database, org_id) == (20, 1)
    again = probe(scim, 'userName eq "TEST.USER@okta.local"')
    assert again["totalResults"] == 1 and again["Resources"][0]["id"] == user["id"]
    assert probe(scim, 'externalId eq "00ujl29u0le5T6Aj10h7"')["totalResults"] == 1

    put_body = {
        **user,
        "name": {"givenName": "Another", "familyName": "User"},
        "displayName": "Another User",
        "groups": [],
        "phoneNumbers": [],
        "addresses": [],
        "password": "1mz050nq",
    }
    updated = scim.put(f"/Users/{user['id']}", put_body)
    assert updated.status_code == 200
    assert updated.get_json()["name"]["givenName"] == "Another"
    assert "phoneNumbers" not in updated.get_json()

    deactivated = scim.patch(
        f"/Users/{user['id']}", [{"op": "replace", "value": {"active": False}}]
    )
    assert deactivated.status_code == 200 and deactivated.get_json()["active"] is False
    assert seats(database, org_id) == (20, 0)
    assert probe(scim, 'userName eq "test.user@okta.local"')["Resources"][0]["active"] is False

    reactivated = scim.put(f"/Users/{user['id']}", {**put_body, "active": True})
    assert reactivated.status_code == 200 and seats(database, org_id) == (20, 1)
    off_by_put = scim.put(f"/Users/{user['id']}", {**put_body, "active": False})
    assert off_by_put.get_json()["active"] is False and seats(database, org_id) == (20, 0)


def test_okta_create_on_a_full_organization(scim: Scim, database: Database) -> None:
    make_org(database, "full", seats=1)
    full = Scim(scim.client, issue_token(database, "full"))
    full.create("first@full.example.com")
    refused = full.post("/Users", {"schemas": [CORE], "userName": "second@full.example.com"})
    body = assert_error(refused, 403, "userLimitReached")
    assert body["detail"] == (
        "No free seat: 1 of 1 seats are assigned. A Primary Owner must add seats."
    )


def test_entra_lifecycle(scim: Scim, database: Database, org_id: int) -> None:
    user_name = "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"
    assert probe(scim, f'userName eq "{user_name}"')["Resources"] == []
    created = scim.post(
        "/Users",
        {
            "schemas": [CORE, ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": user_name,
            "active": "True",
            "emails": [
                {
                    "primary": True,
                    "type": "work",
                    "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com",
                }
            ],
            "meta": {"resourceType": "User"},
            "name": {
                "formatted": "givenName familyName",
                "familyName": "familyName",
                "givenName": "givenName",
            },
            "roles": [],
            ENTERPRISE: {"department": ["Finance"], "employeeNumber": 1234},
        },
    )
    assert created.status_code == 201, created.get_json()
    user = created.get_json()
    assert user["active"] is True and "roles" not in user
    assert user[ENTERPRISE] == {"department": "Finance", "employeeNumber": "1234"}
    assert seats(database, org_id) == (20, 1)
    duplicate = scim.post("/Users", {"schemas": [CORE], "userName": user_name.upper()})
    assert_error(duplicate, 409, "uniqueness")

    path = f"/Users/{user['id']}"
    updated = scim.request(
        "PATCH",
        path,
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {
                    "op": "Replace",
                    "path": 'emails[type eq "work"].value',
                    "value": "updatedEmail@microsoft.com",
                },
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
                {
                    "op": "Add",
                    "path": f"{ENTERPRISE}:manager",
                    "value": [{"$ref": None, "value": "2819c223-7f76-453a-919d-ab1234567891"}],
                },
                {
                    "op": "Replace",
                    "value": {
                        "displayName": "Updated Name",
                        "name.givenName": "Updated",
                        f"{ENTERPRISE}:employeeNumber": "42",
                    },
                },
            ],
        },
    )
    assert updated.status_code == 200, updated.get_json()
    document = updated.get_json()
    assert document["emails"][0]["value"] == "updatedEmail@microsoft.com"
    assert document["name"]["familyName"] == "updatedFamilyName"
    assert document["name"]["givenName"] == "Updated"
    assert document[ENTERPRISE]["manager"] == {"value": "2819c223-7f76-453a-919d-ab1234567891"}
    assert document[ENTERPRISE]["employeeNumber"] == "42"

    no_manager = scim.patch(path, [{"op": "Remove", "path": f"{ENTERPRISE}:manager"}])
    assert "manager" not in no_manager.get_json()[ENTERPRISE]

    disabled = scim.patch(path, [{"op": "Replace", "path": "active", "value": "False"}])
    assert disabled.status_code == 200 and disabled.get_json()["active"] is False
    assert seats(database, org_id) == (20, 0)
    found = probe(scim, 'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"')
    assert found["Resources"][0]["active"] is False
    assert probe(scim, 'active eq "False"')["totalResults"] == 1

    enabled = scim.patch(path, [{"op": "Replace", "path": "active", "value": "True"}])
    assert enabled.get_json()["active"] is True and seats(database, org_id) == (20, 1)
    assert scim.delete(path).status_code == 204
    assert seats(database, org_id) == (20, 0)


def test_entra_probe_for_a_user_that_does_not_exist(scim: Scim) -> None:
    """Entra's connection test filters on a random attribute value and expects an empty list."""
    body = probe(scim, 'userName eq "non-existent user 96e2e3c0-7a0b-4a8f-a0b1-1f7a0e1a2b3c"')
    assert body == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0,
        "itemsPerPage": 0,
        "startIndex": 1,
        "Resources": [],
    }


def test_user_name_that_is_not_an_email_falls_back_to_a_placeholder(
    scim: Scim, database: Database
) -> None:
    created = scim.create("jdoe")
    with database.unit_of_work(write=False) as session:
        email = session.scalar(select(Member.email).where(Member.email.like("%users.invalid")))
    assert email == f"{created['id']}@users.invalid"
