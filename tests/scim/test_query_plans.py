"""GET by id and the providers' ``userName eq`` probe are each one statement on an index
(the token check, the user, its values and its groups together)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from app.db import Database
from tests.scim.conftest import Scim


def statements_on_users(
    database: Database, call: Any, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, Any]]:
    """Every statement on ``directory_users`` that ``call`` runs: through SQLAlchemy, or as a
    :class:`~app.db.PlainRead` straight on the DBAPI cursor."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "directory_users" in statement:
            seen.append((statement, parameters))

    fetch = database.fetch

    def record_plain(statement: Any, values: Any) -> list[Any]:
        read = database.plain_read(statement)
        if "directory_users" in read.sql:
            seen.append((read.sql, read.parameters(values)))
        return fetch(statement, values)

    monkeypatch.setattr(database, "fetch", record_plain)
    event.listen(database.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    return seen


def plan(database: Database, statement: str, parameters: Any) -> str:
    with database.engine.connect() as connection:
        if database.dialect == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(str(row[-1]) for row in rows)
        connection.exec_driver_sql("ANALYZE")  # with statistics, as a server in use has them
        connection.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: ask if it *can*
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        return "\n".join(str(row[0]) for row in rows)


# PostgreSQL names the index; SQLite names its automatic index of the constraint by number,
# so there the plan is recognized by the index search on the constraint's columns.
INDEXES = {
    "by_id": ("uq_directory_users_resource_id", "(resource_id=?)"),
    "user_name": (
        "uq_directory_users_org_user_name_key",
        "(organization_id=? AND user_name_key=?)",
    ),
}


@pytest.mark.parametrize("lookup", sorted(INDEXES))
def test_lookups_are_one_indexed_statement(
    scim: Scim, database: Database, lookup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(5):
        scim.create(f"user{number}@acme.example.com", emails=[{"value": f"u{number}@x.org"}])
    target = scim.create("Probe@acme.example.com", emails=[{"value": "p@x.org"}])

    def call() -> None:
        if lookup == "by_id":
            response = scim.get(f"/Users/{target['id']}")
            assert response.get_json()["emails"] == [{"value": "p@x.org"}]
        else:
            response = scim.get("/Users", filter='userName eq "probe@ACME.example.com"')
            assert response.get_json()["Resources"][0]["emails"] == [{"value": "p@x.org"}]

    [(statement, parameters)] = statements_on_users(database, call, monkeypatch)
    explained = plan(database, statement, parameters)
    postgres_index, sqlite_search = INDEXES[lookup]
    if database.dialect == "sqlite":
        assert "SEARCH directory_users USING INDEX sqlite_autoindex_directory_users" in explained
        assert sqlite_search in explained, explained
        assert "SCAN" not in explained, explained  # no table is read whole, whatever its size
    else:
        assert postgres_index in explained, explained


def test_a_create_reads_what_it_must_check_in_one_indexed_statement(
    scim: Scim, database: Database
) -> None:
    """Before it writes, a create checks the userName's holder, a member with the e-mail and
    the organization's domains: one statement, each table searched by its constraint."""
    for number in range(5):
        scim.create(f"user{number}@acme.example.com")
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "members" in statement:
            seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        scim.create("probe@acme.example.com")
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    [(statement, parameters)] = seen
    assert "organization_domains" in statement and "directory_users" in statement
    explained = plan(database, statement, parameters)
    if database.dialect == "sqlite":
        for search in (
            "SEARCH directory_users USING COVERING INDEX sqlite_autoindex_directory_users",
            "SEARCH members USING COVERING INDEX sqlite_autoindex_members",
            "SEARCH organization_domains USING COVERING INDEX",
        ):
            assert search in explained, explained
        scanned = [line for line in explained.splitlines() if line.startswith("SCAN")]
        assert set(scanned) <= {"SCAN CONSTANT ROW", "SCAN anon_1"}, explained  # one row
    else:
        assert "uq_directory_users_org_user_name_key" in explained, explained
        assert "Seq Scan" not in explained, explained


def test_a_list_page_and_its_count_read_the_organizations_member_index(
    scim: Scim, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``startIndex`` deep into an organization skips rows on its (organization, member)
    index alone, and ``totalResults`` counts there: no member row is joined for them."""
    for number in range(6):
        scim.create(f"user{number}@acme.example.com")

    def call() -> None:
        page = scim.get("/Users", startIndex="3", count="2").get_json()
        assert (page["totalResults"], page["startIndex"], len(page["Resources"])) == (6, 3, 2)

    statements = statements_on_users(database, call, monkeypatch)
    skipping = [s for s in statements if "OFFSET" in s[0].upper()]
    counting = [s for s in statements if "count(" in s[0].lower()]
    assert len(skipping) == 1 and len(counting) == 1, statements
    for statement, parameters in (*skipping, *counting):
        assert "members" not in statement, statement
        explained = plan(database, statement, parameters)
        if database.dialect == "sqlite":
            assert "COVERING INDEX ix_directory_users_org_member" in explained, explained
        else:
            assert "ix_directory_users_org_member" in explained, explained
