"""HTTP tests of /scim/v2/Users: create, read, list, replace, delete, ETags, projection, errors."""

from __future__ import annotations

from typing import Any

from app.db import Database
from tests.scim.conftest import CORE, ENTERPRISE, ERROR, GROUP, Scim, counts, user


def assert_error(response: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/scim+json"
    body: dict[str, Any] = response.get_json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert body["detail"]
    return body


def test_create_returns_the_resource_with_meta_and_location(scim: Scim) -> None:
    body = user(
        "alice.smith@acme.example.com",
        externalId="00u1",
        displayName="Alice Smith",
        title="Engineer",
        phoneNumbers=[{"value": "+1 555 0100", "type": "work"}],
        addresses=[{"locality": "Lisbon", "country": "PT", "type": "work"}],
        **{ENTERPRISE: {"employeeNumber": "701", "manager": {"value": "boss-id"}}},
    )
    response = scim.post("/Users", body)
    assert response.status_code == 201
    assert response.mimetype == "application/scim+json"
    created = response.get_json()
    assert created["schemas"] == [CORE, ENTERPRISE]
    assert created["userName"] == "alice.smith@acme.example.com"
    assert created["externalId"] == "00u1"
    assert created["name"] == {"givenName": "Alice", "familyName": "Smith"}
    assert created["addresses"] == [{"locality": "Lisbon", "country": "PT", "type": "work"}]
    assert created[ENTERPRISE] == {"employeeNumber": "701", "manager": {"value": "boss-id"}}
    meta = created["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"].endswith(f"/scim/v2/Users/{created['id']}")
    assert response.headers["Location"] == meta["location"]
    assert response.headers["ETag"] == meta["version"] == 'W/"1"'
    assert meta["created"] == meta["lastModified"]
    fetched = scim.get(f"/Users/{created['id']}")
    assert fetched.status_code == 200 and fetched.get_json() == created


def test_read_only_attributes_sent_by_the_client_are_ignored(scim: Scim) -> None:
    body = user(
        "bob@acme.example.com",
        id="chosen-by-client",
        meta={"version": 'W/"99"', "resourceType": "Group"},
        groups=[{"value": "g1", "display": "Admins"}],
        unknownThing=42,
    )
    created = scim.post("/Users", body).get_json()
    assert created["id"] != "chosen-by-client"
    assert created["meta"]["version"] == 'W/"1"'
    assert "groups" not in created and "unknownThing" not in created


def test_attribute_names_are_case_insensitive_and_json_is_accepted(scim: Scim, client: Any) -> None:
    response = client.post(
        "/scim/v2/Users",
        json={"schemas": [CORE], "USERNAME": "carol@acme.example.com", "Name": {"GIVENNAME": "C"}},
        headers={"Authorization": f"Bearer {scim.token}"},
    )
    assert response.status_code == 201
    assert response.get_json()["name"] == {"givenName": "C"}


def test_duplicate_user_name_is_a_uniqueness_conflict(scim: Scim, database: Database) -> None:
    scim.create("dave@acme.example.com")
    before = counts(database, 1)
    body = assert_error(scim.post("/Users", user("DAVE@acme.example.com")), 409, "uniqueness")
    assert "already taken" in body["detail"]
    assert counts(database, 1) == before


def test_invalid_bodies_are_400_and_write_nothing(scim: Scim, database: Database) -> None:
    before = counts(database, 1)
    assert_error(scim.post("/Users", {"schemas": [CORE]}), 400, "invalidValue")
    assert_error(scim.post("/Users", ["not", "an", "object"]), 400, "invalidSyntax")
    assert_error(
        scim.post("/Users", user("e@acme.example.com", active="maybe")), 400, "invalidValue"
    )
    assert_error(
        scim.post("/Users", user("e@acme.example.com", title={"x": 1})), 400, "invalidValue"
    )
    raw = scim.client.post(
        "/scim/v2/Users",
        data="{not json",
        content_type="application/scim+json",
        headers={"Authorization": f"Bearer {scim.token}"},
    )
    assert_error(raw, 400, "invalidSyntax")
    xml = scim.client.post(
        "/scim/v2/Users",
        data="<user/>",
        content_type="application/xml",
        headers={"Authorization": f"Bearer {scim.token}"},
    )
    assert_error(xml, 415)
    huge = scim.post("/Users", user("f@acme.example.com", title="x" * 2_000_000))
    assert_error(huge, 413)
    deep: list[object] = []
    for _ in range(900):
        deep = [deep]
    assert_error(scim.post("/Users", user("f@acme.example.com", title=deep)), 400, "invalidSyntax")
    for path in ("/Users", "/Bulk", "/Users/.search", "/Groups"):  # issue 19: 100,000 levels
        for text in ("[" * 100_000, "[" * 100_000 + "]" * 100_000, '{"title": NaN}'):
            raw = scim.client.post(
                f"/scim/v2{path}",
                data=text,
                content_type="application/scim+json",
                headers={"Authorization": f"Bearer {scim.token}"},
            )
            assert_error(raw, 400, "invalidSyntax")
    nul = scim.post("/Users", user("f@acme.example.com", nickName="a\x00b"))
    assert_error(nul, 400, "invalidValue")
    assert counts(database, 1) == before


def test_put_replaces_everything_and_bumps_the_version(scim: Scim) -> None:
    created = scim.create("erin@acme.example.com", title="Intern", nickName="E")
    replaced = scim.put(
        f"/Users/{created['id']}", {"schemas": [CORE], "userName": "erin@acme.example.com"}
    )
    assert replaced.status_code == 200
    document = replaced.get_json()
    assert "title" not in document and "nickName" not in document
    assert document["meta"]["version"] == 'W/"2"' == replaced.headers["ETag"]
    assert document["meta"]["created"] == created["meta"]["created"]


def test_etags_if_match_and_if_none_match(scim: Scim) -> None:
    created = scim.create("frank@acme.example.com")
    path = f"/Users/{created['id']}"
    unchanged = scim.request("GET", path, headers={"If-None-Match": 'W/"1"'})
    assert unchanged.status_code == 304 and unchanged.headers["ETag"] == 'W/"1"'
    assert scim.request("GET", path, headers={"If-None-Match": 'W/"7"'}).status_code == 200
    stale = scim.request(
        "PUT", path, user("frank@acme.example.com", title="x"), headers={"If-Match": 'W/"7"'}
    )
    assert_error(stale, 412)
    assert "title" not in scim.get(path).get_json()
    assert_error(scim.request("DELETE", path, headers={"If-Match": 'W/"7"'}), 412)
    fresh = scim.request(
        "PUT", path, user("frank@acme.example.com", title="x"), headers={"If-Match": 'W/"1"'}
    )
    assert fresh.status_code == 200 and fresh.get_json()["title"] == "x"


def test_delete_then_get_is_404(scim: Scim) -> None:
    created = scim.create("gina@acme.example.com")
    response = scim.delete(f"/Users/{created['id']}")
    assert response.status_code == 204 and response.data == b""
    assert_error(scim.get(f"/Users/{created['id']}"), 404)
    assert_error(scim.delete(f"/Users/{created['id']}"), 404)
    again = scim.create("gina@acme.example.com")  # provisioning again takes the member over
    assert again["id"] != created["id"]


def test_unknown_ids_routes_and_methods(scim: Scim) -> None:
    assert_error(scim.get("/Users/does-not-exist"), 404)
    assert_error(scim.put("/Users/does-not-exist", user("x@acme.example.com")), 404)
    assert_error(scim.get("/Devices"), 404)
    assert_error(scim.get("/Users/a/b"), 404)
    assert_error(scim.get(""), 404)
    assert_error(scim.get("/"), 404)
    not_allowed = scim.request("DELETE", "/Users")
    assert_error(not_allowed, 405)
    assert not_allowed.headers["Allow"] == "GET, POST"
    assert_error(scim.post("/Users/some-id", user("y@acme.example.com")), 405)
    assert_error(scim.request("PUT", "/ServiceProviderConfig", {}), 405)


def test_list_pages_sorts_and_counts(scim: Scim) -> None:
    for name in ["delta", "alpha", "charlie", "bravo", "echo"]:
        scim.create(f"{name}@acme.example.com", name={"familyName": name.title()})
    page = scim.get("/Users", sortBy="name.familyName", startIndex=2, count=2).get_json()
    assert page["totalResults"] == 5 and page["startIndex"] == 2 and page["itemsPerPage"] == 2
    assert [u["name"]["familyName"] for u in page["Resources"]] == ["Bravo", "Charlie"]
    down = scim.get("/Users", sortBy="userName", sortOrder="descending", count=1).get_json()
    assert down["Resources"][0]["userName"] == "echo@acme.example.com"
    assert down["totalResults"] == 5
    only_total = scim.get("/Users", count=0).get_json()
    assert only_total["totalResults"] == 5 and only_total["Resources"] == []
    beyond = scim.get("/Users", startIndex=50).get_json()
    assert beyond["totalResults"] == 5 and beyond["Resources"] == []
    assert_error(scim.get("/Users", count="many"), 400, "invalidValue")
    assert_error(scim.get("/Users", sortOrder="sideways"), 400, "invalidValue")


def test_attributes_and_excluded_attributes(scim: Scim) -> None:
    created = scim.create(
        "hank@acme.example.com",
        title="Chef",
        name={"givenName": "Hank", "familyName": "Hill"},
        emails=[{"value": "hank@acme.example.com", "type": "work"}],
        **{ENTERPRISE: {"department": "Kitchen", "costCenter": "42"}},
    )
    path = f"/Users/{created['id']}"
    only = scim.get(path, attributes="userName,name.familyName,emails.value").get_json()
    assert only == {
        "schemas": created["schemas"],
        "id": created["id"],
        "userName": "hank@acme.example.com",
        "name": {"familyName": "Hill"},
        "emails": [{"value": "hank@acme.example.com"}],
    }
    department = f"{ENTERPRISE}:department"
    ext = scim.get(path, attributes=department).get_json()
    assert ext[ENTERPRISE] == {"department": "Kitchen"} and "userName" not in ext
    without = scim.get(path, excludedAttributes="title,name,id," + department).get_json()
    assert "title" not in without and "name" not in without and without["id"] == created["id"]
    assert without[ENTERPRISE] == {"costCenter": "42"}
    listed = scim.get("/Users", attributes="userName").get_json()["Resources"]
    assert listed == [
        {"schemas": created["schemas"], "id": created["id"], "userName": "hank@acme.example.com"}
    ]


def test_search_by_post(scim: Scim) -> None:
    scim.create("ivy@acme.example.com", title="Boss")
    scim.create("jack@acme.example.com")
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'title eq "boss"',
        "attributes": ["userName"],
        "startIndex": 1,
        "count": 10,
    }
    for path in ["/Users/.search", "/.search"]:
        found = scim.post(path, body).get_json()
        assert found["totalResults"] == 1
        assert found["Resources"][0]["userName"] == "ivy@acme.example.com"
        assert "title" not in found["Resources"][0]
    assert_error(scim.post("/Users/.search", {"filter": "title pr"}), 400, "invalidSyntax")


