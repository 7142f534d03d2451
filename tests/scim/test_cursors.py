"""Cursor paging (RFC 9865) of Users and Groups, beside index paging: every resource once,
even while others are created and deleted between pages."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import delete, event

from app.db import Database
from app.models import Member
from tests.scim.conftest import Scim, user
from tests.scim.test_groups import make_group
from tests.scim.test_users import assert_error


def walk(scim: Scim, path: str, count: int, between: Any = None) -> list[str]:
    """Follow nextCursor to the end; ``between`` runs after each page."""
    seen: list[str] = []
    cursor = ""
    while True:
        body = scim.get(path, cursor=cursor, count=count).get_json()
        assert "startIndex" not in body and body["itemsPerPage"] == len(body["Resources"])
        seen += [r["id"] for r in body["Resources"]]
        if between:
            between()
        if "nextCursor" not in body:
            return seen
        cursor = body["nextCursor"]


def test_user_cursors_survive_concurrent_changes(scim: Scim) -> None:
    first = [scim.create(f"u{i}@acme.example.com")["id"] for i in range(5)]
    added: list[str] = []

    def churn() -> None:
        added.append(scim.create(f"late{len(added)}@acme.example.com")["id"])
        if len(added) == 1:
            assert scim.delete(f"/Users/{first[0]}").status_code == 204  # already served

    seen = walk(scim, "/Users", 2, churn)
    assert seen[:5] == first and len(seen) == len(set(seen))
    assert set(seen) <= set(first + added) and seen[5:] == added[: len(seen) - 5]
    config = scim.get("/ServiceProviderConfig").get_json()
    assert config["pagination"]["cursor"] is True and config["pagination"]["index"] is True


def test_group_cursors_and_refusals(scim: Scim) -> None:
    ids = [make_group(scim, f"G{i}")["id"] for i in range(3)]
    assert walk(scim, "/Groups", 2) == ids
    body = scim.get("/Groups", cursor="", count=2, filter='displayName eq "G1"').get_json()
    assert body["totalResults"] == 1 and "nextCursor" not in body
    assert_error(scim.get("/Users", cursor="not-a-cursor"), 400, "invalidCursor")
    assert_error(scim.get("/Groups", cursor="", startIndex=2), 400, "invalidValue")
    assert_error(scim.get("/Users", cursor="", sortBy="userName"), 400, "invalidValue")
    assert scim.get("/Users", startIndex=1, count=1).get_json()["startIndex"] == 1
    scim.post("/Users", user("a@acme.example.com"))
    search = scim.post(
        "/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "count": 2,
            "startIndex": 3,
        },
    ).get_json()
    assert search["totalResults"] == 4 and [
        r["meta"]["resourceType"] for r in search["Resources"]
    ] == [
        "Group",
        "Group",
    ]


def test_a_user_deleted_while_a_page_is_read_is_left_out(scim: Scim, database: Database) -> None:
    """The page's ids are read first, then its users: a user deleted in between (another
    request's DELETE, committed meanwhile) is left out of the page, as if deleted just
    before it, where the engine's snapshot lets the second read see the delete; never a 500.
    """
    ids = [scim.create(f"user{number}@acme.example.com")["id"] for number in range(3)]
    deleted: list[str] = []

    def delete_after_the_ids(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not deleted and "OFFSET" in statement.upper() and "count(" not in statement:
            deleted.append(ids[1])
            with database.unit_of_work() as session:  # a connection and commit of its own
                session.execute(delete(Member).where(Member.email == "user1@acme.example.com"))

    event.listen(database.engine, "after_cursor_execute", delete_after_the_ids)
    try:
        page = scim.get("/Users", startIndex="1", count="2")
    finally:
        event.remove(database.engine, "after_cursor_execute", delete_after_the_ids)
    assert page.status_code == 200 and deleted
    served = [resource["id"] for resource in page.get_json()["Resources"]]
    if database.dialect == "postgresql":  # each statement of a read sees its own snapshot
        assert served == [ids[0]]
    else:  # one read transaction, one snapshot: the page as it was when it began
        assert served == ids[:2]
    assert scim.get(f"/Users/{ids[1]}").status_code == 404


def cursor_carrying(key: object) -> str:
    """A cursor in this server's format around ``key``, whatever it is."""
    return base64.urlsafe_b64encode(f"after:{key}".encode()).decode().rstrip("=")


def test_a_cursor_past_the_key_column_or_not_in_ascii_digits_is_invalid(scim: Scim) -> None:
    """Issue 19: a cursor past 2**31-1 answered 500 on PostgreSQL (an INTEGER key), past
    2**63 on SQLite too; one in other Unicode digits (``٣``) was read as a number."""
    scim.create("a@acme.example.com")
    search = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}
    for key in (2**31, 2**63, 2**64 + 1, 10**40, "²", "٣", "-1", "1_0", "+5", ""):
        cursor = cursor_carrying(key)
        for path in ("/Users", "/Groups"):
            assert_error(scim.get(path, cursor=cursor), 400, "invalidCursor")
        assert_error(
            scim.post("/Users/.search", {**search, "cursor": cursor}), 400, "invalidCursor"
        )
    last = scim.get("/Users", cursor=cursor_carrying(2**31 - 1)).get_json()
    assert last["totalResults"] == 1 and last["Resources"] == [] and "nextCursor" not in last
