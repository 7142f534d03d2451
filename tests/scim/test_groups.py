"""HTTP tests of /scim/v2/Groups: CRUD, filters, projection, paging, ETags, and the PATCH
shapes Okta and Entra ID send (their published SCIM guides' group requests, replayed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select

from app.db import Database
from app.models import DirectoryGroup, GroupMembership
from tests.scim.conftest import GROUP, Scim, counts, seats, user
from tests.scim.test_users import assert_error


def make_users(scim: Scim, *names: str) -> list[str]:
    return [scim.post("/Users", user(f"{n}@acme.example.com")).get_json()["id"] for n in names]


def make_group(scim: Scim, name: str, members: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    body = {"schemas": [GROUP], "displayName": name, **extra}
    if members:
        body["members"] = [{"value": m} for m in members]
    response = scim.post("/Groups", body)
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def member_ids(document: dict[str, Any]) -> list[str]:
    return [m["value"] for m in document.get("members", [])]


def listing(scim: Scim, query: str) -> dict[str, Any]:
    response = scim.client.get(
        f"/scim/v2/Groups?{query}", headers={"Authorization": f"Bearer {scim.token}"}
    )
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def test_create_read_replace_delete(scim: Scim, database: Database, org_id: int) -> None:
    alice, bob = make_users(scim, "alice", "bob")
    created = make_group(scim, "Engineering", [alice], externalId="okta-00g1")
    assert created["schemas"] == [GROUP]
    assert created["displayName"] == "Engineering" and created["externalId"] == "okta-00g1"
    assert created["members"] == [
        {"value": alice, "$ref": f"http://127.0.0.1:8000/scim/v2/Users/{alice}", "type": "User"}
    ]
    assert created["meta"]["resourceType"] == "Group"
    assert created["meta"]["location"].endswith(f"/Groups/{created['id']}")
    fetched = scim.get(f"/Groups/{created['id']}")
    assert fetched.get_json() == created and fetched.headers["ETag"] == created["meta"]["version"]

    replaced = scim.put(
        f"/Groups/{created['id']}",
        {"schemas": [GROUP], "displayName": "Eng", "members": [{"value": bob}]},
    ).get_json()
    assert replaced["displayName"] == "Eng" and member_ids(replaced) == [bob]
    assert "externalId" not in replaced
    assert replaced["meta"]["version"] != created["meta"]["version"]

    # Users show their groups, read-only: a User PUT carrying groups changes nothing.
    bob_user = scim.get(f"/Users/{bob}").get_json()
    assert bob_user["groups"] == [
        {
            "value": created["id"],
            "$ref": f"http://127.0.0.1:8000/scim/v2/Groups/{created['id']}",
            "display": "Eng",
            "type": "direct",
        }
    ]
    assert "groups" not in scim.get(f"/Users/{alice}").get_json()
    scim.put(f"/Users/{bob}", {**bob_user, "groups": []})
    assert scim.get(f"/Users/{bob}").get_json()["groups"][0]["value"] == created["id"]

    before = counts(database, org_id)
    assert scim.delete(f"/Groups/{created['id']}").status_code == 204
    assert_error(scim.get(f"/Groups/{created['id']}"), 404)
    after = counts(database, org_id)
    assert after.pop("audit_log") == before.pop("audit_log") + 1  # the deletion, audited
    assert after == before  # no user, member or seat event touched
    assert seats(database, org_id) == (20, 2)
    assert "groups" not in scim.get(f"/Users/{bob}").get_json()


def test_refusals(scim: Scim) -> None:
    [alice] = make_users(scim, "alice")
    make_group(scim, "Sales")
    assert_error(
        scim.post("/Groups", {"schemas": [GROUP], "displayName": "SALES"}), 409, "uniqueness"
    )
    assert_error(scim.post("/Groups", {"schemas": [GROUP]}), 400, "invalidValue")
    assert_error(
        scim.post("/Groups", {"displayName": "X", "members": [{"value": "no-such-user"}]}),
        400,
        "invalidValue",
    )
    assert_error(
        scim.post("/Groups", {"displayName": "X", "members": [{"value": alice, "type": "Group"}]}),
        400,
        "invalidValue",
    )
    assert_error(scim.get("/Groups/nope"), 404)
    assert_error(scim.get("/Groups", filter='title eq "x"'), 400, "invalidFilter")
    assert_error(scim.request("POST", "/Groups/whatever"), 405)


def test_filters_projection_and_paging(scim: Scim) -> None:
    alice, bob = make_users(scim, "alice", "bob")
    eng = make_group(scim, "Engineering", [alice, bob])
    ops = make_group(scim, "Operations", [bob])
    make_group(scim, "Empty")

    found = listing(scim, "filter=" + quote('displayName eq "engineering"'))
    assert [g["id"] for g in found["Resources"]] == [eng["id"]]
    with_bob = listing(
        scim, "filter=" + quote(f'members[value eq "{bob}"]') + "&sortBy=displayName"
    )
    assert [g["id"] for g in with_bob["Resources"]] == [eng["id"], ops["id"]]
    only_alice = listing(scim, "filter=" + quote(f'members.value eq "{alice}"'))
    assert only_alice["totalResults"] == 1
    assert listing(scim, "filter=" + quote("members pr"))["totalResults"] == 2
    assert (
        listing(scim, "filter=" + quote('displayName sw "E" and not (members pr)'))["totalResults"]
        == 1
    )

    # Entra ID's lookup: the group without its (possibly huge) member list.
    lookup = listing(
        scim, "excludedAttributes=members&filter=" + quote('displayName eq "Engineering"')
    )
    assert lookup["Resources"][0]["displayName"] == "Engineering"
    assert "members" not in lookup["Resources"][0]
    one = scim.get(f"/Groups/{eng['id']}", excludedAttributes="members").get_json()
    assert "members" not in one and one["id"] == eng["id"]
    named = scim.get(f"/Groups/{eng['id']}", attributes="displayName").get_json()
    assert set(named) == {"schemas", "id", "displayName"}
    values = scim.get(f"/Groups/{eng['id']}", attributes="members.value").get_json()
    assert values["members"] == [{"value": alice}, {"value": bob}]

    page = listing(scim, "sortBy=displayName&startIndex=2&count=1")
    assert page["totalResults"] == 3 and page["startIndex"] == 2
    assert [g["displayName"] for g in page["Resources"]] == ["Engineering"]
    search = scim.post(
        "/Groups/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'displayName co "ation"',
        },
    ).get_json()
    assert [g["id"] for g in search["Resources"]] == [ops["id"]]


def test_users_filter_on_their_groups(scim: Scim) -> None:
    alice, bob, _ = make_users(scim, "alice", "bob", "carol")
    eng = make_group(scim, "Engineering", [alice, bob])
    make_group(scim, "Support", [bob])

    def names(expression: str) -> list[str]:
        found = scim.get("/Users", filter=expression, sortBy="userName").get_json()
        return [u["userName"].split("@")[0] for u in found["Resources"]]

    assert names(f'groups.value eq "{eng["id"]}"') == ["alice", "bob"]
    assert names('groups[display eq "SUPPORT"]') == ["bob"]
    assert names('groups[type eq "direct" and display sw "eng"]') == ["alice", "bob"]
    assert names("not (groups pr)") == ["carol"]
    assert_error(scim.get("/Users", filter='groups.$ref eq "x"'), 400, "invalidFilter")


def test_etags(scim: Scim) -> None:
    group = make_group(scim, "Support")
    version = group["meta"]["version"]
    assert (
        scim.request(
            "GET", f"/Groups/{group['id']}", headers={"If-None-Match": version}
        ).status_code
        == 304
    )
    stale = {"If-Match": 'W/"999"'}
    body = {"schemas": [GROUP], "displayName": "Help"}
    assert_error(scim.request("PUT", f"/Groups/{group['id']}", body, headers=stale), 412)
    assert_error(scim.request("DELETE", f"/Groups/{group['id']}", headers=stale), 412)
    fresh = scim.request("PUT", f"/Groups/{group['id']}", body, headers={"If-Match": version})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != version


def test_okta_group_push(scim: Scim, database: Database) -> None:
    """Okta: create with members, add members, remove one by filter, rename without a path."""
    alice, bob, carol = make_users(scim, "alice", "bob", "carol")
    group = make_group(scim, "Okta Push", [alice])
    gid = group["id"]
    added = scim.patch(
        f"/Groups/{gid}",
        [
            {
                "op": "add",
                "path": "members",
                "value": [{"value": bob, "display": "bob"}, {"value": carol}],
            }
        ],
    )
    assert added.status_code == 200 and member_ids(added.get_json()) == [alice, bob, carol]
    removed = scim.patch(
        f"/Groups/{gid}", [{"op": "remove", "path": f'members[value eq "{bob}"]'}]
    ).get_json()
    assert member_ids(removed) == [alice, carol]
    renamed = scim.patch(
        f"/Groups/{gid}",
        [{"op": "replace", "value": {"id": gid, "displayName": "Okta Push Renamed"}}],
    ).get_json()
    assert renamed["displayName"] == "Okta Push Renamed" and member_ids(renamed) == [alice, carol]
    # Okta replaces the whole member list with a PUT-like PATCH.
    replaced = scim.patch(
        f"/Groups/{gid}", [{"op": "replace", "path": "members", "value": [{"value": bob}]}]
    ).get_json()
    assert member_ids(replaced) == [bob]
    assert scim.delete(f"/Groups/{gid}").status_code == 204
    assert scim.get("/Users", count=0).get_json()["totalResults"] == 3


def test_entra_group_provisioning(scim: Scim, database: Database) -> None:
    """Entra ID: capitalised ops, Remove with path members and a value list ($ref null)."""
    alice, bob, carol = make_users(scim, "alice", "bob", "carol")
    probe = listing(
        scim, "excludedAttributes=members&filter=" + quote('displayName eq "Entra Group"')
    )
    assert probe["totalResults"] == 0
    gid = make_group(scim, "Entra Group", externalId="8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159")["id"]
    response = scim.patch(
        f"/Groups/{gid}",
        [
            {
                "op": "Add",
                "path": "members",
                "value": [{"$ref": None, "value": m} for m in (alice, bob, carol)],
            }
        ],
    )
    assert response.status_code == 200
    removed = scim.patch(
        f"/Groups/{gid}",
        [
            {
                "op": "Remove",
                "path": "members",
                "value": [{"value": alice, "$ref": None}, {"value": carol, "$ref": None}],
            }
        ],
    ).get_json()
    assert member_ids(removed) == [bob]
    renamed = scim.patch(
        f"/Groups/{gid}", [{"op": "Replace", "path": "displayName", "value": "Entra Renamed"}]
    ).get_json()
    assert renamed["displayName"] == "Entra Renamed"
    cleared = scim.patch(f"/Groups/{gid}", [{"op": "Remove", "path": "members"}]).get_json()
    assert "members" not in cleared
    assert_error(
        scim.patch(f"/Groups/{gid}", [{"op": "Remove", "path": "displayName"}]), 400, "invalidValue"
    )
    assert_error(
        scim.patch(f"/Groups/{gid}", [{"op": "Add", "path": "owners", "value": "x"}]),
        400,
        "invalidPath",
    )
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(GroupMembership)) == 0
        assert (
            session.scalar(select(DirectoryGroup.version).where(DirectoryGroup.resource_id == gid))
            == 5
        )


def test_deleting_a_user_takes_it_out_of_its_groups(scim: Scim) -> None:
    alice, bob = make_users(scim, "alice", "bob")
    group = make_group(scim, "Team", [alice, bob])
    assert scim.delete(f"/Users/{alice}").status_code == 204
    after = scim.get(f"/Groups/{group['id']}").get_json()
    assert member_ids(after) == [bob]
    assert after["meta"]["version"] != group["meta"]["version"]


def test_discovery_describes_groups(scim: Scim) -> None:
    schema = scim.get(f"/Schemas/{GROUP}").get_json()
    by_name = {a["name"]: a for a in schema["attributes"]}
    assert set(by_name) == {"displayName", "members"}
    assert by_name["displayName"]["required"] and by_name["displayName"]["uniqueness"] == "server"
    assert {s["name"] for s in by_name["members"]["subAttributes"]} == {"value", "$ref", "type"}
    resource_type = scim.get("/ResourceTypes/Group").get_json()
    assert (resource_type["endpoint"], resource_type["schema"]) == ("/Groups", GROUP)
