"""A read unit of work never writes, whether through an ORM object or a plain statement.

On PostgreSQL a read unit runs in autocommit, so a write there would be committed statement
by statement, outside any transaction; the audit log and the ledger write plain INSERTs,
which no flush would catch.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select, update

from app.db import Database
from app.models import AuditEntry, Organization
from tests.factories import make_org


def audit_rows(database: Database) -> int:
    with database.unit_of_work(write=False) as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


@pytest.mark.parametrize("how", ["orm", "insert", "update"])
def test_a_read_unit_refuses_to_write_and_writes_nothing(database: Database, how: str) -> None:
    make_org(database, "acme")
    before = audit_rows(database)
    with (
        pytest.raises(RuntimeError, match="read unit of work tried to write"),
        database.unit_of_work(write=False) as session,
    ):
        if how == "orm":
            session.add(AuditEntry(actor="x", source="cli", action="probe", details={}))
            session.flush()
        elif how == "insert":
            session.execute(
                insert(AuditEntry.__table__),  # type: ignore[arg-type]
                {"actor": "x", "source": "cli", "action": "probe", "details": {}},
            )
        else:
            session.execute(update(Organization).values(name="renamed"))
    assert audit_rows(database) == before
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(Organization.name)) != "renamed"
