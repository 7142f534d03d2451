"""IdP configurations from setup links: submitted, rehearsed, approved by an owner.

A setup-link holder's metadata becomes an :class:`~app.models.IdpSubmission`, never the
organization's :class:`~app.models.IdentityProvider`: the organization's current IdP keeps
signing people in. The submission serves one thing, the setup page's test sign-in, whose
answer is checked against it and only ever reported (:func:`rehearsal_of`); no code path
from there admits anyone, so a pending configuration can never mint a session, and so can
never approve itself. An Owner or the Primary Owner approves it (:func:`approve`), which is
the only way it reaches sign-in, or rejects it (:func:`app.idp_changes.reject_submission`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import idp_changes
from app.errors import InvalidInput
from app.ledger import Actor
from app.models import (
    IdentityProvider,
    IdpSubmission,
    IdpSubmissionStatus,
    Organization,
    SetupLink,
)
from sso import saml
from sso.errors import SsoMisconfigured, UnknownRequest
from sso.providers import (
    IdpDescription,
    PolicyChange,
    check_with_python3_saml,
    configure,
    find_provider,
    unsaved_provider,
)

# The RelayState of a test sign-in against a pending configuration: it tells the ACS which
# configuration to check the answer with. Unauthenticated, and it need not be: an answer so
# checked can only spend the test request made for that very submission, and is reported.
REHEARSAL_PREFIX = "seatgate-rehearsal:"


def submit(
    session: Session,
    link: SetupLink,
    organization: Organization,
    description: IdpDescription,
    *,
    endpoints: saml.SpEndpoints,
    secret_key: str,
    actor: Actor,
) -> IdpSubmission:
    """Keep ``description`` for the owners to approve, once it passed every check a
    configuration passes (so an owner is never asked to approve one that cannot work)."""
    check_with_python3_saml(description)
    provider = unsaved_provider(organization.id, find_provider(session, organization), description)
    try:
        saml.saml_settings(provider, endpoints, secret_key)
    except SsoMisconfigured as exc:  # what the settings check cannot see (e.g. the SP key)
        detail = exc.detail
        raise InvalidInput(f"The identity provider's settings are not usable: {detail}") from exc
    return idp_changes.record_submission(
        session,
        link,
        entity_id=provider.entity_id,
        sso_url=provider.sso_url,
        slo_url=provider.slo_url,
        certificates=provider.certificates,
        actor=actor,
    )


def rehearsal_provider(
    session: Session, organization: Organization, submission: IdpSubmission
) -> IdentityProvider:
    """The pending configuration with the organization's policy, for a test sign-in only."""
    return unsaved_provider(
        organization.id, find_provider(session, organization), description_of(submission)
    )


def description_of(submission: IdpSubmission) -> IdpDescription:
    return IdpDescription(
        entity_id=submission.entity_id,
        sso_url=submission.sso_url,
        slo_url=submission.slo_url,
        certificates=list(submission.certificates),
    )


def relay_state(submission: IdpSubmission) -> str:
    return f"{REHEARSAL_PREFIX}{submission.id}"


def rehearsed_submission(relay: str) -> int | None:
    """The submission a test sign-in's RelayState names, if it names one."""
    number = relay.removeprefix(REHEARSAL_PREFIX)
    if number == relay or not number.isascii() or not number.isdigit() or len(number) > 18:
        return None
    return int(number)


def rehearsal_of(
    session: Session, organization: Organization, submission_id: int
) -> IdentityProvider:
    """What a rehearsal's answer is checked with: the submission, while still pending."""
    submission = session.scalar(
        select(IdpSubmission).where(
            IdpSubmission.id == submission_id,
            IdpSubmission.organization_id == organization.id,
            IdpSubmission.status == IdpSubmissionStatus.PENDING.value,
        )
    )
    if submission is None:
        raise UnknownRequest(f"no pending IdP configuration {submission_id} to test")
    return rehearsal_provider(session, organization, submission)


def approve(
    session: Session,
    organization: Organization,
    submission_id: int,
    *,
    secret_key: str,
    actor: Actor,
) -> IdentityProvider:
    """An owner makes the submission the organization's IdP (its sign-in policy is kept).

    Exactly the submission the owner was shown: a newer one has another id, and one already
    decided is refused (:func:`app.idp_changes.settle`).
    """
    previous = idp_changes.describe_provider(find_provider(session, organization))
    submission = idp_changes.settle(
        session, organization.id, submission_id, IdpSubmissionStatus.APPROVED, actor=actor
    )
    provider = configure(
        session,
        organization,
        description=description_of(submission),
        change=PolicyChange(),
        secret_key=secret_key,
        actor=actor,
        announce=False,
    )
    idp_changes.announce(
        session,
        organization.id,
        "approved",
        actor,
        idp=idp_changes.describe_provider(provider),
        previous=previous,
        link=session.get(SetupLink, submission.setup_link_id) if submission.setup_link_id else None,
    )
    return provider
