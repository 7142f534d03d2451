"""HTTP plumbing: health, request ids, errors without stack traces."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

from flask import Flask, Response, after_this_request, session
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


def test_a_session_cookie_is_read_and_a_request_without_one_gets_an_empty_session(
    app: Flask,
) -> None:
    """Sessions open lazily (no signer for cookie-less API calls), and still round-trip."""

    @app.get("/test-session/<value>")
    def remember(value: str) -> str:
        before = session.get("value", "")
        session["value"] = value
        return before

    client = app.test_client()
    assert client.get("/test-session/first").get_data(as_text=True) == ""
    assert client.get("/test-session/second").get_data(as_text=True) == "first"
    client.delete_cookie("session")
    assert client.get("/test-session/third").get_data(as_text=True) == ""
    client.set_cookie("session", "forged.value.signature")
    assert client.get("/test-session/fourth").get_data(as_text=True) == ""  # bad signature


def test_per_request_callbacks_are_not_kept_after_their_request(app: Flask) -> None:
    """The app remembers which functions are synchronous, but not the closures made for one
    request (``after_this_request``): a long-running worker must not grow with traffic."""
    made: list[weakref.ref[Any]] = []

    @app.get("/test-callback")
    def with_callback() -> str:
        def stamp(response: Response) -> Response:
            response.headers["X-Test"] = "1"
            return response

        made.append(weakref.ref(stamp))
        after_this_request(stamp)
        return "ok"

    client = app.test_client()
    for _ in range(5):
        assert client.get("/test-callback").headers["X-Test"] == "1"
    gc.collect()
    assert all(ref() is None for ref in made)


def _flask_session_cookie(flask_app: Flask) -> str:
    """The ``Set-Cookie`` of Flask's own session (where the pages keep the CSRF token)."""

    @flask_app.get("/test-csrf-session")
    def remember() -> str:
        session["csrf_token"] = "x"
        return ""

    response = flask_app.test_client().get("/test-csrf-session")
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def test_the_csrf_session_cookie_is_secure_behind_https_and_same_site_lax(tmp_path: Path) -> None:
    unused = {"url": f"sqlite:///{tmp_path / 'unused.sqlite3'}"}  # no request reaches it
    https = create_app({"env": "test", "base_url": "https://seatgate.test", "database": unused})
    cookie = _flask_session_cookie(https)
    for flag in ("Secure", "HttpOnly", "SameSite=Lax"):
        assert flag in cookie, cookie
    plain = create_app({"env": "test", "database": unused})  # http://127.0.0.1:8000
    cookie = _flask_session_cookie(plain)
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie and "Secure" not in cookie
