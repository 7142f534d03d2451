"""Changes to how an organization's identity provider connects, and the owners' say in them.

Who may change what (DESIGN I10): the operator configures an IdP directly (``seatgate sso
configure``); a setup-link holder, an outside helper, only *submits* a configuration or gets a
SCIM token, and both wait for an Owner or the Primary Owner to approve them. A pending
configuration lives in its own table (:class:`~app.models.IdpSubmission`), which nothing that
signs people in reads; a pending SCIM token is refused by authentication.

Every change alerts the owners at once (``sso_changed``, e-mail and webhooks, never digested),
naming who made it. The alert is written here, in the caller's transaction, so it exists
exactly when the change was committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app import audit
from app.alerts import triggers
from app.crypto import certificate_summary
from app.errors import InvalidInput, NotFound
from app.ledger import Actor
from app.models import (
    IdentityProvider,
    IdpSubmission,
    IdpSubmissionStatus,
    ScimToken,
    SetupLink,
    utcnow,
)

# What one link may send: enough to fix mistakes, too few to flood the owners with alerts.
MAX_SUBMISSIONS_PER_LINK = 20
NO_LONGER_PENDING = (
    "This configuration is no longer waiting for approval: it was approved, rejected or "
    "replaced by a newer one meanwhile. Review the billing page again."
)


def describe(
    entity_id: str, sso_url: str, slo_url: str | None, certificates: Sequence[str]
) -> dict[str, Any]:
    """What an owner needs to recognise an IdP configuration: its URLs and, for each pinned
    certificate, subject, SHA-256 fingerprint and expiry (shown, never trusted)."""
    return {
        "entity_id": entity_id,
        "sso_url": sso_url,
        "slo_url": slo_url,
        "certificates": [certificate_summary(pem) for pem in certificates],
    }


def describe_provider(provider: IdentityProvider | None) -> dict[str, Any] | None:
    if provider is None:
        return None
    return describe(provider.entity_id, provider.sso_url, provider.slo_url, provider.certificates)


def describe_submission(submission: IdpSubmission) -> dict[str, Any]:
    return describe(
        submission.entity_id, submission.sso_url, submission.slo_url, submission.certificates
    )


def announce(
    session: Session,
    organization_id: int,
    change: str,
    actor: Actor,
    *,
    idp: dict[str, Any] | None = None,
    previous: dict[str, Any] | None = None,
    link: SetupLink | None = None,
    scim_token: ScimToken | None = None,
) -> None:
    """Write the owners' ``sso_changed`` alert: what changed, and who changed it."""
    details: dict[str, Any] = {"change": change, "by": actor.label, "source": actor.source.value}
    if idp is not None:
        details["idp"] = idp
    if previous is not None:
        details["previous"] = previous
    if link is not None:
        details["setup_link"] = {"id": link.id, "created_by": link.created_by}
    if scim_token is not None:
        details["scim_token"] = {"id": scim_token.id, "label": scim_token.label}
    triggers.sso_changed(session, organization_id, details, request_id=actor.request_id)


def pending_submission(session: Session, organization_id: int) -> IdpSubmission | None:
    """The configuration waiting for an owner, if any (at most one per organization)."""
    return session.scalar(
        select(IdpSubmission).where(
            IdpSubmission.organization_id == organization_id,
            IdpSubmission.status == IdpSubmissionStatus.PENDING.value,
        )
    )


def record_submission(
    session: Session,
    link: SetupLink,
    *,
    entity_id: str,
    sso_url: str,
    slo_url: str | None,
    certificates: Sequence[str],
    actor: Actor,
) -> IdpSubmission:
    """Keep a (validated) configuration sent through ``link`` until an owner decides.

    A newer submission replaces one still pending (the helper fixed a mistake); an owner
    approves exactly the one they were shown, never a replacement they did not see
    (:func:`settle` checks the id).
    """
    sent = session.scalar(
        select(func.count())
        .select_from(IdpSubmission)
        .where(IdpSubmission.setup_link_id == link.id)
    )
    if (sent or 0) >= MAX_SUBMISSIONS_PER_LINK:
        raise InvalidInput(
            f"This link has sent {MAX_SUBMISSIONS_PER_LINK} configurations already; "
            "ask an owner for a new link."
        )
    now = utcnow()
    session.execute(
        update(IdpSubmission)
        .where(
            IdpSubmission.organization_id == link.organization_id,
            IdpSubmission.status == IdpSubmissionStatus.PENDING.value,
        )
        .values(status=IdpSubmissionStatus.SUPERSEDED.value, decided_by=actor.label, decided_at=now)
    )
    submission = IdpSubmission(
        organization_id=link.organization_id,
        setup_link_id=link.id,
        submitted_by=actor.label,
        submitted_at=now,
        entity_id=entity_id,
        sso_url=sso_url,
        slo_url=slo_url,
        certificates=list(certificates),
        status=IdpSubmissionStatus.PENDING.value,
    )
    session.add(submission)
    session.flush()
    audit.record(
        session,
        actor,
        "sso.submit",
        organization_id=link.organization_id,
        target=entity_id,
        details={"submission": submission.id, "setup_link": link.id},
    )
    announce(
        session,
        link.organization_id,
        "submitted",
        actor,
        idp=describe_submission(submission),
        link=link,
    )
    return submission


def settle(
    session: Session,
    organization_id: int,
    submission_id: int,
    status: IdpSubmissionStatus,
    *,
    actor: Actor,
) -> IdpSubmission:
    """Decide a pending submission once: a conditional UPDATE, so of two owners deciding at
    the same moment (or an owner and a newer submission) exactly one wins."""
    decided = session.execute(
        update(IdpSubmission)
        .where(
            IdpSubmission.id == submission_id,
            IdpSubmission.organization_id == organization_id,
            IdpSubmission.status == IdpSubmissionStatus.PENDING.value,
        )
        .values(status=status.value, decided_by=actor.label, decided_at=utcnow())
    )
    if not decided.rowcount:  # type: ignore[attr-defined]
        raise NotFound(NO_LONGER_PENDING)
    submission = session.get(IdpSubmission, submission_id, populate_existing=True)
    assert submission is not None
    audit.record(
        session,
        actor,
        f"sso.submission.{status.value}",
        organization_id=organization_id,
        target=submission.entity_id,
        details={"submission": submission.id, "setup_link": submission.setup_link_id},
    )
    return submission


def reject_submission(
    session: Session, organization_id: int, submission_id: int, *, actor: Actor
) -> IdpSubmission:
    """An owner refuses a pending configuration; the current IdP stays as it is."""
    submission = settle(
        session, organization_id, submission_id, IdpSubmissionStatus.REJECTED, actor=actor
    )
    announce(
        session,
        organization_id,
        "rejected",
        actor,
        idp=describe_submission(submission),
        link=_link_of(session, submission.setup_link_id),
    )
    return submission


def _link_of(session: Session, link_id: int | None) -> SetupLink | None:
    return session.get(SetupLink, link_id) if link_id is not None else None
