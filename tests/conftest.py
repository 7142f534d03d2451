"""Fixtures: a fresh, migrated database per test on every available engine.

Every test that asks for ``database_url`` (directly or through ``app``/``database``) runs once
on SQLite (a copy of a migrated template file) and once on PostgreSQL when
``SEATGATE_TEST_POSTGRES_URL`` names a server the suite may create databases on. CI also sets
``SEATGATE_TEST_REQUIRE_POSTGRES=1``: PostgreSQL being absent or unreachable is then a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app, database_of, housekeeping
from app.db import Database
from app.migrations_runner import upgrade_database
from app.models import Base
from tests.peers import LOOPBACK_RECEIVERS

PG_SERVER_URL = os.environ.get("SEATGATE_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("SEATGATE_TEST_REQUIRE_POSTGRES") == "1"
ENGINES = ["sqlite", "postgresql"] if PG_SERVER_URL else ["sqlite"]


def pytest_sessionstart(session: pytest.Session) -> None:
    if REQUIRE_POSTGRES and not PG_SERVER_URL:
        raise pytest.UsageError(
            "SEATGATE_TEST_REQUIRE_POSTGRES=1 but no SEATGATE_TEST_POSTGRES_URL"
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every database test runs on each engine; ``postgresql_only`` tests on PostgreSQL alone.

    Without a PostgreSQL server, a ``postgresql_only`` test has no engine and pytest reports
    it as skipped ("got empty parameter set"); CI always has one.
    """
    if "engine_name" in metafunc.fixturenames:
        engines = ENGINES
        if metafunc.definition.get_closest_marker("postgresql_only"):
            engines = [engine for engine in ENGINES if engine == "postgresql"]
        metafunc.parametrize("engine_name", engines)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of our own on the PostgreSQL server, migrated once, dropped at the end."""
    server = make_url(PG_SERVER_URL)
    name = f"seatgate_test_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # a requested engine that cannot be reached fails the run
        pytest.fail(f"PostgreSQL at {server.render_as_string()} is unreachable: {exc}")
    url = server.set(database=name).render_as_string(hide_password=False)
    upgrade_database(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(url: str) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def database_url(engine_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if engine_name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "seatgate.sqlite3"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_url")
    _truncate_all(url)
    return url


@pytest.fixture
def empty_database_url(engine_name: str, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all (for what migrates one itself), on each engine."""
    if engine_name == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    server = make_url(os.environ["SEATGATE_TEST_POSTGRES_URL"])
    name = f"seatgate_empty_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    flask_app = create_app({"env": "test", "database": {"url": database_url}, **LOOPBACK_RECEIVERS})
    yield flask_app
    database_of(flask_app).dispose()  # writes the buffered SCIM request log rows first


@pytest.fixture
def database(app: Flask) -> Database:
    return database_of(app)


@pytest.fixture
def fresh_purge_schedule() -> Iterator[None]:
    """The purge schedule (``app.housekeeping``) is per process: start a test that pins it
    from a clean slate, and leave none of its bookings to the next test."""
    housekeeping.forget()
    yield
    housekeeping.forget()


@pytest.fixture
def client(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()
