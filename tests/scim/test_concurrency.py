"""Concurrent provisioning over real HTTP: never more seats than bought (I1), never a
duplicate user, never a 500."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from app.ledger import recount
from tests.factories import make_org
from tests.scim.conftest import CORE, LiveServer, issue_token, seats

WORKERS = 8


def test_concurrent_creates_never_oversell(live: LiveServer) -> None:
    org_id = make_org(live.database, "rush", seats=3)
    token = issue_token(live.database, "rush")

    def create(number: int) -> int:
        status, _ = live.call(
            "POST", "/Users", token, {"schemas": [CORE], "userName": f"u{number}@rush.example.com"}
        )
        return status

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = Counter(pool.map(create, range(10)))
    assert statuses == {201: 3, 403: 7}
    assert seats(live.database, org_id) == (3, 3)
    with live.database.unit_of_work(write=False) as session:
        assert recount(session, org_id).consistent


def test_concurrent_duplicates_create_one_user(live: LiveServer) -> None:
    make_org(live.database, "twins", seats=10)
    token = issue_token(live.database, "twins")

    def create(number: int) -> int:
        name = "Same@twins.example.com" if number % 2 else "same@TWINS.example.com"
        status, body = live.call("POST", "/Users", token, {"schemas": [CORE], "userName": name})
        assert status in {201, 409}, body
        return status

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = Counter(pool.map(create, range(8)))
    assert statuses == {201: 1, 409: 7}
    status, listed = live.call("GET", "/Users", token)
    assert status == 200 and listed["totalResults"] == 1
