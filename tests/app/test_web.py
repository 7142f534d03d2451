"""HTTP plumbing: health, request ids, errors without stack traces."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from app import create_app


def test_health_reports_the_database(client: FlaskClient) -> None:
    reply = client.get("/healthz")
    assert reply.status_code == 200
    assert reply.get_json() == {"status": "ok", "database": "ok"}


def test_request_ids_are_echoed_or_made(client: FlaskClient) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-Id": "abc-12345678"}).headers["X-Request-Id"]
        == "abc-12345678"
    )
    made = client.get("/healthz", headers={"X-Request-Id": "bad id!"}).headers["X-Request-Id"]
    assert made != "bad id!" and len(made) == 32


def test_unknown_routes_answer_404_in_json(client: FlaskClient) -> None:
    reply = client.get("/no/such/page")
    assert reply.status_code == 404
    assert reply.get_json()["error"] == "Not Found"


def test_health_says_unavailable_when_the_database_is(tmp_path: Path) -> None:
    broken = create_app({"env": "test", "database": {"url": f"sqlite:///{tmp_path}/no/dir/x.db"}})
    reply = broken.test_client().get("/healthz")
    assert reply.status_code == 503
    assert reply.get_json() == {"status": "unavailable", "database": "unreachable"}
    assert "Traceback" not in reply.get_data(as_text=True)
