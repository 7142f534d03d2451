"""Engines, sessions and the unit of work.

The caller owns the transaction: a request, a CLI command or a worker opens one
:func:`Database.unit_of_work`; domain functions only ``flush()``.

SQLite specifics: pysqlite's own transaction handling is switched off so that we emit
``BEGIN`` ourselves. Write units begin with ``BEGIN IMMEDIATE``, taking the database's
single write lock up front: two processes can then never both read "49 assigned" and both
write 50 (I1), and nobody hits a deadlock-style ``SQLITE_BUSY`` on lock upgrade. The file runs
in WAL mode so readers never wait for that writer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from app.errors import SeatRefused
from app.ledger import record_refusal
from app.settings import DatabaseSettings, resolve_sqlite_path

# What a database outage looks like from here: a refused or broken connection, a statement or
# lock timeout (OperationalError), a connection closed under us (InterfaceError), or no pooled
# connection free within ``pool_timeout`` (TimeoutError).
DATABASE_OUTAGES: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
)

_BEGIN_OPTION = "seatgate_sqlite_begin"
_CHECKED_IN_AT = "seatgate_checked_in_at"
PING_AFTER_IDLE_SECONDS = 1.0


def make_engine(settings: DatabaseSettings) -> Engine:
    url = resolve_sqlite_path(settings.url)
    if settings.is_sqlite:
        engine = create_engine(
            url,
            connect_args={"timeout": settings.sqlite_busy_timeout, "check_same_thread": False},
        )
        _configure_sqlite(engine, settings.sqlite_busy_timeout)
        return engine
    engine = create_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_timeout=settings.pool_timeout,
        pool_recycle=1800,
        connect_args=postgresql_connect_args(settings),
    )
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """Pre-ping a pooled connection at check-out, unless it was in use a moment ago.

    SQLAlchemy's ``pool_pre_ping`` pings on every check-out: one more round trip per request.
    A connection checked in less than :data:`PING_AFTER_IDLE_SECONDS` ago was just working;
    if the server died since, the request fails on it with a disconnect, SQLAlchemy then
    discards every pooled connection, and the request answers 503 with ``Retry-After``
    (during an outage it would anyway). A connection that sat idle — across a database
    restart, past a firewall's idle timeout — is pinged, and replaced if dead (SQLAlchemy's
    documented ``DisconnectionError`` protocol: check-out retries with a fresh connection).
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS:
            return  # brand new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)  # the dialect's own: leaves no transaction
        except engine.dialect.loaded_dbapi.Error as exc:
            raise sa_exc.DisconnectionError(f"pooled connection is dead: {exc}") from exc


def postgresql_connect_args(settings: DatabaseSettings) -> dict[str, Any]:
    """Bound every wait on PostgreSQL so that an outage answers 503 instead of hanging.

    ``connect_timeout`` bounds opening a connection, ``statement_timeout`` (and the same
    ``lock_timeout``) any one statement, and TCP keepalives notice a server that vanished
    without closing the connection (a crashed host, a cut network).
    """
    milliseconds = settings.statement_timeout * 1000
    return {
        "connect_timeout": settings.connect_timeout,
        "options": f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds}",
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }


def _configure_sqlite(engine: Engine, busy_timeout_s: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s) * 1000}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
    """A read unit never writes: on PostgreSQL it has no transaction to keep a write atomic."""
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("a read unit of work tried to write; use unit_of_work(write=True)")


class Database:
    """One engine and two session factories: read units and write units."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        self._before_dispose: list[Callable[[], None]] = []
        writer = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        # PostgreSQL reads in READ COMMITTED, where each statement takes its own snapshot
        # whether or not a transaction is open: a read unit's BEGIN and ROLLBACK would buy
        # nothing and cost two round trips. SQLite keeps its read transaction (one snapshot
        # for the whole unit, and no round trip to save).
        reader = (
            self.engine
            if settings.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._read_sessions = sessionmaker(bind=reader, expire_on_commit=False)
        self._write_sessions = sessionmaker(bind=writer, expire_on_commit=False)
        event.listen(self._read_sessions, "before_flush", _refuse_writes)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, *, write: bool = True) -> Session:
        """A new session; the caller begins and ends its transaction."""
        return (self._write_sessions if write else self._read_sessions)()

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        """One transaction: commit on success, roll back on any error.

        A seat refusal is the one thing a failed unit still writes (I8): after the rollback,
        the refusal is recorded in a transaction of its own, then the error propagates.
        """
        session = self.session(write=write)
        try:
            try:
                with session.begin():
                    yield session
            except SeatRefused as refusal:
                with session.begin():
                    record_refusal(session, refusal)
                raise
        finally:
            session.close()

    def before_dispose(self, write_pending: Callable[[], None]) -> None:
        """Run ``write_pending`` before the engine goes (buffered rows get written first)."""
        self._before_dispose.append(write_pending)

    def dispose(self) -> None:
        for write_pending in self._before_dispose:
            write_pending()
        self.engine.dispose()
