"""Readiness, Prometheus metrics and the structured access log."""

from __future__ import annotations

import io
import json
import logging

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from app.db import Database
from app.errors import SeatRefused
from app.ledger import claim_seat
from app.logs import JsonFormatter
from app.organizations import get_member, get_organization
from tests.factories import OPERATOR, add_users, make_org, seat_members


def samples(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def test_readyz_reports_a_current_schema_and_a_pending_migration(
    client: FlaskClient, database: Database
) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["migrations"] == "current"
    head = ready.get_json()["revision"]
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    try:
        behind = client.get("/readyz")
        assert behind.status_code == 503
        assert behind.get_json()["migrations"] == "pending"
        assert client.get("/healthz").status_code == 200  # alive all the same
    finally:  # the PostgreSQL test database is shared by the tests of this process
        with database.engine.begin() as connection:
            connection.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head}
            )


def test_metrics_count_requests_seats_and_refusals(client: FlaskClient, database: Database) -> None:
    make_org(database, "acme", seats=1)
    seat_members(database, add_users(database, "acme", ["a@acme.example.com"]))
    add_users(database, "acme", ["b@acme.example.com"])
    try:
        with database.unit_of_work() as session:
            member = get_member(session, get_organization(session, "acme"), "b@acme.example.com")
            claim_seat(session, member, actor=OPERATOR)
    except SeatRefused:
        pass
    client.get("/healthz")
    client.get("/healthz")
    client.get("/nowhere")
    found = samples(client)
    org = (("organization", "acme"),)
    assert found[("seatgate_seats_purchased", org)] == 1
    assert found[("seatgate_seats_assigned", org)] == 1
    assert found[("seatgate_seats_free", org)] == 0
    assert found[("seatgate_seat_refusals_total", (("source", "cli"),))] == 1
    healthz = (("method", "GET"), ("route", "/healthz"), ("status", "200"))
    assert found[("seatgate_http_requests_total", healthz)] == 2
    missing = (("method", "GET"), ("route", "(unmatched)"), ("status", "404"))
    assert found[("seatgate_http_requests_total", missing)] == 1
    count = (("method", "GET"), ("route", "/healthz"))
    assert found[("seatgate_http_request_duration_seconds_count", count)] == 2
    assert found[("seatgate_alert_outbox_depth", (("stage", "alerts"),))] >= 1  # the refusal


def test_every_request_is_one_json_log_line_with_its_request_id(app: Flask) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("seatgate")
    logger.addHandler(handler)
    try:
        response = app.test_client().get("/healthz", headers={"X-Request-Id": "trace-12345678"})
    finally:
        logger.removeHandler(handler)
    assert response.headers["X-Request-Id"] == "trace-12345678"
    [line] = [json.loads(raw) for raw in stream.getvalue().splitlines()]
    assert line["message"] == "request"
    assert (line["request_id"], line["route"], line["status"]) == (
        "trace-12345678",
        "/healthz",
        200,
    )
