"""PATCH (RFC 7644 section 3.5.2): add, replace, remove, paths, value filters, no-path values."""

from __future__ import annotations

from typing import Any

import pytest

from tests.scim.conftest import ENTERPRISE, Scim, user
from tests.scim.test_users import assert_error


@pytest.fixture
def ann(scim: Scim) -> dict[str, Any]:
    return scim.create(
        "ann@acme.example.com",
        name={"givenName": "Ann", "familyName": "Lee"},
        emails=[
            {"value": "ann@acme.example.com", "type": "work", "primary": True},
            {"value": "ann@home.example.org", "type": "home"},
        ],
        phoneNumbers=[{"value": "111", "type": "work"}],
        **{ENTERPRISE: {"department": "R&D", "costCenter": "7"}},
    )


def patch(scim: Scim, target: dict[str, Any], *operations: dict[str, Any]) -> dict[str, Any]:
    response = scim.patch(f"/Users/{target['id']}", list(operations))
    assert response.status_code == 200, response.get_json()
    assert response.headers["ETag"] == response.get_json()["meta"]["version"]
    body: dict[str, Any] = response.get_json()
    return body


def test_simple_and_sub_attribute_paths(scim: Scim, ann: dict[str, Any]) -> None:
    result = patch(
        scim,
        ann,
        {"op": "add", "path": "title", "value": "Engineer"},
        {"op": "replace", "path": "name.givenName", "value": "Annie"},
        {"op": "remove", "path": "name.familyName"},
        {"op": "add", "path": "nickName", "value": ["Nan"]},  # array-wrapped single value
    )
    assert result["title"] == "Engineer" and result["nickName"] == "Nan"
    assert result["name"] == {"givenName": "Annie"}
    assert result["meta"]["version"] == 'W/"2"'
    assert scim.get(f"/Users/{ann['id']}").get_json() == result


def test_multi_valued_add_replace_and_remove(scim: Scim, ann: dict[str, Any]) -> None:
    added = patch(
        scim,
        ann,
        {
            "op": "add",
            "path": "emails",
            "value": [{"value": "a2@acme.example.com", "primary": True}],
        },
    )
    assert [e.get("primary") for e in added["emails"]] == [False, None, True]
    replaced = patch(
        scim, ann, {"op": "replace", "path": "phoneNumbers", "value": [{"value": "222"}]}
    )
    assert replaced["phoneNumbers"] == [{"value": "222"}]
    removed = patch(scim, ann, {"op": "remove", "path": 'emails[type eq "home"]'})
    assert [e["value"] for e in removed["emails"]] == [
        "ann@acme.example.com",
        "a2@acme.example.com",
    ]
    cleared = patch(scim, ann, {"op": "remove", "path": "phoneNumbers"})
    assert "phoneNumbers" not in cleared


def test_value_filter_with_sub_attribute(scim: Scim, ann: dict[str, Any]) -> None:
    result = patch(
        scim,
        ann,
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "lee@acme.example.com"},
        {"op": "replace", "path": 'emails[value co "home"]', "value": {"value": "h@x.org"}},
        {"op": "remove", "path": 'emails[type eq "work"].primary'},
    )
    assert result["emails"] == [
        {"value": "lee@acme.example.com", "type": "work"},
        {"value": "h@x.org"},  # replaced whole; only "eq" selectors (type) would survive
    ]


def test_replace_on_a_missing_filtered_item_creates_it(scim: Scim) -> None:
    bare = scim.create("bob@acme.example.com")
    result = patch(
        scim,
        bare,
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "bob@acme.example.com"},
        {"op": "add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+351 9"},
    )
    assert result["emails"] == [{"type": "work", "value": "bob@acme.example.com"}]
    assert result["phoneNumbers"] == [{"type": "mobile", "value": "+351 9"}]
    no_target = scim.patch(
        f"/Users/{bare['id']}",
        [{"op": "replace", "path": 'addresses[locality co "x"].region', "value": "y"}],
    )
    assert_error(no_target, 400, "noTarget")


def test_no_path_values_with_dotted_and_urn_keys(scim: Scim, ann: dict[str, Any]) -> None:
    result = patch(
        scim,
        ann,
        {
            "op": "Replace",
            "value": {
                "name.familyName": "Smith",
                "displayName": "Ann Smith",
                f"{ENTERPRISE}:department": "Sales",
                f"{ENTERPRISE}:manager": "boss-id",
                "active": "True",
            },
        },
        {"op": "Add", "value": {ENTERPRISE: {"division": "EMEA"}, "title": "Lead"}},
    )
    assert result["name"] == {"givenName": "Ann", "familyName": "Smith"}
    assert result["displayName"] == "Ann Smith" and result["title"] == "Lead"
    assert result[ENTERPRISE] == {
        "department": "Sales",
        "costCenter": "7",
        "manager": {"value": "boss-id"},
        "division": "EMEA",
    }


def test_extension_paths(scim: Scim, ann: dict[str, Any]) -> None:
    result = patch(
        scim,
        ann,
        {"op": "add", "path": f"{ENTERPRISE}:manager", "value": [{"$ref": None, "value": "m-1"}]},
        {"op": "remove", "path": f"{ENTERPRISE}:costCenter"},
    )
    assert result[ENTERPRISE] == {"department": "R&D", "manager": {"value": "m-1"}}
    manager_gone = patch(scim, ann, {"op": "Remove", "path": f"{ENTERPRISE}:manager"})
    assert manager_gone[ENTERPRISE] == {"department": "R&D"}
    gone = patch(scim, ann, {"op": "remove", "path": ENTERPRISE})
    assert ENTERPRISE not in gone and gone["schemas"] == [
        "urn:ietf:params:scim:schemas:core:2.0:User"
    ]


