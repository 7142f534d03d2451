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
from hypothesis import strategies as st
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


# What people and clients send where a number belongs (issue 19): ASCII digits in and out of
# range, integers past 32 and 64 bits, and digits of every other script, Unicode categories
# Nd (٣, ५) and No (², ½), alone or among ASCII digits; and JSON nested far too deep.
huge_integers = st.one_of(
    st.integers(min_value=2**31 - 2, max_value=10**40),
    st.integers(min_value=-(10**40), max_value=-(2**31)),
    st.sampled_from([2**31, 2**63, 2**64 + 1, 10**22]),
)
other_digits = st.characters(categories=["Nd", "No"]).filter(lambda c: c not in "0123456789")
number_texts = st.one_of(
    st.integers(-5, 10**6).map(str),
    huge_integers.map(str),
    st.text(other_digits, min_size=1, max_size=6),
    st.tuples(st.integers(0, 999), other_digits, st.integers(0, 99)).map(
        lambda parts: f"{parts[0]}{parts[1]}{parts[2]}"
    ),
    st.sampled_from(["", " 7 ", "1_000", "+5", "0x10", "1e3", "5.0", "-0", "\u00a0", "NaN"]),
)
json_numbers = st.one_of(
    st.integers(-5, 10**6),
    huge_integers,
    number_texts,
    st.floats(),
    st.booleans(),
    st.none(),
)


@st.composite
def deep_json(draw: st.DrawFn) -> str:
    """Arrays or objects nested from a little past the limit to far past the interpreter's."""
    depth = draw(st.one_of(st.integers(30, 40), st.integers(900, 1100), st.just(100_000)))
    if draw(st.booleans()):
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def no_leak(body: str) -> bool:
    return not any(word in body for word in ("Traceback", "SELECT ", "sqlalchemy", "psycopg"))


def describe(reply: Any) -> str:
    return f"{reply.status_code} {reply.get_data(as_text=True)[:400]}"
