"""SCIM request log rows are buffered and written in batches, never lost to a database outage.

The recorder runs against the real database of each engine; the outage is a real one for the
log table (renamed away and back), not a mock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text

from app.connection_logs import ScimRequestRecorder, scim_request_row
from app.db import Database
from app.models import ScimRequestLog
from app.settings import DatabaseSettings
from tests.factories import kill_connections_to, make_org


def row(org_id: int, number: int) -> dict[str, object]:
    return scim_request_row(
        org_id,
        method="GET",
        path=f"/scim/v2/Users/{number}",
        status=200,
        scim_type=None,
        latency_ms=1,
        body={"userName": "jdoe", "password": "hunter2"},
        request_id=f"req-{number}",
    )


def stored_paths(database: Database) -> list[str]:
    with database.unit_of_work(write=False) as session:
        return list(session.scalars(select(ScimRequestLog.path).order_by(ScimRequestLog.id)))


@pytest.fixture
def org_id(database: Database) -> int:
    return make_org(database, "acme", seats=2)


@pytest.fixture
def recorder(database: Database) -> Iterator[ScimRequestRecorder]:
    # A long interval: the thread never flushes during the test, only explicit calls do.
    recorder = ScimRequestRecorder(database, interval=3600)
    yield recorder
    recorder.close()


def test_rows_wait_in_the_buffer_and_one_flush_writes_them_in_order(
    database: Database, recorder: ScimRequestRecorder, org_id: int
) -> None:
    for number in range(3):
        recorder.record(row(org_id, number))
    assert stored_paths(database) == []
    assert recorder.flush() == 3
    assert stored_paths(database) == [f"/scim/v2/Users/{n}" for n in range(3)]
    with database.unit_of_work(write=False) as session:
        body = session.scalar(select(ScimRequestLog.body).limit(1))
    assert body == {"userName": "jdoe", "password": "[redacted]"}
    assert recorder.flush() == 0


@pytest.mark.postgresql_only  # a server-side connection to kill exists on PostgreSQL only
def test_rows_whose_connection_died_are_kept_and_written_on_a_new_one(
    database: Database, recorder: ScimRequestRecorder, org_id: int
) -> None:
    recorder.record(row(org_id, 1))
    assert recorder.flush() == 1  # the pool now holds a connection used a moment ago
    kill_connections_to(database)  # so it is reused without a ping, and fails mid-write
    recorder.record(row(org_id, 2))
    assert recorder.flush() == 0  # an outage: the row stays pending
    assert recorder.flush() == 1  # on a new connection
    assert stored_paths(database) == ["/scim/v2/Users/1", "/scim/v2/Users/2"]


def test_the_background_thread_writes_without_being_asked(database: Database, org_id: int) -> None:
    recorder = ScimRequestRecorder(database, interval=0.05)
    try:
        recorder.record(row(org_id, 1))
        deadline = time.monotonic() + 30  # a bound for a loaded machine, not a speed check
        while not stored_paths(database) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stored_paths(database) == ["/scim/v2/Users/1"]
    finally:
        recorder.close()


def test_rows_survive_an_outage_and_are_written_once_it_ends(
    database: Database, database_url: str, org_id: int
) -> None:
    """The outage: another transaction holds the log table's lock past our timeout (1 s),
    which each engine reports as it reports a database it cannot reach."""
    bounded = Database(
        DatabaseSettings(url=database_url, statement_timeout=1, sqlite_busy_timeout=1)
    )
    recorder = ScimRequestRecorder(bounded, interval=3600)
    recorder.record(row(org_id, 1))
    blocker = database.session(write=True)
    try:
        blocker.connection()  # SQLite: BEGIN IMMEDIATE, the database's one write lock
        if database.dialect == "postgresql":
            blocker.execute(text("LOCK TABLE scim_request_logs IN ACCESS EXCLUSIVE MODE"))
        assert recorder.flush() == 0  # the write timed out; the row stays pending
        recorder.record(row(org_id, 2))
    finally:
        blocker.close()
    assert recorder.flush() == 2
    assert stored_paths(database) == ["/scim/v2/Users/1", "/scim/v2/Users/2"]
    bounded.dispose()


def test_a_full_buffer_drops_new_rows_instead_of_growing(database: Database, org_id: int) -> None:
    recorder = ScimRequestRecorder(database, interval=3600, max_pending=2)
    for number in range(5):
        recorder.record(row(org_id, number))
    recorder.close()
    assert stored_paths(database) == ["/scim/v2/Users/0", "/scim/v2/Users/1"]


def test_interval_zero_and_a_closed_recorder_write_each_row_at_once(
    database: Database, org_id: int
) -> None:
    immediate = ScimRequestRecorder(database, interval=0)
    immediate.record(row(org_id, 1))
    assert stored_paths(database) == ["/scim/v2/Users/1"]
    closed = ScimRequestRecorder(database, interval=3600)
    closed.close()
    closed.record(row(org_id, 2))
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(ScimRequestLog)) == 2


def test_a_row_the_database_refuses_is_dropped_alone(
    database: Database, recorder: ScimRequestRecorder, org_id: int
) -> None:
    """A row of an organization deleted meanwhile can never be written; it must not hold
    back the rows around it, nor stay in the buffer to fail again."""
    recorder.record(row(org_id, 1))
    recorder.record(row(org_id + 1000, 2))  # no such organization: a foreign key refusal
    recorder.record(row(org_id, 3))
    assert recorder.flush() == 2
    assert stored_paths(database) == ["/scim/v2/Users/1", "/scim/v2/Users/3"]
    assert recorder.flush() == 0


def test_disposing_the_database_writes_pending_rows_first(database: Database, org_id: int) -> None:
    recorder = ScimRequestRecorder(database, interval=3600)
    recorder.record(row(org_id, 1))
    database.dispose()
    assert stored_paths(database) == ["/scim/v2/Users/1"]
