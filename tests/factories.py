"""Builders for test data, going through the same domain functions as production."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.db import Database
from app.ledger import Actor, claim_seat
from app.models import Member, PlanType, Role, Source
from app.organizations import NewOrganization, add_member, create_organization, get_organization

OPERATOR = Actor(label="test-operator", source=Source.CLI, request_id="test-request")
TERM_START = dt.date(2026, 1, 1)


def at(day: str) -> dt.datetime:
    """Noon UTC on an ISO date: a purchase or claim instant inside that day."""
    return dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=dt.UTC)


def make_org(
    database: Database,
    slug: str = "acme",
    *,
    seats: int = 10,
    price_minor: int = 3000,
    currency: str = "USD",
    term_start: dt.date = TERM_START,
    auto_renew: bool = True,
    owner: str | None = None,
    plan: PlanType = PlanType.ANNUAL_INVOICED,
) -> int:
    with database.unit_of_work() as session:
        organization = create_organization(
            session,
            NewOrganization(
                slug=slug,
                name=slug.title(),
                seats=seats,
                seat_price_minor=price_minor,
                currency=currency,
                term_start=term_start,
                auto_renew=auto_renew,
                primary_owner_email=owner or f"owner@{slug}.example.com",
                plan_type=plan,
            ),
            actor=OPERATOR,
        )
        return organization.id


def add_users(
    database: Database, slug: str, emails: Iterable[str], role: Role = Role.USER
) -> list[int]:
    with database.unit_of_work() as session:
        organization = get_organization(session, slug)
        return [add_member(session, organization, e, role, actor=OPERATOR).id for e in emails]


def seat_members(
    database: Database, member_ids: Iterable[int], *, when: dt.datetime | None = None
) -> None:
    for member_id in member_ids:
        with database.unit_of_work() as session:
            member = session.get(Member, member_id)
            assert member is not None
            claim_seat(session, member, actor=OPERATOR, now=when)


def wait_until_another_waits_on_a_lock(session: Session) -> None:
    """Hold the transaction until another backend blocks on one of its locks (PostgreSQL),
    or briefly (SQLite, where the other writer simply waits for this one to commit)."""
    if session.get_bind().dialect.name != "postgresql":
        time.sleep(0.2)
        return
    for _ in range(200):
        waiting = session.execute(  # a backend blocked by this one (pg_locks is live)
            text(
                "SELECT count(*) FROM pg_locks WHERE NOT granted"
                " AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
            )
        ).scalar_one()
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("no other transaction ever waited on this one's locks")


def kill_connections_to(database: Database) -> None:
    """End every other server-side connection to the database (PostgreSQL), as a restart
    or a network cut would: pooled connections are dead until replaced."""
    name = make_url(database.engine.url).database
    admin = create_engine(database.engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
    admin.dispose()
