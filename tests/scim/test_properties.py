"""Property-based tests: whatever a client sends, no 5xx and no partial write.

Each test keeps one application and database per engine across examples, so the properties
are checked against an accumulating, realistic state.
"""

from __future__ import annotations

import json
import os
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import Database
from tests.scim.conftest import CORE, ENTERPRISE, PATCH_OP, Scim, counts

SETTINGS = settings(
    max_examples=int(os.environ.get("SEATGATE_TEST_EXAMPLES", "60")),  # raise it to hunt bugs
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

ATTRIBUTE_NAMES = [
    "userName", "externalId", "displayName", "active", "title", "nickName", "name",
    "name.givenName", "name.familyName", "emails", "emails.value", "emails.type",
    "emails.primary", "phoneNumbers", "addresses", "addresses.locality", "roles", "groups",
    "id", "meta", "meta.created", "meta.lastModified", "meta.resourceType", "locale",
    f"{ENTERPRISE}:department", f"{ENTERPRISE}:manager", f"{ENTERPRISE}:manager.value",
    ENTERPRISE, "nosuch", "x.y",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["True", "False", "work", "", "a@b.example.com", "\x00", "\ud800", "é" * 300])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["value", "type", "primary", "display", "$ref", "x"])
            | st.text(max_size=8),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def any_case(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.lower(), name.upper()])


keys = st.sampled_from(ATTRIBUTE_NAMES).flatmap(any_case) | st.text(max_size=10)
bodies = st.dictionaries(keys, json_values, max_size=8).map(lambda b: {"schemas": [CORE], **b})
bodies_with_names = st.builds(
    lambda body, name: {**body, "userName": name},
    bodies,
    st.text(alphabet=string.ascii_letters + "@.-_", min_size=1, max_size=30) | st.text(max_size=5),
)

literals = st.sampled_from(
    [
        *['"work"', "true", "False", "null", "42", '"a@b"', '""', '"2020-01-01T00:00:00Z"'],
        *['"9999-12-31T23:59:59-14:00"', "1e999", '"\\u0000"', '"\\ud800"'],
    ]
)
operators = st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "EQ", "xx"])
comparisons = st.builds(
    lambda a, o, v: f"{a} {o} {v}", st.sampled_from(ATTRIBUTE_NAMES), operators, literals
) | st.builds(lambda a: f"{a} pr", st.sampled_from(ATTRIBUTE_NAMES))
filters = st.recursive(
    comparisons,
    lambda inner: (
        st.builds(lambda a, b: f"{a} and {b}", inner, inner)
        | st.builds(lambda a, b: f"({a} or {b})", inner, inner)
        | st.builds(lambda a: f"not ({a})", inner)
        | st.builds(lambda a: f"emails[{a}]", inner)
    ),
    max_leaves=6,
) | st.text(max_size=40)

operations = st.fixed_dictionaries(
    {
        "op": st.sampled_from(["add", "Replace", "remove", "REMOVE", "move"]),
        "value": json_values | bodies,
    },
    optional={
        "path": st.sampled_from(
            [*ATTRIBUTE_NAMES, 'emails[type eq "work"].value', 'emails[value co "@"]', "x[y eq 1]"]
        )
        | st.text(max_size=20)
    },
)  # fmt: skip


def assert_scim_status(response: Any, allowed: set[int]) -> None:
    assert response.status_code < 500, response.get_json()
    assert response.status_code in allowed, response.get_json()
    if response.status_code >= 400:
        assert response.get_json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


@SETTINGS
@given(body=bodies_with_names | bodies)
def test_random_bodies_never_fail_and_never_half_write(
    scim: Scim, database: Database, org_id: int, body: dict[str, Any]
) -> None:
    before = counts(database, org_id)
    response = scim.post("/Users", body)
    assert_scim_status(response, {201, 400, 403, 409})
    after = counts(database, org_id)
    if response.status_code == 201:
        assert after["directory_users"] == before["directory_users"] + 1
        document = response.get_json()
        assert scim.get(f"/Users/{document['id']}").get_json() == document
    elif response.status_code == 403:
        assert after.pop("events.refuse") == before.pop("events.refuse", 0) + 1
        assert after == before
    else:
        assert after == before


@pytest.fixture
def target(scim: Scim) -> str:
    """A user to filter and patch; fixtures run once per test, not once per example."""
    created = scim.create(
        "p@acme.example.com", title="t", emails=[{"value": "p@x.org", "type": "work"}]
    )
    return f"/Users/{created['id']}"


@SETTINGS
@given(text=filters, sort_by=st.none() | st.sampled_from(ATTRIBUTE_NAMES))
def test_random_filters_answer_a_list_or_invalid_filter(
    scim: Scim, target: str, text: str, sort_by: str | None
) -> None:
    query: dict[str, Any] = {"filter": text}
    if sort_by:
        query["sortBy"] = sort_by
    response = scim.get("/Users", **query)
    assert_scim_status(response, {200, 400})
    if response.status_code == 400:
        assert response.get_json()["scimType"] in {"invalidFilter", "invalidValue"}


@SETTINGS
@given(ops=st.lists(operations, min_size=1, max_size=4))
def test_random_patches_apply_whole_or_not_at_all(
    scim: Scim, database: Database, org_id: int, target: str, ops: list[dict[str, Any]]
) -> None:
    path = target
    before = scim.get(path).get_json()
    seats_before = counts(database, org_id)
    response = scim.request("PATCH", path, {"schemas": [PATCH_OP], "Operations": ops})
    assert_scim_status(response, {200, 400, 403, 409})
    if response.status_code == 200:
        assert scim.get(path).get_json() == response.get_json()
        json.dumps(response.get_json())
    else:
        assert scim.get(path).get_json() == before
        after = counts(database, org_id)
        after.pop("events.refuse", None)
        seats_before.pop("events.refuse", None)
        assert after == seats_before


search_bodies = st.fixed_dictionaries(
    {"schemas": st.just(["urn:ietf:params:scim:api:messages:2.0:SearchRequest"])},
    optional={
        "filter": filters | json_values,
        "sortBy": st.sampled_from(ATTRIBUTE_NAMES) | json_values,
        "sortOrder": st.sampled_from(["ascending", "DESCENDING"]) | json_values,
        "startIndex": st.integers() | st.floats() | json_values,
        "count": st.integers() | st.floats() | json_values,
        "attributes": st.lists(st.sampled_from(ATTRIBUTE_NAMES)) | json_values,
        "excludedAttributes": st.lists(st.sampled_from(ATTRIBUTE_NAMES)) | json_values,
    },
)


@SETTINGS
@given(body=search_bodies)
def test_random_searches_answer_a_list_or_a_400(scim: Scim, body: dict[str, Any]) -> None:
    assert_scim_status(scim.post("/Users/.search", body), {200, 400})
