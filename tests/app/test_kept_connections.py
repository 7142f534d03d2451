"""Plain reads keep their pooled connection between reads, and give it back when they must.

A kept connection skips the pool's check-out and check-in; it must never outlive what the pool
would allow: a connection idle past the ping threshold goes back through the pool (and is
pinged there, see ``test_resilience``), a failed one is never reused, and disposing of the
database leaves none checked out.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, literal, select
from sqlalchemy.exc import DBAPIError

from app import db
from app.db import Database

ONE = select(literal(1).label("one"))
# Fails when executed on either engine (an integer overflow), not when compiled.
OVERFLOW = select(func.abs(literal(-9223372036854775807) - 1).label("overflow"))


def pool_events(database: Database, name: str) -> list[object]:
    seen: list[object] = []
    event.listen(database._plain_engine.pool, name, lambda *args: seen.append(args))
    return seen


def checkouts(database: Database) -> list[object]:
    return pool_events(database, "checkout")


def checked_out(database: Database) -> int:
    return database._plain_engine.pool.checkedout()  # type: ignore[attr-defined, no-any-return]


def test_consecutive_reads_take_one_connection_from_the_pool(database: Database) -> None:
    seen = checkouts(database)
    for _ in range(5):
        assert database.fetch(ONE, {})[0].one == 1
    assert len(seen) == 1
    assert checked_out(database) == 1  # kept for the next read


def test_a_connection_idle_past_the_ping_threshold_goes_back_through_the_pool(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = checkouts(database)
    database.fetch(ONE, {})
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if a second had passed
    database.fetch(ONE, {})
    assert len(seen) == 2  # checked in, then out again (where the pool pings it)
    assert checked_out(database) == 1


def test_a_failed_read_does_not_keep_its_connection(database: Database) -> None:
    database.fetch(ONE, {})
    with pytest.raises(DBAPIError):
        database.fetch(OVERFLOW, {})
    assert checked_out(database) == 0  # invalidated, not kept
    assert database.fetch(ONE, {})[0].one == 1


def test_disposing_of_the_database_gives_kept_connections_back(database: Database) -> None:
    database.fetch(ONE, {})
    checkins = pool_events(database, "checkin")
    database.dispose()
    assert len(checkins) == 1  # returned to the pool, which closes it