def test_discovery_documents(scim: Scim) -> None:
    config = scim.get("/ServiceProviderConfig").get_json()
    assert config["filter"] == {"supported": True, "maxResults": 200}
    assert config["bulk"] == {"supported": True, "maxOperations": 1000, "maxPayloadSize": 1048576}
    assert config["patch"]["supported"] is True
    assert config["etag"]["supported"] is True and config["sort"]["supported"] is True
    assert config["changePassword"]["supported"] is False
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = scim.get("/ResourceTypes").get_json()
    assert [t["id"] for t in types["Resources"]] == ["User", "Group"]
    user_type = scim.get("/ResourceTypes/User").get_json()
    assert user_type["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    assert scim.get("/ResourceTypes/Group").get_json()["endpoint"] == "/Groups"
    assert_error(scim.get("/ResourceTypes/Device"), 404)
    schemas = scim.get("/Schemas").get_json()
    assert {s["id"] for s in schemas["Resources"]} == {CORE, ENTERPRISE, GROUP}
    core = scim.get(f"/Schemas/{CORE}").get_json()
    by_name = {a["name"]: a for a in core["attributes"]}
    assert by_name["userName"]["uniqueness"] == "server" and by_name["userName"]["required"]
    assert by_name["groups"]["mutability"] == "readOnly"
    assert "password" not in by_name
    assert_error(scim.get("/Schemas/urn:nope"), 404)


def test_every_read_path_renders_the_same_user(scim: Scim) -> None:
    """GET by id and the ``userName eq`` probe read through their own statements; they must
    show exactly what the general search (and the write that created the user) shows."""
    created = scim.create(
        "Ann.Lee@acme.example.com",
        externalId="okta-00u1",
        displayName="Ann Lee",
        active=True,
        name={"givenName": "Ann", "familyName": "Lee"},
        emails=[
            {"value": "ann.lee@acme.example.com", "type": "work", "primary": True},
            {"value": "ann@home.example.org", "type": "home"},
        ],
        phoneNumbers=[{"value": "+1 555 0100", "type": "mobile"}],
        **{ENTERPRISE: {"department": "Kitchen", "manager": {"value": "boss-id"}}},
    )
    groups = [
        scim.post(
            "/Groups",
            {"schemas": [GROUP], "displayName": name, "members": [{"value": created["id"]}]},
        ).get_json()
        for name in ("cooks", "Bakers", "Apprentices")
    ]
    by_id = scim.get(f"/Users/{created['id']}").get_json()
    base = by_id["meta"]["location"].removesuffix(f"/Users/{created['id']}")
    assert by_id["groups"] == [  # ordered by name, case-insensitively
        {
            "value": group["id"],
            "$ref": f"{base}/Groups/{group['id']}",
            "display": group["displayName"],
            "type": "direct",
        }
        for group in sorted(groups, key=lambda g: g["displayName"].casefold())
    ]
    probe = scim.get("/Users", filter='userName eq "ann.lee@ACME.example.com"').get_json()
    general = scim.get("/Users", filter='userName eq "ann.lee@acme.example.com"', sortBy="id")
    assert probe["Resources"] == [by_id]
    assert general.get_json()["Resources"] == [by_id]
    without_groups = {k: v for k, v in by_id.items() if k not in {"groups", "meta"}}
    assert without_groups == {k: v for k, v in created.items() if k != "meta"}
    assert (
        scim.get("/Users", filter='userName eq "nobody@acme.example.com"').get_json()[
            "totalResults"
        ]
        == 0
    )
