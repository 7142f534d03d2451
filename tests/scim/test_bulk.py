"""``POST /scim/v2/Bulk``: each operation on its own, bulkId references, limits, and seats
running out in the middle of a large provisioning batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import select

from app.db import Database
from app.models import Alert, AlertKind, SeatEvent
from bench.bulk_order import ENTERPRISE_USER, manager_chain
from scim import bulk as bulk_module
from tests.factories import make_org
from tests.scim.conftest import BULK, GROUP, Scim, counts, issue_token, seats, user
from tests.scim.test_users import assert_error

BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"


def bulk(scim: Scim, operations: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    response = scim.post("/Bulk", {"schemas": [BULK], "Operations": operations, **extra})
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    assert body["schemas"] == [BULK_RESPONSE]
    return body


def create_op(name: str, bulk_id: str | None = None) -> dict[str, Any]:
    operation = {"method": "POST", "path": "/Users", "data": user(f"{name}@acme.example.com")}
    if bulk_id:
        operation["bulkId"] = bulk_id
    return operation


def test_a_group_created_with_members_created_in_the_same_request(scim: Scim) -> None:
    operations = [
        {  # listed first: it waits for the users it refers to
            "method": "POST",
            "path": "/Groups",
            "bulkId": "team",
            "data": {
                "schemas": [GROUP],
                "displayName": "Bulk Team",
                "members": [{"value": "bulkId:alice"}, {"value": "bulkId:bob"}],
            },
        },
        create_op("alice", "alice"),
        create_op("bob", "bob"),
        {
            "method": "PATCH",
            "path": "/Users/bulkId:bob",
            "data": {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "title", "value": "Lead"}],
            },
        },
    ]
    results = bulk(scim, operations)["Operations"]
    assert [r["status"] for r in results] == ["201", "201", "201", "200"]
    assert [r.get("bulkId") for r in results] == ["team", "alice", "bob", None]
    group = scim.get(results[0]["location"].split("/scim/v2")[1]).get_json()
    users = {
        scim.get(r["location"].split("/scim/v2")[1]).get_json()["userName"]: r for r in results[1:3]
    }
    assert [m["value"] for m in group["members"]] == [
        users[f"{n}@acme.example.com"]["location"].rsplit("/", 1)[1] for n in ("alice", "bob")
    ]
    assert results[3]["version"] == 'W/"2"'


def test_failures_stay_alone_and_fail_on_errors_stops(scim: Scim) -> None:
    scim.create("taken@acme.example.com")
    results = bulk(
        scim,
        [
            create_op("taken"),
            create_op("fresh"),
            {"method": "DELETE", "path": "/Users/no-such-id"},
            {"method": "GET", "path": "/Users"},
            {"method": "POST", "path": "/Groups", "data": {"members": [{"value": "bulkId:gone"}]}},
        ],
    )["Operations"]
    assert [r["status"] for r in results] == ["409", "201", "404", "400", "409"]
    assert results[0]["response"]["scimType"] == "uniqueness"
    stopped = bulk(
        scim, [create_op("taken"), create_op("fresh"), create_op("never")], failOnErrors=2
    )
    assert [r["status"] for r in stopped["Operations"]] == ["409", "409"]
    assert (
        scim.get("/Users", filter='userName eq "never@acme.example.com"').get_json()["totalResults"]
        == 0
    )


def test_limits_answer_413(scim: Scim) -> None:
    too_many = [{"method": "DELETE", "path": f"/Users/{i}"} for i in range(1001)]
    assert_error(scim.post("/Bulk", {"schemas": [BULK], "Operations": too_many}), 413)
    config = scim.get("/ServiceProviderConfig").get_json()["bulk"]
    padding = "x" * config["maxPayloadSize"]
    oversized = {"schemas": [BULK], "Operations": [create_op("big", "b")], "pad": padding}
    assert_error(scim.post("/Bulk", oversized), 413)
    assert_error(scim.post("/Bulk", {"Operations": []}), 400, "invalidSyntax")


def test_a_thousand_users_into_nine_hundred_free_seats(client: Any, database: Database) -> None:
    org_id = make_org(database, "bigco", seats=900)
    scim = Scim(client, issue_token(database, "bigco"))
    operations = [
        {
            "method": "POST",
            "path": "/Users",
            "bulkId": f"u{i}",
            "data": {"userName": f"user{i}@bigco.example.com", "active": True},
        }
        for i in range(1000)
    ]
    results = bulk(scim, operations)["Operations"]
    statuses = [r["status"] for r in results]
    assert statuses == ["201"] * 900 + ["403"] * 100
    assert {r["response"]["scimType"] for r in results[900:]} == {"userLimitReached"}
    assert seats(database, org_id) == (900, 900)
    tally = counts(database, org_id)
    assert tally["directory_users"] == 900 and tally["events.refuse"] == 100
    with database.unit_of_work(write=False) as session:
        digests = session.scalars(
            select(Alert).where(
                Alert.organization_id == org_id, Alert.kind == AlertKind.SEATS_REFUSED.value
            )
        ).all()
        assert len(digests) == 1 and digests[0].details["refusals"] == 100
        refused = session.scalars(
            select(SeatEvent.subject).where(SeatEvent.kind == "refuse").order_by(SeatEvent.id)
        ).all()
        assert refused[0] == "user900@bigco.example.com"


def test_a_cycle_answers_409_for_its_operations_and_the_rest_run(scim: Scim) -> None:
    def group(bulk_id: str, *members: str) -> dict[str, Any]:
        data = {"schemas": [GROUP], "displayName": bulk_id, "members": []}
        data["members"] = [{"value": f"bulkId:{m}"} for m in members]
        return {"method": "POST", "path": "/Groups", "bulkId": bulk_id, "data": data}

    results = bulk(
        scim,
        [group("a", "b"), group("b", "a"), group("c", "a"), create_op("free", "free")],
    )["Operations"]
    assert [r["status"] for r in results] == ["409", "409", "409", "201"]
    assert {r["response"]["scimType"] for r in results[:3]} == {"invalidValue"}
    assert "cycle" in results[0]["response"]["detail"]


def test_a_thousand_operations_each_naming_the_next_are_each_read_once(
    client: Any, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19: 1000 operations, each user's manager the next one by bulkId, listed so that
    each waits for a later one, once took 30 s (every pass read every waiting operation
    again: 500,000 reads) and a worker timeout. Now one topological order: every
    operation's references are read once, and every reference resolves. (Its speed in each
    order is measured by ``python -m bench.bulk_order``, never here.)"""
    make_org(database, "chain", seats=1000)
    scim = Scim(client, issue_token(database, "chain"))
    examined: list[str] = []
    references = bulk_module._references

    def counted(value: Any) -> set[str]:
        if isinstance(value, Mapping) and "method" in value:  # a whole operation
            examined.append(str(value.get("bulkId")))
        return references(value)

    monkeypatch.setattr(bulk_module, "_references", counted)
    operations = manager_chain(1000, "chain.example.com", "reverse")
    results = bulk(scim, operations)["Operations"]

    assert len(examined) == len(operations) == len(set(examined))
    assert [r["status"] for r in results] == ["201"] * 1000
    assert [r["bulkId"] for r in results] == [op["bulkId"] for op in operations]
    ids = {r["bulkId"]: r["location"].rsplit("/", 1)[1] for r in results}
    managers = {}
    for start in range(1, 1001, 200):
        page = scim.get("/Users", startIndex=start, count=200).get_json()["Resources"]
        for resource in page:
            manager = resource[ENTERPRISE_USER].get("manager")
            managers[resource["id"]] = manager["value"] if manager else None
    assert managers == {ids[f"u{i}"]: ids.get(f"u{i + 1}") for i in range(1000)}


def test_a_bulk_id_that_is_not_a_string_is_no_bulk_id(scim: Scim) -> None:
    """Found while reworking the order: a list as ``bulkId`` once answered 500."""
    operation = create_op("odd")
    operation["bulkId"] = ["odd"]
    results = bulk(scim, [operation])["Operations"]
    assert [(r["status"], r.get("bulkId")) for r in results] == [("201", None)]