def test_read_only_targets_are_ignored(scim: Scim, ann: dict[str, Any]) -> None:
    result = patch(
        scim,
        ann,
        {"op": "replace", "path": "id", "value": "mine"},
        {"op": "add", "path": "groups", "value": [{"value": "g"}]},
        {"op": "replace", "value": {"meta": {"version": "x"}, "title": "T"}},
    )
    assert result["id"] == ann["id"] and "groups" not in result and result["title"] == "T"


@pytest.mark.parametrize(
    ("operations", "scim_type"),
    [
        ([{"op": "merge", "path": "title", "value": "x"}], "invalidSyntax"),
        ([{"op": "remove"}], "noTarget"),
        ([{"op": "add", "value": "not an object"}], "invalidValue"),
        ([{"op": "add", "path": "nosuch", "value": "x"}], "invalidPath"),
        ([{"op": "add", "path": "name.nosuch", "value": "x"}], "invalidPath"),
        ([{"op": "add", "path": 'title[value eq "x"]', "value": "x"}], "invalidPath"),
        ([{"op": "add", "path": 'emails[type eq "work"', "value": "x"}], "invalidPath"),
        ([{"op": "add", "path": 'emails[nosuch eq "x"].value', "value": "x"}], "invalidPath"),
        ([{"op": "replace", "path": "active", "value": "perhaps"}], "invalidValue"),
        ([{"op": "remove", "path": "userName"}], "invalidValue"),
        ([{"op": "add", "path": 42, "value": "x"}], "invalidPath"),
        (
            [
                {"op": "add", "path": "emails", "value": [["a", "b"]]},
                {"op": "remove", "path": "emails", "value": "a"},
            ],
            "invalidValue",
        ),
        (["not an object"], "invalidSyntax"),
        ([], "invalidSyntax"),
    ],
)
def test_bad_operations_are_400_and_change_nothing(
    scim: Scim, ann: dict[str, Any], operations: list[Any], scim_type: str
) -> None:
    before = scim.get(f"/Users/{ann['id']}").get_json()
    if operations:  # a valid operation first: a later bad one must undo it too
        operations = [{"op": "add", "path": "title", "value": "T"}, *operations]
    assert_error(scim.patch(f"/Users/{ann['id']}", operations), 400, scim_type)
    assert scim.get(f"/Users/{ann['id']}").get_json() == before


def test_patching_user_name_onto_another_is_a_conflict(scim: Scim, ann: dict[str, Any]) -> None:
    scim.create("bob@acme.example.com")
    response = scim.patch(
        f"/Users/{ann['id']}",
        [{"op": "replace", "path": "userName", "value": "BOB@acme.example.com"}],
    )
    assert_error(response, 409, "uniqueness")
    taken_email = scim.put(
        f"/Users/{ann['id']}",
        user("ann@acme.example.com", emails=[{"value": "bob@acme.example.com", "primary": True}]),
    )
    assert_error(taken_email, 409, "uniqueness")


VALUE_FILTERS = [
    ('emails[value sw "ANN@"]', ["b@home.example.org", "c@x.org"]),
    ('emails[value ew ".org"]', ["ann@acme.example.com"]),
    ('emails[value co "home"]', ["ann@acme.example.com", "c@x.org"]),
    ("emails[primary eq true]", ["b@home.example.org", "c@x.org"]),
    ('emails[primary ne "True"]', ["ann@acme.example.com"]),
    ('emails[not (type eq "work")]', ["ann@acme.example.com"]),
    ('emails[type eq "home" or display pr]', ["ann@acme.example.com"]),
    ('emails[value gt "b" and value le "c@x.org"]', ["ann@acme.example.com"]),
    ('emails[value lt "b"]', ["b@home.example.org", "c@x.org"]),
    ('emails[value ge "c"]', ["ann@acme.example.com", "b@home.example.org"]),
    ("emails[type eq null]", ["ann@acme.example.com", "b@home.example.org"]),
    ('emails[type ne "work"]', ["ann@acme.example.com"]),
    # An item without "primary" has no value to equal false (it is not "primary": false).
    ("emails[primary eq false]", ["ann@acme.example.com", "b@home.example.org", "c@x.org"]),
    ("emails[not (primary eq false)]", []),
]


def test_value_filters_select_items_like_filters_select_users(scim: Scim) -> None:
    baseline = user(
        "ann@acme.example.com",
        emails=[
            {"value": "ann@acme.example.com", "type": "work", "primary": True},
            {"value": "b@home.example.org", "type": "home"},
            {"value": "c@x.org", "display": "C"},
        ],
    )
    target = scim.create(baseline["userName"], emails=baseline["emails"])
    for path, remaining in VALUE_FILTERS:
        assert scim.put(f"/Users/{target['id']}", baseline).status_code == 200
        result = patch(scim, target, {"op": "remove", "path": path})
        assert [e["value"] for e in result.get("emails", [])] == remaining, path
    # Refused like the same filter in a search (RFC 7644 section 3.12: invalidFilter applies
    # to PATCH path filters), not silently compared as text.
    for path in ["emails[primary gt true]", "emails[value eq 42]", 'emails[primary eq "x"]']:
        bad = scim.patch(f"/Users/{target['id']}", [{"op": "remove", "path": path}])
        assert_error(bad, 400, "invalidFilter")
