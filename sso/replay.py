"""Each sign-in answer is usable once: AuthnRequest ids and the assertion replay cache.

Both live in the database, so the guarantees hold across every instance sharing it: an
AuthnRequest is consumed by a conditional UPDATE (only one transaction can flip
``consumed_at``), and an assertion id is inserted under a unique (organization, assertion id)
constraint, so a concurrent replay fails with an ``IntegrityError`` the caller turns into a
refusal. Expired rows are purged as new ones arrive, at most once a minute
(:mod:`app.housekeeping`): an expired AuthnRequest is never consumed (the UPDATE checks
``expires_at``), and an expired assertion is refused by validation before the replay cache
is consulted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from app.housekeeping import purge_due
from app.models import AuthnRequestRecord, SeenAssertion
from sso.errors import UnknownRequest, UnsolicitedResponse
from sso.saml import SamlIdentity


def remember_request(
    session: Session,
    organization_id: int,
    request_id: str,
    next_url: str,
    *,
    lifetime: dt.timedelta,
    now: dt.datetime,
    test_mode: bool = False,
    idp_submission_id: int | None = None,
) -> None:
    """Store an AuthnRequest seatgate sent, with where to go once it is answered.

    ``test_mode`` marks a test sign-in from a setup page: its answer is validated like any
    other, then reported instead of admitting anyone. ``idp_submission_id`` names the pending
    IdP configuration it tests (always with ``test_mode``).
    """
    assert test_mode or idp_submission_id is None
    if purge_due("authn_requests", None, now):
        session.execute(delete(AuthnRequestRecord).where(AuthnRequestRecord.expires_at < now))
    session.add(
        AuthnRequestRecord(
            id=request_id,
            organization_id=organization_id,
            next_url=next_url,
            created_at=now,
            expires_at=now + lifetime,
            test_mode=test_mode,
            idp_submission_id=idp_submission_id,
        )
    )


@dataclass(frozen=True)
class Answer:
    """Where to send the user, and whether the answered request was a test sign-in."""

    next_url: str
    test_mode: bool = False


def answer_once(
    session: Session,
    organization_id: int,
    identity: SamlIdentity,
    *,
    allow_unsolicited: bool,
    unsolicited_next: Callable[[], str],
    now: dt.datetime,
    rehearsal_of: int | None = None,
) -> Answer:
    """Consume the AuthnRequest this answers (or accept it as IdP-initiated when allowed)
    and record the assertion id. Returns where to send the user after sign-in.

    ``rehearsal_of``: the answer was checked against that pending IdP configuration, so it
    may only spend the test request made for it (never a real one, never unsolicited).
    """
    if rehearsal_of is not None and identity.in_response_to is None:
        raise UnsolicitedResponse("a test of a pending configuration answers its own request")
    if identity.in_response_to is not None:
        query = update(AuthnRequestRecord).where(
            AuthnRequestRecord.id == identity.in_response_to,
            AuthnRequestRecord.organization_id == organization_id,
            AuthnRequestRecord.consumed_at.is_(None),
            AuthnRequestRecord.expires_at > now,
        )
        if rehearsal_of is not None:
            query = query.where(
                AuthnRequestRecord.test_mode.is_(True),
                AuthnRequestRecord.idp_submission_id == rehearsal_of,
            )
        answered = session.execute(
            query.values(consumed_at=now).returning(
                AuthnRequestRecord.next_url, AuthnRequestRecord.test_mode
            )
        ).one_or_none()
        if answered is None:
            raise UnknownRequest(f"InResponseTo {identity.in_response_to!r} unknown or used")
        answer = Answer(next_url=answered.next_url, test_mode=bool(answered.test_mode))
    elif allow_unsolicited:
        answer = Answer(next_url=unsolicited_next())
    else:
        raise UnsolicitedResponse("IdP-initiated response and the organization does not allow it")
    if purge_due("seen_assertions", organization_id, now):
        session.execute(
            delete(SeenAssertion).where(
                SeenAssertion.organization_id == organization_id,
                SeenAssertion.not_on_or_after < now,
            )
        )
    session.add(
        SeenAssertion(
            organization_id=organization_id,
            assertion_id=identity.assertion_id,
            not_on_or_after=max(identity.not_on_or_after, now),
            seen_at=now,
        )
    )
    session.flush()
    return answer
