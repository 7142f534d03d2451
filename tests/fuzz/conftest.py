"""Two organizations for the fuzzers: acme (the caller) and globex (the one it must not see).

``SEATGATE_FUZZ_EXAMPLES`` sets how many requests each fuzz test generates (per engine);
the suite's default is small, ``make fuzz`` raises it past 10,000 requests in total.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from app import create_app, database_of
from app.db import Database
from app.ledger import recount
from app.models import Role
from tests.app.conftest import session_token
from tests.factories import add_users, make_org
from tests.scim.conftest import issue_token

EXAMPLES = int(os.environ.get("SEATGATE_FUZZ_EXAMPLES", "150"))
SLUGS = ("acme", "globex")
SENT: Counter[str] = Counter()  # generated requests per API, shown at the end of the run


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SENT:
        counts = ", ".join(f"{api}: {n}" for api, n in sorted(SENT.items()))
        terminalreporter.write_line(f"fuzz: {sum(SENT.values())} generated requests ({counts})")


@dataclass
class Tenant:
    slug: str
    scim_token: str
    api_token: str
    user_ids: list[str]


@dataclass
class Tenants:
    app: Flask
    database: Database
    acme: Tenant
    globex: Tenant


@pytest.fixture
def fuzz_app(database_url: str):  # type: ignore[no-untyped-def]
    flask_app = create_app(
        {"env": "test", "database": {"url": database_url}, "limits": {"requests_per_minute": 0}}
    )
    yield flask_app
    database_of(flask_app).dispose()


@pytest.fixture
def tenants(fuzz_app: Flask) -> Tenants:
    database = database_of(fuzz_app)
    made = {}
    for slug in SLUGS:
        make_org(database, slug, seats=4, term_start=dt.date.today().replace(day=1))
        add_users(database, slug, [f"owner2@{slug}.example.com"], Role.OWNER)
        token = issue_token(database, slug)
        client = fuzz_app.test_client()
        ids = []
        for number in range(3):
            email = f"user{number}@{slug}.example.com"
            reply = client.post(
                "/scim/v2/Users",
                json={"userName": email, "emails": [{"value": email}], "active": number < 2},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert reply.status_code == 201, reply.get_data(as_text=True)
            ids.append(reply.get_json()["id"])
        api = session_token(fuzz_app, database, f"owner@{slug}.example.com", slug)
        made[slug] = Tenant(slug, token, api, ids)
    return Tenants(fuzz_app, database, made["acme"], made["globex"])


def assert_invariants(database: Database) -> None:
    """I1 at every ledger event, and I4 for every organization."""
    with database.unit_of_work(write=False) as session:
        oversold = session.scalar(
            text("SELECT count(*) FROM seat_events WHERE assigned_after > purchased_after")
        )
        assert oversold == 0
        for organization_id in session.scalars(text("SELECT id FROM organizations")):
            result = recount(session, organization_id)
            assert result.consistent, result.as_dict()


def no_leak(body: str) -> bool:
    return not any(word in body for word in ("Traceback", "SELECT ", "sqlalchemy", "psycopg"))


def describe(reply: Any) -> str:
    return f"{reply.status_code} {reply.get_data(as_text=True)[:400]}"
