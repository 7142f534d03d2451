"""The schema comes only from Alembic: it applies to an empty database, matches the models,
and downgrades cleanly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from app.migrations_runner import alembic_config, upgrade_database
from app.models import Base


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
