"""Alembic, driven from code: the schema is only ever created or changed by migrations."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

from app.settings import resolve_sqlite_path

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", resolve_sqlite_path(database_url).replace("%", "%%"))
    return config


def upgrade_database(database_url: str, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision``; returns the revision now current."""
    url = resolve_sqlite_path(database_url)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@functools.cache
def head_revision() -> str | None:
    """The revision this release's migrations end at: the schema its code expects."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def is_known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this release's migrations (else a newer release wrote it)."""
    try:
        return ScriptDirectory(str(MIGRATIONS)).get_revision(revision) is not None
    except CommandError:
        return False
