"""Expired sign-in sessions go as new ones are issued, at most once a minute per process."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import select

from app import sessions, settings_of
from app.db import Database
from app.models import SignInSession
from app.organizations import get_member, get_organization
from tests.app.conftest import USER

T0 = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
pytestmark = pytest.mark.usefixtures("fresh_purge_schedule")


def issue_at(app: Flask, database: Database, now: dt.datetime) -> str:
    with database.unit_of_work() as session:
        organization = get_organization(session, "acme")
        member = get_member(session, organization, USER)
        issued = sessions.issue(
            session,
            settings_of(app),
            organization,
            member,
            name_id=USER,
            session_index=None,
            now=now,
        )
    return issued.session_id


def kept(database: Database) -> set[str]:
    with database.unit_of_work(write=False) as session:
        return set(session.scalars(select(SignInSession.id)))


def test_expired_sessions_are_purged_at_most_once_a_minute(
    app: Flask, database: Database, acme: int
) -> None:
    lifetime = dt.timedelta(seconds=settings_of(app).sso.token_lifetime_seconds)
    first = issue_at(app, database, T0)  # expires at T0 + lifetime
    second = issue_at(app, database, T0 + lifetime - dt.timedelta(seconds=10))  # purges: none due
    third = issue_at(app, database, T0 + lifetime + dt.timedelta(seconds=20))  # first expired,
    assert kept(database) == {first, second, third}  # but the last purge was 30 s ago
    fourth = issue_at(app, database, T0 + lifetime + dt.timedelta(seconds=51))  # due: it goes
    assert kept(database) == {second, third, fourth}
