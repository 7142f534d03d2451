"""Bulk loading of the benchmark organization, straight into the domain's tables.

Creating 100,000 users through SCIM would take minutes; this writes what provisioning
writes, in batches: one member, one directory user, its e-mail value, one seat assignment and
one ``assign`` ledger event per user, and the pool's ``assigned`` counter once at the end, so
that ``seatgate seats recount`` agrees (the loader checks it). The organization itself, its
initial seats, the SCIM token and the IdP go through the ordinary domain functions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from app.addresses import identity_key
from app.db import Database
from app.directory import user_name_key
from app.ledger import Actor, add_purchased, recount
from app.models import (
    DirectoryUser,
    DirectoryValue,
    Member,
    Role,
    SeatAssignment,
    SeatEvent,
    SeatEventKind,
    SeatPool,
    Source,
    utcnow,
)
from app.organizations import NewOrganization, create_organization
from app.scim_tokens import create_token
from bench import dataset

LOADER = Actor(label="bench-loader", source=Source.CLI, request_id="bench-load")
BATCH = 5000
# Free seats kept beyond the loaded users, for the POST scenarios (well under the first alert
# threshold, so creations measure the threshold check, not a burst of alerts).
HEADROOM = 60_000


@dataclass(frozen=True)
class LoadedOrganization:
    organization_id: int
    slug: str
    scim_token: str
    domain: str  # of its users' e-mail addresses (see bench.dataset)


def create_bench_organization(
    database: Database, slug: str, *, seats: int, domain: str = dataset.DOMAIN
) -> LoadedOrganization:
    """An organization with ``seats`` purchased seats, a current term and a SCIM token."""
    today = utcnow().date()
    with database.unit_of_work() as session:
        organization = create_organization(
            session,
            NewOrganization(
                slug=slug,
                name=slug.title(),
                seats=seats,
                seat_price_minor=1000,
                currency="USD",
                term_start=today - dt.timedelta(days=30),
                auto_renew=True,
                primary_owner_email=f"owner@{slug}.example.com",
            ),
            actor=LOADER,
        )
        issued = create_token(session, organization, label="bench", actor=LOADER)
        return LoadedOrganization(organization.id, slug, issued.secret, domain)


def load_users(
    database: Database, organization: LoadedOrganization, count: int, *, start: int = 0
) -> None:
    """Users ``start .. count-1`` of :mod:`bench.dataset`, active and each holding a seat."""
    organization_id = organization.organization_id
    new = count - start
    with database.unit_of_work() as session:
        pool = session.get(SeatPool, organization_id)
        assert pool is not None
        if pool.purchased - pool.assigned < new + HEADROOM:
            add_purchased(
                session,
                organization_id,
                new + HEADROOM - (pool.purchased - pool.assigned),
                actor=LOADER,
                reason="bench: room for the loaded users",
            )
        assigned = pool.assigned
    for first in range(start, count, BATCH):
        with database.unit_of_work() as session:
            assigned = _load_batch(
                session,
                organization,
                range(first, min(first + BATCH, count)),
                assigned,
            )
    with database.unit_of_work() as session:
        session.execute(
            update(SeatPool)
            .where(SeatPool.organization_id == organization_id)
            .values(assigned=assigned)
        )
        checked = recount(session, organization_id)
    if not checked.consistent:
        raise RuntimeError(f"bulk load left inconsistent counts: {checked.as_dict()}")


def _load_batch(
    session: Session, organization: LoadedOrganization, users: range, assigned: int
) -> int:
    organization_id, domain = organization.organization_id, organization.domain
    now = utcnow()
    member_rows = [
        {
            "organization_id": organization_id,
            "email": dataset.user_name(i, domain),
            "email_normalized": identity_key(dataset.user_name(i, domain)),
            "display_name": dataset.display_name(i),
            "role": Role.USER.value,
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
        for i in users
    ]
    member_ids = list(
        session.scalars(
            insert(Member).returning(Member.id, sort_by_parameter_order=True), member_rows
        )
    )
    pairs = list(zip(users, member_ids, strict=True))
    session.execute(
        insert(DirectoryUser),
        [_directory_row(organization_id, domain, i, m, now) for i, m in pairs],
    )
    session.execute(
        insert(DirectoryValue),
        [
            {
                "member_id": member_id,
                "attribute": "emails",
                "position": 0,
                "item": dataset.scim_user(i, domain)["emails"][0],
            }
            for i, member_id in pairs
        ],
    )
    session.execute(
        insert(SeatAssignment),
        [
            {"organization_id": organization_id, "member_id": member_id, "assigned_at": now}
            for _, member_id in pairs
        ],
    )
    events = []
    purchased = session.get(SeatPool, organization_id).purchased  # type: ignore[union-attr]
    for i, member_id in pairs:
        assigned += 1
        events.append(
            {
                "organization_id": organization_id,
                "kind": SeatEventKind.ASSIGN.value,
                "member_id": member_id,
                "subject": dataset.user_name(i, domain),
                "purchased_delta": 0,
                "assigned_delta": 1,
                "purchased_after": purchased,
                "assigned_after": assigned,
                "actor": LOADER.label,
                "source": LOADER.source.value,
                "reason": "bench: bulk load",
                "request_id": LOADER.request_id,
                "created_at": now,
            }
        )
    session.execute(insert(SeatEvent), events)
    return assigned


def _directory_row(
    organization_id: int, domain: str, i: int, member_id: int, now: dt.datetime
) -> dict[str, Any]:
    body = dataset.scim_user(i, domain)
    return {
        "member_id": member_id,
        "organization_id": organization_id,
        "resource_id": dataset.resource_id(i, domain),
        "user_name": body["userName"],
        "user_name_key": user_name_key(body["userName"]),
        "profile": {"name": body["name"], "active": True},
        "enterprise": {},
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
