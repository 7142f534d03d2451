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

import collections
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Dialect, Engine, Select, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection

from app.errors import SeatRefused
from app.ledger import record_refusal
from app.lowercase import register_on_sqlite
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
_PLAIN_CURSOR = "seatgate_plain_cursor"
_CHECKED_IN_AT = "seatgate_checked_in_at"
PING_AFTER_IDLE_SECONDS = 1.0


def make_engine(settings: DatabaseSettings, *, autocommit: bool = False) -> Engine:
    """The engine for ``settings``; ``autocommit`` (PostgreSQL): every connection of its pool
    runs each statement on its own, so a check-in needs no ``ROLLBACK``."""
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
        json_deserializer=_json_from_postgresql,
        **({"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None} if autocommit else {}),
    )
    _ping_idle_connections(engine)
    return engine


def _json_from_postgresql(data: str | bytes) -> Any:
    """A ``json``/``jsonb`` value as psycopg hands it over (bytes), decoded.

    ``json.loads`` given bytes first sniffs them for UTF-16 and UTF-32, which PostgreSQL never
    sends, and then decodes them as UTF-8, as here. The sniffing was ~1 % of a
    ``GET /Users/{id}`` (a User read decodes four JSON values).
    """
    return json.loads(data.decode() if isinstance(data, bytes) else data)


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
        register_on_sqlite(dbapi_connection)
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


_READ_UNIT_WRITES = "a read unit of work tried to write; use unit_of_work(write=True)"


def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
    """A read unit never writes: on PostgreSQL it has no transaction to keep a write atomic."""
    if session.new or session.dirty or session.deleted:
        raise RuntimeError(_READ_UNIT_WRITES)


def _refuse_statement_writes(state: ORMExecuteState) -> None:
    """The same for SQLAlchemy's INSERT, UPDATE and DELETE constructs run through the
    session (the audit log and the ledger write rows with plain INSERTs, which no flush
    sees). Raw SQL text is not inspected: seatgate writes none."""
    if state.is_insert or state.is_update or state.is_delete:
        raise RuntimeError(_READ_UNIT_WRITES)


def _row_type(names: list[str]) -> Any:
    """A tuple type whose fields are ``names`` (duplicates are refused)."""
    return collections.namedtuple("PlainRow", names)


def _result_processor(column_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """What Core applies to this column's values on this engine (the dialect's own type)."""
    processor: Callable[[Any], Any] | None = column_type.dialect_impl(dialect).result_processor(
        dialect, None
    )
    return processor


class PlainRead:
    """A ``SELECT`` that the hottest reads run straight on a pooled DBAPI connection.

    Every ``GET /Users/{id}`` and every ``userName eq`` probe runs one statement. Around it,
    SQLAlchemy's per-execution machinery (an ORM session and its transaction, an execution
    context, result metadata, events) cost several times the statement itself: on the bench
    machine ~115 µs around a ~22 µs SQLite query, plus ~190 µs of session life. Here
    SQLAlchemy still builds and compiles the statement (once per dialect), owns the pool (its
    check-out events, so idle connections are still pinged) and decodes every value with the
    column type's own result processor; only the per-call wrapping is skipped. Errors come
    out as SQLAlchemy's (:meth:`Database.fetch` runs it), so an outage is the same 503 as
    elsewhere.

    Only for statements whose bind parameters are plain values (no bind processors) and
    whose selected columns have distinct names (they become the row's attributes).
    """

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self._order = tuple(compiled.positiontup or ()) if dialect.positional else None
        self._defaults = {
            name: bind.value for name, bind in compiled.binds.items() if bind.value is not None
        }
        columns = list(statement.selected_columns)
        self._row: Any = _row_type([str(column.key) for column in columns])
        self._decoders = [
            (index, processor)
            for index, column in enumerate(columns)
            if (processor := _result_processor(column.type, dialect)) is not None
        ]

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """The DBAPI parameters: a tuple for positional dialects (SQLite), else a dict."""
        merged = {**self._defaults, **values} if self._defaults else values
        if self._order is None:
            return merged
        return tuple(merged[name] for name in self._order)

    def rows(self, fetched: Sequence[Any]) -> list[Any]:
        """Decoded rows, with the selected columns' names as attributes."""
        decoded = []
        for raw in fetched:
            values = list(raw)
            for index, decode in self._decoders:
                values[index] = decode(values[index])
            decoded.append(self._row._make(values))
        return decoded


def _wrapped(
    error: Exception, dialect: Dialect, statement: str, *, invalidated: bool
) -> sa_exc.StatementError:
    """A DBAPI error as SQLAlchemy raises it (``OperationalError`` & co.)."""
    return sa_exc.DBAPIError.instance(
        statement,
        None,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=invalidated,
        dialect=dialect,
    )


class KeptConnections:
    """Pooled connections that plain reads keep between reads, while reads keep coming.

    Why: a check-out and check-in through SQLAlchemy's pool (its queue and lock, the
    connection's wrapper, events and reset) cost ~6 % of the CPU of a ``GET /Users/{id}``,
    more than the SQLite statement itself. A connection last used less than
    :data:`PING_AFTER_IDLE_SECONDS` ago is taken again at once: the pool would hand it out
    without a ping too. One idle for longer goes back to the pool marked with its last use,
    so that the pool's check-out pings it (or recycles it) as it would any idle connection.
    At most ``limit`` are kept, one per concurrent reader (a sync worker keeps one); ``pop``
    and ``append`` on a list are atomic, so threads need no lock to share them.
    """

    def __init__(self, engine: Engine, limit: int = 4) -> None:
        self._engine = engine
        self._limit = limit
        self._idle: list[tuple[PoolProxiedConnection, float]] = []

    def take(self) -> PoolProxiedConnection:
        """The most recently used kept connection, if it is fresh; else one from the pool."""
        while (kept := self._pop()) is not None:
            connection, last_used = kept
            if time.monotonic() - last_used < PING_AFTER_IDLE_SECONDS:
                return connection
            self._to_pool(connection, last_used)
        return self._engine.raw_connection()

    def keep(self, connection: PoolProxiedConnection) -> None:
        """Keep a connection whose read went well (a failed one is invalidated instead)."""
        if len(self._idle) < self._limit:
            self._idle.append((connection, time.monotonic()))
        else:
            connection.close()

    def release(self) -> None:
        """Give every kept connection back to the pool (before the pool is disposed)."""
        while (kept := self._pop()) is not None:
            self._to_pool(*kept)

    def _pop(self) -> tuple[PoolProxiedConnection, float] | None:
        try:
            return self._idle.pop()
        except IndexError:  # none left (another thread may have taken the last one)
            return None

    @staticmethod
    def _to_pool(connection: PoolProxiedConnection, last_used: float) -> None:
        info = connection.info  # the pool's record of the connection: outlives the check-in
        connection.close()
        info[_CHECKED_IN_AT] = last_used  # its real idle time, for the check-out's ping


class Database:
    """One engine and two session factories: read units and write units."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        # PlainReads on PostgreSQL get a pool of their own whose connections are always in
        # autocommit: no switching a shared connection's mode, and no ROLLBACK at check-in.
        # It opens connections only as needed (one per worker when workers are sync).
        self._plain_engine = (
            self.engine if settings.is_sqlite else make_engine(settings, autocommit=True)
        )
        self._kept = KeptConnections(self._plain_engine)
        self._plain_reads: dict[Select[Any], PlainRead] = {}
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
        event.listen(self._read_sessions, "do_orm_execute", _refuse_statement_writes)

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

    @staticmethod
    @contextmanager
    def attempt(session: Session) -> Iterator[None]:
        """A part of a unit of work that may fail on its own, in a savepoint: on any error,
        what the part wrote is undone and the rest of the unit can still commit.

        Why: a step whose failure must not undo what came before it in the same transaction
        (the SSO answer stays spent when its sign-in is refused) costs a savepoint instead of
        a second transaction and its commit. A seat refusal is recorded in the unit (I8),
        after the part is undone, as :meth:`unit_of_work` records it after a rollback: in a
        savepoint of its own, so that it is recorded whole or not at all, and so that a
        failure to record it (a lock timeout on PostgreSQL) leaves the unit able to commit
        what came before. An aborted PostgreSQL transaction would "commit" as a rollback.
        """
        try:
            with session.begin_nested():
                yield
        except SeatRefused as refusal:
            with session.begin_nested():
                record_refusal(session, refusal)
            raise

    def fetch(self, statement: Select[Any], values: Mapping[str, Any]) -> list[Any]:
        """Run ``statement`` alone, outside any transaction, on a pooled connection (kept
        between reads: :class:`KeptConnections`), as a :class:`PlainRead` (compiled on the
        first call, for the engine that runs it).

        One statement needs no transaction around it: it reads one snapshot on either engine.
        A DBAPI error is raised as SQLAlchemy's (``OperationalError`` & co., so outage handlers
        apply); a lost connection is invalidated and both pools renewed, as SQLAlchemy renews
        its pool.
        """
        read = self.plain_read(statement)
        dialect = self._plain_engine.dialect
        try:
            connection = self._kept.take()
        except dialect.loaded_dbapi.Error as error:  # could not connect
            raise _wrapped(error, dialect, read.sql, invalidated=False) from error
        try:
            # One cursor per pooled connection, kept with it (the pool drops it with the
            # connection): a new psycopg cursor per read, and the set-up of its result
            # loaders, cost a third of a GET's CPU on PostgreSQL (bench/RESULTS.md).
            cursor = connection.info.get(_PLAIN_CURSOR)
            if cursor is None:
                cursor = connection.info[_PLAIN_CURSOR] = connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.execute(read.sql, read.parameters(values))
            fetched = cursor.fetchall()
        except dialect.loaded_dbapi.Error as error:
            disconnected = dialect.is_disconnect(error, connection.dbapi_connection, None)
            connection.invalidate()  # its state is unknown: never reused
            if disconnected:  # the server went away: every pooled connection is suspect
                self._renew_pools()
            raise _wrapped(error, dialect, read.sql, invalidated=disconnected) from error
        except BaseException:
            connection.invalidate()
            raise
        self._kept.keep(connection)
        return read.rows(fetched)

    def plain_read(self, statement: Select[Any]) -> PlainRead:
        """``statement`` compiled for the engine :meth:`fetch` runs it on (kept: statements
        passed here are built once, so the cache holds a handful)."""
        read = self._plain_reads.get(statement)
        if read is None:
            read = self._plain_reads[statement] = PlainRead(statement, self._plain_engine.dialect)
        return read

    def _renew_pools(self) -> None:
        self._kept.release()
        for engine in {self.engine, self._plain_engine}:
            engine.dispose(close=False)  # connections in use are discarded when returned

    def before_dispose(self, write_pending: Callable[[], None]) -> None:
        """Run ``write_pending`` before the engine goes (buffered rows get written first)."""
        self._before_dispose.append(write_pending)

    def dispose(self) -> None:
        for write_pending in self._before_dispose:
            write_pending()
        self._kept.release()
        self.engine.dispose()
        if self._plain_engine is not self.engine:
            self._plain_engine.dispose()
