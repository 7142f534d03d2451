"""Shared builders for alert tests."""

from __future__ import annotations

from sqlalchemy import update

from app.db import Database
from app.models import Member, Role
from tests.factories import add_users, make_org

PRIMARY = "primary@acme.example.com"
OWNER = "owner@acme.example.com"
OWNERS = {PRIMARY, OWNER}


def org_with_staff(database: Database, *, seats: int = 10, auto_renew: bool = True) -> int:
    """An organization whose alerts go to two owners, never to its admin, user or ex-owner."""
    org_id = make_org(database, seats=seats, owner=PRIMARY, auto_renew=auto_renew)
    add_users(database, "acme", [OWNER, "former-owner@acme.example.com"], Role.OWNER)
    add_users(database, "acme", ["admin@acme.example.com"], Role.ADMIN)
    with database.unit_of_work() as session:
        session.execute(
            update(Member)
            .where(Member.email == "former-owner@acme.example.com")
            .values(active=False)
        )
    return org_id
