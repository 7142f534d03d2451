"""Abuse limits: per-token rate (429 + Retry-After), body size (413), security headers.

The shared limit runs against a real Redis on 127.0.0.1:6379; without one that test skips,
except under CI (``SEATGATE_TEST_REQUIRE_REDIS=1``), where it fails.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import secrets
from collections.abc import Iterator

import pytest
import redis
from flask import Flask

from app import create_app, database_of
from app.db import Database, postgresql_connect_args
from app.models import Role
from app.rate_limits import RateLimiter
from app.settings import SettingsError, load_settings
from app.web import RATE_LIMITER_EXTENSION
from tests.app.conftest import OWNER, session_token
from tests.factories import add_users, make_org
from tests.peers import free_port, peers_hidden, require_peer
from tests.scim.conftest import ERROR, issue_token

REDIS_URL = os.environ.get("SEATGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


# The middle of a one-minute window: the limited app's clock stands still there, so a slow
# machine cannot let a test's requests straddle two windows (and two budgets).
MID_WINDOW = 1_000_000 * 60 + 30.0


@pytest.fixture
def limited(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    flask_app = create_app(
        {
            "env": "test",
            "base_url": "https://seatgate.test",
            "database": {"url": database_url},
            "limits": {"requests_per_minute": 3, "max_body_bytes": 2048},
        }
    )
    limiter = flask_app.extensions[RATE_LIMITER_EXTENSION]
    monkeypatch.setattr(limiter, "check", functools.partial(limiter.check, now=MID_WINDOW))
    database = database_of(flask_app)
    make_org(database, "acme", seats=5, term_start=dt.date.today().replace(day=1))
    add_users(database, "acme", [OWNER], Role.OWNER)
    yield flask_app
    database.dispose()


def test_a_scim_token_over_its_budget_gets_429_in_scim_form(limited: Flask) -> None:
    token = issue_token(database_of(limited), "acme")
    client = limited.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert [client.get("/scim/v2/Users", headers=headers).status_code for _ in range(3)] == [
        200
    ] * 3
    refused = client.get("/scim/v2/Users", headers=headers)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.get_json()["schemas"] == [ERROR]
    assert refused.get_json()["status"] == "429"
    other = issue_token(database_of(limited), "acme")  # budgets are per token
    assert (
        client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {other}"}).status_code
        == 200
    )


def test_an_api_token_over_its_budget_gets_429_in_json(limited: Flask) -> None:
    token = session_token(limited, database_of(limited), OWNER)
    client = limited.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(3):
        assert client.get("/api/v1/orgs/acme/seats", headers=headers).status_code == 200
    refused = client.get("/api/v1/orgs/acme/seats", headers=headers)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"].isdigit()
    assert refused.get_json()["error"] == "Too Many Requests"


def test_bodies_over_the_limit_get_413_in_each_protocol(limited: Flask) -> None:
    database: Database = database_of(limited)
    client = limited.test_client()
    big = "x" * 4096
    scim = client.post(
        "/scim/v2/Users",
        data='{"userName": "' + big + '"}',
        content_type="application/scim+json",
        headers={"Authorization": f"Bearer {issue_token(database, 'acme')}"},
    )
    assert scim.status_code == 413
    assert scim.get_json()["schemas"] == [ERROR]
    api = client.post(
        "/api/v1/orgs/acme/seats/quote",
        json={"quantity": 1, "padding": big},
        headers={"Authorization": f"Bearer {session_token(limited, database, OWNER)}"},
    )
    assert api.status_code == 413
    assert api.get_json()["error"] == "Request Entity Too Large"
    page = client.post("/sso/acme/acs", data={"SAMLResponse": big}, headers={"Accept": "text/html"})
    assert page.status_code == 413
    assert page.mimetype == "text/html"


def test_html_pages_carry_security_headers(limited: Flask) -> None:
    reply = limited.test_client().get("/signin", headers={"Accept": "text/html"})
    assert reply.status_code == 200
    policy = reply.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert reply.headers["Strict-Transport-Security"].startswith("max-age=")


def test_no_hsts_when_served_over_plain_http(app: Flask) -> None:
    reply = app.test_client().get("/signin", headers={"Accept": "text/html"})
    assert "Strict-Transport-Security" not in reply.headers
    assert "Content-Security-Policy" in reply.headers


@pytest.fixture
def redis_url() -> str:
    if peers_hidden():
        require_peer(
            "REDIS", "Redis hidden (SEATGATE_TEST_HIDE_PEERS=1; Debian package redis-server)"
        )
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        require_peer(
            "REDIS", f"Redis at {REDIS_URL} is unreachable (Debian package redis-server): {exc}"
        )
    return REDIS_URL


def test_instances_sharing_redis_share_the_budget(redis_url: str) -> None:
    token = secrets.token_urlsafe(16)
    first, second = RateLimiter(3, redis_url), RateLimiter(3, redis_url)
    assert first.check(token, now=1000.0) is None
    assert second.check(token, now=1001.0) is None
    assert first.check(token, now=1002.0) is None
    assert second.check(token, now=1003.0) == 17  # the window ends at 1020
    assert first.check(token, now=1020.0) is None  # a new minute


def test_an_unreachable_redis_falls_back_to_counting_locally() -> None:
    limiter = RateLimiter(2, f"redis://127.0.0.1:{free_port()}/0")
    token = secrets.token_urlsafe(16)
    assert [limiter.check(token, now=60.0) for _ in range(3)] == [None, None, 60]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SEATGATE_REDIS_URL": "http://redis"}, "redis_url: expected redis://"),
        ({"SEATGATE_DATABASE_STATEMENT_TIMEOUT": "0"}, "database.statement_timeout"),
        ({"SEATGATE_LIMITS_MAX_BODY_BYTES": "10"}, "limits.max_body_bytes"),
        ({"SEATGATE_OPERATORS_WEBHOOK_URL": "ftp://x"}, "operators.webhook_url"),
        ({"SEATGATE_OPERATORS_EMAIL": "nobody"}, "operators.email"),
    ],
)
def test_bad_limit_and_operator_settings_name_the_setting(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message.replace(".", r"\.")):
        load_settings(environ=environ)


def test_postgresql_waits_come_from_the_settings() -> None:
    settings = load_settings(
        environ={
            "SEATGATE_DATABASE_CONNECT_TIMEOUT": "3",
            "SEATGATE_DATABASE_STATEMENT_TIMEOUT": "7",
        }
    )
    arguments = postgresql_connect_args(settings.database)
    assert arguments["connect_timeout"] == 3
    assert arguments["options"] == "-c statement_timeout=7000 -c lock_timeout=7000"
