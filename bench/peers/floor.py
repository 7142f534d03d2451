"""The floor of the fixed stack: Flask under gunicorn doing only a request's PostgreSQL work.

Why: the ceiling (a fixed body) says what Flask costs; it cannot say how much of the gap to
it a request's database work makes unavoidable. These routes do that work and nothing
else, straight on one psycopg connection per worker: no SQLAlchemy, no validation, no
rendering (a fixed body), no logs, metrics or rate limits. What seatgate spends beyond them
is its own; what they cost, any implementation on Flask and PostgreSQL pays.

- ``GET /Users/<id>``: the one statement seatgate's ``GET /Users/{id}`` runs (the token
  and the user, :func:`app.directory.read_user_for_token`), 401 for an unknown token, 404
  for an unknown user.
- ``POST /floor/<statements>/<plain|pipelined>/Users``: the JSON body parsed, then
  ``statements`` single-row INSERTs in one durable transaction (``BEGIN`` ... ``COMMIT``,
  ``synchronous_commit`` as the server has it; one statement runs alone, in autocommit),
  each a round trip of its own (``plain``) or all sent in one psycopg pipeline. The rows go
  to :data:`FLOOR_TABLE`, which :func:`create_table` makes.

``FLOOR_DATABASE_URL``: the bench database (a SQLAlchemy ``postgresql+psycopg`` URL).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from flask import Flask, Response, request
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import make_url

from app.db import PlainRead
from app.directory import record_statement
from app.scim_tokens import presented_digest
from bench import dataset

FLOOR_TABLE = "bench_floor_rows"
_INSERT = "INSERT INTO bench_floor_rows (resource_id, user_name, body) VALUES (%s, %s, %s)"
MODES = ("plain", "pipelined")

application = Flask(__name__)
_BODY = json.dumps({**dataset.scim_user(0), "id": dataset.resource_id(0)})
_STATEMENT = record_statement("postgresql", "resource_id", True)  # seatgate's GET, as it runs
_MEMBER_ID = [str(column.key) for column in _STATEMENT.selected_columns].index("member_id")


# Compiled once, for the driver the floor runs it on.
_READ = PlainRead(_STATEMENT, PGDialect_psycopg())


@dataclass(frozen=True)
class _Kept:
    """What a worker keeps between requests, as seatgate keeps its own: one connection and
    one cursor."""

    connection: psycopg.Connection[Any]
    cursor: psycopg.Cursor[Any]


_kept: dict[int, _Kept] = {}  # by process: a connection does not survive a fork


def connect(url: str) -> psycopg.Connection[Any]:
    """An autocommit psycopg connection to ``url`` (a SQLAlchemy ``postgresql+psycopg`` URL)."""
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(libpq, autocommit=True)


def create_table(url: str) -> None:
    """The table the POST floor writes to: a key, a unique id (an index to keep) and a body."""
    with connect(url) as connection:
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (id bigserial PRIMARY KEY, "
            "resource_id text NOT NULL UNIQUE, user_name text NOT NULL, body jsonb NOT NULL)"
        )


def _worker() -> _Kept:
    kept = _kept.get(os.getpid())
    if kept is None:
        connection = connect(os.environ["FLOOR_DATABASE_URL"])
        kept = _kept[os.getpid()] = _Kept(connection, connection.cursor())
    return kept


def release() -> None:
    """Close this process's connection (tests: the next request connects again)."""
    kept = _kept.pop(os.getpid(), None)
    if kept is not None:
        kept.connection.close()


@application.get("/Users/<resource_id>")
def get_user(resource_id: str) -> Response:
    _scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    digest = presented_digest(presented)
    if digest is None:
        return Response(status=401)
    cursor = _worker().cursor
    cursor.execute(_READ.sql, _READ.parameters({"key": resource_id, "digest": digest}))
    rows = cursor.fetchall()
    if not rows:
        return Response(status=401)
    if rows[0][_MEMBER_ID] is None:
        return Response(status=404)
    return Response(_BODY, mimetype="application/scim+json")


@application.post("/floor/<int:statements>/<mode>/Users")
def create_rows(statements: int, mode: str) -> Response:
    if mode not in MODES or statements < 1:
        return Response(status=404)
    body = request.get_json(force=True)
    document = json.dumps(body)
    kept = _worker()
    connection, cursor = kept.connection, kept.cursor
    rows = [(str(uuid.uuid4()), str(body["userName"]), document) for _ in range(statements)]
    if statements == 1:
        cursor.execute(_INSERT, rows[0])
    elif mode == "plain":
        with connection.transaction():
            for row in rows:
                cursor.execute(_INSERT, row)
    else:
        with connection.pipeline(), connection.transaction():
            for row in rows:
                cursor.execute(_INSERT, row)
    return Response(_BODY, status=201, mimetype="application/scim+json")


@application.get("/ready")
def ready() -> Response:
    return Response("ready")
