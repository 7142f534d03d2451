"""The schema comes only from Alembic: it applies to an empty database, matches the models,
and downgrades cleanly."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from app.migrations_runner import alembic_config, upgrade_database
from app.models import Base


@pytest.fixture
def empty_database_url(engine_name: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if engine_name == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    server = make_url(os.environ["SEATGATE_TEST_POSTGRES_URL"])
    name = f"seatgate_migrations_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migrations_build_the_models_schema_from_nothing(empty_database_url: str) -> None:
    assert upgrade_database(empty_database_url) is not None
    engine = create_engine(empty_database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def test_migrations_downgrade_to_nothing_and_back(empty_database_url: str) -> None:
    upgrade_database(empty_database_url)
    command.downgrade(alembic_config(empty_database_url), "base")
    engine = create_engine(empty_database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    assert upgrade_database(empty_database_url) is not None
