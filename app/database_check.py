"""Whether the configured database can serve this release, said in one line an operator can act on.

Without it the first query of a command on a database that is down, missing or not migrated
fails deep inside SQLAlchemy, and the operator reads a long traceback to learn what one line
says: which database (its URL, password hidden), what is wrong, and what to run.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.db import make_engine
from app.migrations_runner import current_revision, head_revision, is_known_revision
from app.settings import DatabaseSettings, resolve_sqlite_path

UPGRADE = "run `seatgate db upgrade`"


class DatabaseNotReady(Exception):
    """The database cannot be reached or its schema is not this release's; the message says
    which database and what to do, in one line."""


def shown_url(url: str) -> str:
    """The database URL as an operator may see it: the password hidden, a SQLite path absolute."""
    return make_url(resolve_sqlite_path(url)).render_as_string(hide_password=True)


def check_database(settings: DatabaseSettings) -> None:
    """Raise :class:`DatabaseNotReady` unless the database answers and is at the head revision.

    Opens (and closes) one connection of its own. A SQLite file that does not exist yet is
    reported, not created: connecting would leave an empty file behind.
    """
    shown = shown_url(settings.url)
    sqlite_file = make_url(resolve_sqlite_path(settings.url)).database
    in_a_file = settings.is_sqlite and sqlite_file and sqlite_file != ":memory:"
    if in_a_file and not Path(str(sqlite_file)).is_file():
        raise DatabaseNotReady(f"database {shown} does not exist: {UPGRADE} to create it")
    engine = make_engine(settings)
    try:
        current = current_revision(engine)
    except SQLAlchemyError as error:
        raise DatabaseNotReady(
            f"database {shown} cannot be reached ({_reason(error)}); check that the server runs, "
            f"that the database exists and that database.url (SEATGATE_DATABASE_URL) names it, "
            f"then {UPGRADE}"
        ) from error
    finally:
        engine.dispose()
    head = head_revision()
    if current is None:
        raise DatabaseNotReady(f"database {shown} has no seatgate schema: {UPGRADE}")
    if current != head:
        if is_known_revision(current):
            raise DatabaseNotReady(
                f"database {shown} is at migration {current}, this release needs {head}: {UPGRADE}"
            )
        raise DatabaseNotReady(
            f"database {shown} is at migration {current}, which this release does not know "
            f"(a newer seatgate migrated it): upgrade seatgate"
        )


def _reason(error: SQLAlchemyError) -> str:
    """The driver's own first line (``Connection refused``, ``database "x" does not exist``)."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    lines = str(cause).strip().splitlines()
    return " ".join(lines[0].split()) if lines else type(cause).__name__
