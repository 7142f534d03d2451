"""The replay cache's housekeeping: expired rows go, at most once a minute per process."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.db import Database
from app.models import AuthnRequestRecord, SeenAssertion
from sso import replay
from sso.saml import SamlIdentity
from tests.factories import make_org

T0 = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
pytestmark = pytest.mark.usefixtures("fresh_purge_schedule")


def identity(assertion_id: str, not_on_or_after: dt.datetime) -> SamlIdentity:
    return SamlIdentity(
        issuer="https://idp.example.com",
        name_id="alice@acme.example.com",
        name_id_format=None,
        email="alice@acme.example.com",
        display_name=None,
        attributes={},
        session_index=None,
        assertion_id=assertion_id,
        not_on_or_after=not_on_or_after,
        in_response_to=None,
    )


def answer(database: Database, org_id: int, assertion_id: str, now: dt.datetime) -> None:
    with database.unit_of_work() as session:
        replay.answer_once(
            session,
            org_id,
            identity(assertion_id, now + dt.timedelta(minutes=5)),
            allow_unsolicited=True,
            unsolicited_next=lambda: "/",
            now=now,
        )


def remembered(database: Database) -> tuple[set[str], set[str]]:
    with database.unit_of_work(write=False) as session:
        seen = set(session.scalars(select(SeenAssertion.assertion_id)))
        requests = set(session.scalars(select(AuthnRequestRecord.id)))
        return seen, requests


def test_expired_assertions_are_purged_at_most_once_a_minute(database: Database) -> None:
    org_id = make_org(database)

    def at(minutes: int, seconds: int = 0) -> dt.datetime:
        return T0 + dt.timedelta(minutes=minutes, seconds=seconds)

    answer(database, org_id, "_a", at(0))  # each is kept until 5 minutes after its answer
    answer(database, org_id, "_b", at(6))  # a purge is due: _a goes
    assert remembered(database)[0] == {"_b"}
    answer(database, org_id, "_c", at(11, 0))  # due again: _b (until 11:00) is not expired yet
    answer(database, org_id, "_d", at(11, 40))  # _b expired, but the last purge was 40 s ago
    assert remembered(database)[0] == {"_b", "_c", "_d"}
    answer(database, org_id, "_e", at(12, 1))  # due: _b goes
    assert remembered(database)[0] == {"_c", "_d", "_e"}


def test_an_unpurged_assertion_still_cannot_be_replayed(database: Database) -> None:
    """Between purges the cache still refuses a replay (the unique constraint decides)."""
    org_id = make_org(database)
    answer(database, org_id, "_once", T0)
    with pytest.raises(IntegrityError):
        answer(database, org_id, "_once", T0 + dt.timedelta(seconds=10))
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(SeenAssertion)) == 1


def test_expired_authn_requests_are_purged_at_most_once_a_minute(database: Database) -> None:
    org_id = make_org(database)

    def remember(request_id: str, minutes: int, seconds: int = 0) -> None:
        with database.unit_of_work() as session:
            replay.remember_request(
                session,
                org_id,
                request_id,
                "/",
                lifetime=dt.timedelta(minutes=5),
                now=T0 + dt.timedelta(minutes=minutes, seconds=seconds),
            )

    remember("_r1", 0)  # lives until 5:00
    remember("_r2", 4, 30)  # a purge runs; nothing has expired yet
    remember("_r3", 5, 10)  # _r1 expired, but the last purge was 40 s ago
    assert remembered(database)[1] == {"_r1", "_r2", "_r3"}
    remember("_r4", 5, 40)  # due: _r1 goes
    assert remembered(database)[1] == {"_r2", "_r3", "_r4"}
