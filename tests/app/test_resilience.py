"""A database outage answers 503 with Retry-After in each protocol's form, and heals itself.

"Outage" here is real: the app points at a PostgreSQL port nobody listens on (connection
refused) or at a SQLite file in a directory that does not exist; the recovery test kills
every server-side connection of the test database under a live pool.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from app import create_app, database_of, db
from app.api.auth import mint_api_token
from app.db import Database
from app.models import Member, Organization
from tests.factories import kill_connections_to, make_org
from tests.peers import free_port
from tests.scim.conftest import CORE, ERROR, issue_token

LEAKS = ("Traceback", "SELECT", "sqlalchemy", "psycopg", "sqlite3", 'File "')


def assert_nothing_leaks(body: str) -> None:
    for leak in LEAKS:
        assert leak not in body, f"{leak!r} in an error body: {body[:300]}"


@pytest.fixture
def unreachable_app(engine_name: str, tmp_path: Path) -> Flask:
    if engine_name == "sqlite":
        url = f"sqlite:///{tmp_path}/missing/dir/seatgate.sqlite3"
    else:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/seatgate"
    return create_app(
        {"env": "test", "database": {"url": url, "connect_timeout": 2, "retry_after": 7}}
    )


# Every way a SCIM read reaches the database: a search in the request's read transaction,
# and the two reads that check the token in their own statement, on the DBAPI cursor.
SCIM_READS = [
    "/scim/v2/Users",
    "/scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
    '/scim/v2/Users?filter=userName eq "a@acme.example.com"',
]


@pytest.mark.parametrize("path", SCIM_READS)
def test_scim_answers_503_in_scim_form(unreachable_app: Flask, path: str) -> None:
    reply = unreachable_app.test_client().get(
        path, headers={"Authorization": "Bearer sgscim_anything"}
    )
    assert reply.status_code == 503
    assert reply.headers["Retry-After"] == "7"
    assert reply.mimetype == "application/scim+json"
    body = reply.get_json()
    assert body["schemas"] == [ERROR] and body["status"] == "503"
    assert_nothing_leaks(reply.get_data(as_text=True))


def test_json_api_answers_503_in_json(unreachable_app: Flask) -> None:
    token, _ = mint_api_token(
        unreachable_app.config["SECRET_KEY"],
        Member(id=1, email="owner@acme.example.com"),
        Organization(id=1, slug="acme"),
        ttl_seconds=60,
    )
    reply = unreachable_app.test_client().get(
        "/api/v1/orgs/acme/seats", headers={"Authorization": f"Bearer {token}"}
    )
    assert reply.status_code == 503
    assert reply.headers["Retry-After"] == "7"
    assert reply.get_json()["error"] == "Service Unavailable"
    assert_nothing_leaks(reply.get_data(as_text=True))


def test_sign_in_answers_503_as_a_page(unreachable_app: Flask) -> None:
    reply = unreachable_app.test_client().get("/sso/acme/login", headers={"Accept": "text/html"})
    assert reply.status_code == 503
    assert reply.headers["Retry-After"] == "7"
    assert reply.mimetype == "text/html"
    assert "Retry shortly" in reply.get_data(as_text=True)
    assert_nothing_leaks(reply.get_data(as_text=True))


def test_health_tells_when_to_retry(unreachable_app: Flask) -> None:
    reply = unreachable_app.test_client().get("/healthz")
    assert reply.status_code == 503
    assert reply.headers["Retry-After"] == "7"


@pytest.mark.postgresql_only  # server-side connections to kill exist on PostgreSQL only
@pytest.mark.parametrize("path", SCIM_READS)
def test_idle_connections_killed_under_the_pool_are_replaced(
    app: Flask, database: Database, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """What a PostgreSQL restart does to a running instance: every pooled connection dies.
    Connections idle for longer than the ping threshold, pooled or kept by the plain reads
    between reads, are checked, and replaced."""
    make_org(database, "acme", seats=3, term_start=dt.date.today().replace(day=1))
    token = issue_token(database, "acme")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(path, headers=headers).status_code in (200, 404)
    kill_connections_to(database)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if a second had passed
    assert client.get(path, headers=headers).status_code in (200, 404)
    # A live connection that is pinged is handed over unchanged (no transaction left open).
    for _ in range(3):
        assert client.get("/scim/v2/Users", headers=headers).status_code == 200
        assert client.post("/scim/v2/Users", headers=headers, json=user_body()).status_code == 201


def user_body() -> dict[str, object]:
    email = f"u{uuid.uuid4().hex[:8]}@acme.example.com"
    return {"schemas": [CORE], "userName": email, "emails": [{"value": email, "primary": True}]}


@pytest.mark.postgresql_only
@pytest.mark.parametrize("path", SCIM_READS)
def test_a_connection_killed_right_after_use_costs_one_503_then_heals(
    app: Flask, database: Database, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The price of not pinging a connection used a moment ago: the one request that meets
    it dead answers 503 with Retry-After (and writes nothing); the pool is then renewed."""
    make_org(database, "acme", seats=3, term_start=dt.date.today().replace(day=1))
    token = issue_token(database, "acme")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(path, headers=headers).status_code in (200, 404)
    kill_connections_to(database)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)  # every connection is "fresh"
    failed = client.get(path, headers=headers)
    assert failed.status_code == 503
    assert failed.headers["Retry-After"].isdigit()
    assert failed.get_json()["schemas"] == [ERROR]
    assert client.get(path, headers=headers).status_code in (200, 404)
    created = client.post("/scim/v2/Users", headers=headers, json=user_body())
    assert created.status_code == 201


def test_plain_reads_leave_write_units_transactional(app: Flask, database: Database) -> None:
    """The token-and-user read runs outside any transaction (autocommit on PostgreSQL); the
    connections write units get must still be transactional, or a write unit would commit
    statement by statement and lose its atomicity (I1)."""
    make_org(database, "acme", seats=1, term_start=dt.date.today().replace(day=1))
    token = issue_token(database, "acme")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    for path in SCIM_READS[1:]:
        assert client.get(path, headers=headers).status_code in (200, 404)
    connection = database.engine.raw_connection()
    try:
        if database.dialect == "postgresql":
            assert connection.driver_connection.autocommit is False  # type: ignore[union-attr]
        else:  # SQLite: seatgate emits BEGIN itself, pysqlite's own handling stays off
            assert connection.driver_connection.isolation_level is None  # type: ignore[union-attr]
    finally:
        connection.close()
    assert client.post("/scim/v2/Users", headers=headers, json=user_body()).status_code == 201
    # The one seat is taken: the refused create is refused whole (a transaction, not autocommit).
    assert client.post("/scim/v2/Users", headers=headers, json=user_body()).status_code == 403
    assert len(client.get("/scim/v2/Users", headers=headers).get_json()["Resources"]) == 1


@pytest.mark.postgresql_only  # statement_timeout and lock_timeout are PostgreSQL settings
def test_postgresql_statements_are_bounded(database_url: str) -> None:
    bounded = create_app({"env": "test", "database": {"url": database_url, "statement_timeout": 3}})
    try:
        with database_of(bounded).unit_of_work(write=False) as session:
            assert session.scalar(text("SHOW statement_timeout")) == "3s"
            assert session.scalar(text("SHOW lock_timeout")) == "3s"
    finally:
        database_of(bounded).dispose()
