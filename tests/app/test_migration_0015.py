"""Migration 0015: the keys stored by the case-folding rule become identity keys
(:mod:`app.addresses`), and no two people are made one on the way."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, insert, select

from app.migrations_runner import alembic_config, current_revision, upgrade_database
from app.models import DirectoryUser, Member, Organization, OrganizationDomain, WaitingEntry

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at_0009_with_an_organization(url: str) -> tuple[Engine, int]:
    """A database migrated to 0009 (the case-folded keys) holding organization ``acme``."""
    upgrade_database(url, "0014")
    engine = create_engine(url)
    with engine.begin() as connection:
        org = connection.execute(
            insert(Organization).values(slug="acme", name="Acme", created_at=NOW)
        ).inserted_primary_key
    return engine, int(org[0])


def _member(organization_id: int, email: str, old_key: str) -> dict[str, Any]:
    return {
        "organization_id": organization_id,
        "email": email,
        "email_normalized": old_key,
        "role": "user",
        "active": True,
        "created_at": NOW,
        "updated_at": NOW,
    }


def test_migration_0015_recomputes_the_stored_keys(
    empty_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Keys stored by the case-folding rule become identity keys. Members' and waiting
    entries' addresses were stored normalized, so two of them can never come to share a
    key (the new key is finer than case folding: ``tests/app/test_addresses.py``). Stored
    userNames were not normalized: canonically equivalent ones now share a key, which the
    oldest user keeps; the others get a key no userName maps to (and a warning). A domain
    that IDNA 2008 refuses is kept as stored: it admits no address, and its organization's
    allowlist is not silently emptied."""
    engine, org = at_0009_with_an_organization(empty_database_url)
    with engine.begin() as connection:
        member_ids = {}
        for email, old_key in [
            ("Straße@example.com", "strasse@example.com"),
            ("anna@bücher.example", "anna@bücher.example"),
            ("SAM@acme.example.com", "sam@acme.example.com"),
            ("\u00e9ve@acme.example.com", "\u00e9ve@acme.example.com"),
            ("eve.two@acme.example.com", "eve.two@acme.example.com"),
            ("bob.one@acme.example.com", "bob.one@acme.example.com"),
            ("bob.two@acme.example.com", "bob.two@acme.example.com"),
        ]:
            member_ids[email] = connection.execute(
                insert(Member).values(_member(org, email, old_key))
            ).inserted_primary_key[0]
        for number, (user_name, email) in enumerate(
            [
                ("\u00e9ve@acme.example.com", "\u00e9ve@acme.example.com"),
                ("e\u0301ve@acme.example.com", "eve.two@acme.example.com"),
                ("bob@xn--bcher-kva.example", "bob.one@acme.example.com"),
                ("BOB@bücher.example", "bob.two@acme.example.com"),
                ("Straße@example.com", "Straße@example.com"),
            ]
        ):
            connection.execute(
                insert(DirectoryUser).values(
                    member_id=member_ids[email],
                    organization_id=org,
                    resource_id=f"00000000-0000-0000-0000-00000000000{number}",
                    user_name=user_name,
                    user_name_key=user_name.casefold(),
                    profile={},
                    enterprise={},
                    version=1,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        for domain in ("xn--bcher-kva.example", "xn--n3h.example"):  # ☃: IDNA 2003 only
            connection.execute(
                insert(OrganizationDomain).values(
                    organization_id=org, domain=domain, created_at=NOW
                )
            )
        connection.execute(
            insert(WaitingEntry).values(
                organization_id=org,
                source="sso",
                email="Straße@example.com",
                email_normalized="strasse@example.com",
                request={},
                attempts=1,
                first_refused_at=NOW,
                last_refused_at=NOW,
            )
        )

    migrations_log = logging.getLogger("seatgate.migrations")
    migrations_log.addHandler(caplog.handler)  # "seatgate" may not propagate to the root
    try:
        assert upgrade_database(empty_database_url) is not None
    finally:
        migrations_log.removeHandler(caplog.handler)

    with engine.connect() as connection:
        keys = dict(connection.execute(select(Member.email, Member.email_normalized)).all())
        user_keys = dict(
            connection.execute(
                select(DirectoryUser.user_name, DirectoryUser.user_name_key).order_by(
                    DirectoryUser.member_id
                )
            ).all()
        )
        stored_domains = connection.scalars(select(OrganizationDomain.domain)).all()
        waiting_key = connection.scalar(select(WaitingEntry.email_normalized))
    assert keys["Straße@example.com"] == "straße@example.com"
    assert keys["anna@bücher.example"] == "anna@xn--bcher-kva.example"
    assert keys["SAM@acme.example.com"] == "sam@acme.example.com"
    assert user_keys["\u00e9ve@acme.example.com"] == "\u00e9ve@acme.example.com"
    assert user_keys["bob@xn--bcher-kva.example"] == "bob@xn--bcher-kva.example"
    assert user_keys["Straße@example.com"] == "straße@example.com"
    retired = [user_keys["e\u0301ve@acme.example.com"], user_keys["BOB@bücher.example"]]
    assert len(set(retired)) == 2 and not set(retired) & set(user_keys.values()) - set(retired)
    assert sorted(stored_domains) == ["xn--bcher-kva.example", "xn--n3h.example"]
    assert waiting_key == "straße@example.com"
    warned = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert "e\u0301ve@acme.example.com" in warned and "BOB@bücher.example" in warned
    assert "xn--n3h.example" in warned

    command.downgrade(alembic_config(empty_database_url), "0014")
    with engine.connect() as connection:
        restored = dict(connection.execute(select(Member.email, Member.email_normalized)).all())
    assert restored["Straße@example.com"] == "strasse@example.com"
    engine.dispose()


def test_migration_0015_stops_rather_than_make_two_members_one(empty_database_url: str) -> None:
    """Members are stored validated, so this cannot come from seatgate itself; rows
    written by hand could still do it, and then nobody is merged silently."""
    engine, org = at_0009_with_an_organization(empty_database_url)
    with engine.begin() as connection:
        for email in ("bob@bücher.example", "bob@xn--bcher-kva.example"):
            connection.execute(insert(Member).values(_member(org, email, email)))
    with pytest.raises(RuntimeError, match=r"would share the key 'bob@xn--bcher-kva\.example'"):
        upgrade_database(empty_database_url)
    with engine.connect() as connection:
        keys = connection.scalars(select(Member.email_normalized).order_by(Member.id)).all()
        assert keys == ["bob@bücher.example", "bob@xn--bcher-kva.example"]
    assert current_revision(engine) == "0014"
    engine.dispose()
