"""The RFC 7644 filter grammar, and filters executed in SQL on both engines."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from app.db import Database
from scim.errors import InvalidFilter, InvalidPath
from scim.filters import (
    And,
    AttrPath,
    Compare,
    Not,
    Or,
    PatchPath,
    Present,
    ValuePath,
    parse_filter,
    parse_patch_path,
)
from tests.scim.conftest import ENTERPRISE, GROUP, Scim
from tests.scim.test_users import assert_error

USER_NAME = AttrPath(None, "userName")


def test_precedence_not_then_and_then_or() -> None:
    tree = parse_filter('title pr or userName eq "a" and not (active eq false)')
    assert tree == Or(
        Present(AttrPath(None, "title")),
        And(Compare(USER_NAME, "eq", "a"), Not(Compare(AttrPath(None, "active"), "eq", False))),
    )


def test_parentheses_group() -> None:
    tree = parse_filter('(title pr or nickName pr) AND userName SW "j"')
    assert tree == And(
        Or(Present(AttrPath(None, "title")), Present(AttrPath(None, "nickName"))),
        Compare(USER_NAME, "sw", "j"),
    )


def test_value_paths_sub_attributes_and_urns() -> None:
    tree = parse_filter(
        'emails[type eq "work" and value co "@x.com"] or '
        f'{ENTERPRISE}:manager.value eq "m1" or name.familyName ge "M"'
    )
    assert tree == Or(
        Or(
            ValuePath(
                AttrPath(None, "emails"),
                And(
                    Compare(AttrPath(None, "type"), "eq", "work"),
                    Compare(AttrPath(None, "value"), "co", "@x.com"),
                ),
            ),
            Compare(AttrPath(ENTERPRISE, "manager", "value"), "eq", "m1"),
        ),
        Compare(AttrPath(None, "name", "familyName"), "ge", "M"),
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"with \\"quotes\\" and \\u00e9"', 'with "quotes" and é'),
        ("true", True),
        ("False", False),
        ("null", None),
        ("42", 42),
        ("-1.5", -1.5),
    ],
)
def test_literals(text: str, value: Any) -> None:
    assert parse_filter(f"x eq {text}") == Compare(AttrPath(None, "x"), "eq", value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "userName",
        "userName eq",
        'userName equals "a"',
        'userName eq "unterminated',
        "userName eq unquoted",
        'userName eq "a" and',
        '(userName eq "a"',
        'userName eq "a")',
        'not userName eq "a"',
        'emails[type eq "work"',
        'emails[type eq "work"]]',
        'name.familyName[value eq "x"]',
        '1abc eq "x"',
        'a.b.c eq "x"',
        'userName eq "a" or or title pr',
        "(" * 40 + "title pr" + ")" * 40,
        'title eq "' + "x" * 5000 + '"',
    ],
)
def test_malformed_filters_are_rejected(text: str) -> None:
    with pytest.raises(InvalidFilter):
        parse_filter(text)


def test_patch_paths() -> None:
    assert parse_patch_path("name.givenName") == PatchPath(AttrPath(None, "name", "givenName"))
    assert parse_patch_path('emails[type eq "work"].value') == PatchPath(
        AttrPath(None, "emails"), Compare(AttrPath(None, "type"), "eq", "work"), "value"
    )
    assert parse_patch_path(f"{ENTERPRISE}:department") == PatchPath(
        AttrPath(ENTERPRISE, "department")
    )
    for bad in ['emails[type eq "work"', 'emails[type eq "work"]value', "emails[]", "a b"]:
        with pytest.raises(InvalidPath):
            parse_patch_path(bad)


PEOPLE: list[dict[str, Any]] = [
    {
        "userName": "Ann.Lee@Acme.example.com",
        "externalId": "EXT-1",
        "active": True,
        "displayName": "Ann Lee",
        "title": "Engineer",
        "name": {"givenName": "Ann", "familyName": "Lee"},
        "emails": [
            {"value": "ann@acme.example.com", "type": "work", "primary": True},
            {"value": "ann@home.example.org", "type": "home"},
        ],
        ENTERPRISE: {"department": "R&D", "manager": {"value": "boss"}},
    },
    {
        "userName": "bob@acme.example.com",
        "externalId": "ext-1",
        "active": False,
        "name": {"givenName": "Bob", "familyName": "Stone"},
        "emails": [{"value": "bob@home.example.org", "type": "home"}],
        "phoneNumbers": [{"value": "+351 900", "type": "mobile"}],
        ENTERPRISE: {"department": "Sales"},
    },
    {
        "userName": "cy@acme.example.com",
        "title": "engineering manager",
        "name": {"familyName": "Zed"},
    },
]

CASES: list[tuple[str, set[str]]] = [
    ('userName eq "ann.lee@acme.example.com"', {"ann"}),
    ('USERNAME EQ "BOB@ACME.EXAMPLE.COM"', {"bob"}),
    ('userName sw "ANN"', {"ann"}),
    ('userName ew ".com"', {"ann", "bob", "cy"}),
    ('userName co "@acme"', {"ann", "bob", "cy"}),
    ('userName ne "bob@acme.example.com"', {"ann", "cy"}),
    ('userName gt "b"', {"bob", "cy"}),
    ('userName le "bob@acme.example.com"', {"ann", "bob"}),
    ('externalId eq "ext-1"', {"bob"}),
    ('externalId eq "EXT-1"', {"ann"}),
    ('externalId co "XT"', {"ann"}),
    ('externalId sw "e"', {"bob"}),
    ("externalId pr", {"ann", "bob"}),
    ("not (externalId pr)", {"cy"}),
    ('displayName eq "ann lee"', {"ann"}),
    ('title co "ENGINEER"', {"ann", "cy"}),
    ('title eq "engineer"', {"ann"}),
    ('title ne "engineer"', {"bob", "cy"}),
    ('title pr and not (title co "manager")', {"ann"}),
    ("active eq true", {"ann"}),
    ('active eq "False"', {"bob"}),
    ("active ne true", {"bob", "cy"}),  # cy's active is unassigned: its resource has none
    ("active pr", {"ann", "bob"}),
    ('name.familyName eq "stone"', {"bob"}),
    ("name.givenName pr", {"ann", "bob"}),
    ("name pr", {"ann", "bob", "cy"}),
    ('emails eq "ann@acme.example.com"', {"ann"}),
    ('emails co "@home"', {"ann", "bob"}),
    ('emails.type eq "work"', {"ann"}),
    ('emails[type eq "home" and value sw "bob"]', {"bob"}),
    ('emails[type eq "work" and value co "home"]', set()),
    ("emails[primary eq true]", {"ann"}),
    ("emails pr", {"ann", "bob"}),
    ('phoneNumbers pr or emails[type eq "work"]', {"ann", "bob"}),
    ('not (emails[type eq "home"])', {"cy"}),
    (f'{ENTERPRISE}:department eq "r&d"', {"ann"}),
    (f'{ENTERPRISE}:manager.value eq "boss"', {"ann"}),
    ('department eq "sales"', {"bob"}),
    ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "cy"', {"cy"}),
    ('meta.resourceType eq "User"', {"ann", "bob", "cy"}),
    ('meta.created gt "2000-01-01T00:00:00Z"', {"ann", "bob", "cy"}),
    ('meta.lastModified lt "2000-01-01T00:00:00Z"', set()),
    ('groups eq "g1"', set()),
    (
        'userName eq "a" or (title pr and (active eq true or name.familyName eq "zed"))',
        {"ann", "cy"},
    ),
    ("title eq null", {"bob"}),
]


def test_filters_select_the_right_users_in_sql(scim: Scim, database: Database) -> None:
    for person in PEOPLE:
        scim.create(person["userName"], **{k: v for k, v in person.items() if k != "userName"})
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        for text, expected in CASES:
            response = scim.get("/Users", filter=text)
            assert response.status_code == 200, (text, response.get_json())
            found = {
                u["userName"].split("@")[0].split(".")[0].lower()
                for u in response.get_json()["Resources"]
            }
            assert found == expected, text
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    literals = ["ann.lee@acme.example.com", "@home", "r&d", "stone"]
    assert not [s for s in statements for literal in literals if literal in s.lower()]


@pytest.mark.parametrize(
    "text",
    [
        'userName eq "a" garbage',
        'nosuchattr eq "x"',
        'name.nosuch eq "x"',
        'name eq "x"',
        "active gt true",
        'active eq "maybe"',
        "userName eq 42",
        'meta.created eq "yesterday"',
        'meta.created co "2020"',
        'title eq "a" and emails[value eq "x" and addresses[type eq "w"]]',
        'emails[nosuch eq "x"]',
        'title[value eq "x"]',
        'urn:example:other:2.0:User:thing eq "x"',
        "title gt null",
    ],
)
def test_bad_filters_are_400_invalid_filter(scim: Scim, text: str) -> None:
    assert_error(scim.get("/Users", filter=text), 400, "invalidFilter")


def test_sort_by_multi_valued_uses_the_primary_value(scim: Scim) -> None:
    for person in PEOPLE:
        scim.create(person["userName"], **{k: v for k, v in person.items() if k != "userName"})
    listed = scim.get("/Users", sortBy="emails", sortOrder="descending").get_json()
    assert [u["userName"][0] for u in listed["Resources"]] == ["b", "A", "c"]
    assert_error(scim.get("/Users", sortBy="nosuch"), 400, "invalidFilter")


def ids(scim: Scim, resource: str, text: str) -> set[str]:
    response = scim.get(f"/{resource}", filter=text)
    assert response.status_code == 200, (text, response.get_json())
    return {r["id"] for r in response.get_json()["Resources"]}


def test_case_insensitive_attributes_fold_every_letter_as_python_does(scim: Scim) -> None:
    """SQLite's lower() folds ASCII only, and PostgreSQL's follows the database's locale one
    letter at a time (no final sigma, İ to i): a value with non-ASCII capitals once failed
    to match even itself."""
    created = scim.create(
        "emile@acme.example.com",
        title="ÉMILE",
        displayName="İlker",
        name={"givenName": "ΟΔΟΣ", "familyName": "STRAẞE"},
    )
    for text in [
        'title eq "ÉMILE"',
        'title eq "émile"',
        'title co "MIL" and title sw "é"',
        'displayName eq "İlker"',
        'displayName eq "i̇lker"',
        'name.givenName eq "ΟΔΟΣ"',
        'name.givenName eq "οδος"',
        'name.givenName ew "ΔΟΣ"',  # a final sigma, lower-cased in its context as Python does
        'name.familyName eq "straße"',
        'title gt "f"',  # code point order ("é" after "f"), whatever the database collation
    ]:
        assert ids(scim, "Users", text) == {created["id"]}, text
    for text in ['title eq "emile"', 'name.familyName eq "strasse"', 'title lt "f"']:
        assert ids(scim, "Users", text) == set(), text


def test_an_unstated_active_is_unassigned_to_filters_as_in_the_resource(scim: Scim) -> None:
    """A user created without ``active`` holds a seat but its resource has no ``active``;
    filters read the resource (RFC 7644 section 3.4.2.2)."""
    unstated = scim.create("u@acme.example.com")
    assert "active" not in unstated
    stated = scim.create("s@acme.example.com", active=True)
    inactive = scim.create("i@acme.example.com", active=False)
    assert ids(scim, "Users", "active pr") == {stated["id"], inactive["id"]}
    assert ids(scim, "Users", "active eq true") == {stated["id"]}
    assert ids(scim, "Users", "active ne true") == {unstated["id"], inactive["id"]}
    assert ids(scim, "Users", "not (active eq false)") == {unstated["id"], stated["id"]}


def test_eq_null_on_a_multi_valued_attribute_matches_resources_without_any(scim: Scim) -> None:
    """RFC 7643 section 2.5: an unassigned attribute and null are the same state."""
    bare = scim.create("bare@acme.example.com")
    typed = scim.create("t@acme.example.com", emails=[{"value": "t@x.org", "type": "work"}])
    untyped = scim.create("n@acme.example.com", emails=[{"value": "n@x.org"}])
    group = scim.post("/Groups", {"schemas": [GROUP], "displayName": "G"}).get_json()
    scim.patch(f"/Groups/{group['id']}", [{"op": "add", "path": "members", "value": [
        {"value": typed["id"]}]}])  # fmt: skip
    assert ids(scim, "Users", "emails.type eq null") == {bare["id"], untyped["id"]}
    assert ids(scim, "Users", "emails eq null") == {bare["id"]}
    assert ids(scim, "Users", "emails.type ne null") == {typed["id"]}
    assert ids(scim, "Users", 'emails.type ne "work"') == {bare["id"], untyped["id"]}
    assert ids(scim, "Users", "groups.display eq null") == {bare["id"], untyped["id"]}
    assert ids(scim, "Users", "emails[type eq null]") == {untyped["id"]}
    empty = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Empty"}).get_json()
    assert ids(scim, "Groups", "members.value eq null") == {empty["id"]}
    assert ids(scim, "Groups", "members eq null") == {empty["id"]}
    assert ids(scim, "Groups", f'members.value ne "{typed["id"]}"') == {empty["id"]}


def test_member_ids_compare_case_insensitively_as_their_schema_says(scim: Scim) -> None:
    """RFC 7643 declares ``groups.value`` and ``members.value`` caseExact false (so do this
    server's /Schemas); ``id`` itself is case-exact."""
    member = scim.create("m@acme.example.com")
    group = scim.post(
        "/Groups", {"schemas": [GROUP], "displayName": "G", "members": [{"value": member["id"]}]}
    ).get_json()
    upper_group, upper_member = group["id"].upper(), member["id"].upper()
    assert ids(scim, "Users", f'groups.value eq "{upper_group}"') == {member["id"]}
    assert ids(scim, "Users", f'groups[value sw "{upper_group[:8]}"]') == {member["id"]}
    assert ids(scim, "Groups", f'members.value eq "{upper_member}"') == {group["id"]}
    assert ids(scim, "Groups", f'members[value eq "{upper_member}"]') == {group["id"]}
    assert ids(scim, "Groups", f'id eq "{upper_group}"') == set()
    assert ids(scim, "Users", f'id eq "{upper_member}"') == set()


def test_a_complex_value_with_only_empty_parts_is_not_present(scim: Scim) -> None:
    """RFC 7644 section 3.4.2.2: ``pr`` wants "a non-empty node for complex attributes"."""
    empty = scim.create(
        "e@acme.example.com",
        name={"givenName": ""},
        emails=[{"display": ""}],
        **{ENTERPRISE: {"manager": {"value": ""}}},
    )
    full = scim.create(
        "f@acme.example.com",
        name={"familyName": "Lee"},
        emails=[{"type": "work"}],
        **{ENTERPRISE: {"manager": {"value": "boss"}}},
    )
    assert ids(scim, "Users", "name pr") == {full["id"]}
    assert ids(scim, "Users", "emails pr") == {full["id"]}
    assert ids(scim, "Users", f"{ENTERPRISE}:manager pr") == {full["id"]}
    assert ids(scim, "Users", "not (name pr)") == {empty["id"]}
