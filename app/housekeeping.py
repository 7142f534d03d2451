"""Expired rows that go as new ones arrive, at most once a minute per process.

Sign-in keeps short-lived rows (AuthnRequests, the assertion replay cache, server-side
sessions). Purging the expired ones on every sign-in cost a statement each time, and on
PostgreSQL concurrent sign-ins deleting the same expired rows waited for each other's
commits; so each process purges a table (of one organization, where it is kept per
organization) at most once per :data:`PURGE_INTERVAL`. That is safe only for rows that are
inert once expired: every reader of these tables checks ``expires_at`` itself.
"""

from __future__ import annotations

import datetime as dt

PURGE_INTERVAL = dt.timedelta(minutes=1)
_last_purge: dict[tuple[str, int | None], dt.datetime] = {}


def purge_due(table: str, organization_id: int | None, now: dt.datetime) -> bool:
    """Whether this process should purge ``table``'s expired rows (of one organization) now;
    a ``True`` answer books the purge."""
    key = (table, organization_id)
    last = _last_purge.get(key)
    # A clock that went back (or a caller's earlier ``now``) makes a purge due, rather than
    # none until the clock catches up with the last booking.
    if last is not None and dt.timedelta(0) <= now - last < PURGE_INTERVAL:
        return False
    _last_purge[key] = now
    return True


def forget() -> None:
    """Every purge due again at once (tests pin the schedule from a clean slate)."""
    _last_purge.clear()
