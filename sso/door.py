"""The seat check at the door: who may come in after the IdP vouched for them (R10).

Works on the neutral :class:`~sso.saml.SamlIdentity` and the ledger only. Every seat goes
through :func:`app.ledger.claim_seat`, whose claim is the same one SCIM's creates run, so the
two doors cannot disagree; a refusal propagates as :class:`app.errors.SeatRefused`, which
the unit of work records for the owners (I8) before the view renders the refusal page.

:func:`rehearse` runs the same checks for a test sign-in without changing anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app import audit, domains, sessions
from app.addresses import normalize_email
from app.connection_logs import Step
from app.errors import DomainNotAllowed, InvalidInput
from app.ledger import Actor, claim_seat, seat_usage
from app.models import Member, Organization, Role
from app.organizations import add_member, find_member
from app.sessions import IssuedToken
from app.settings import Settings
from sso.errors import (
    DomainRefused,
    MemberDeactivated,
    MissingEmail,
    NotProvisioned,
    SignInRefused,
)
from sso.saml import SamlIdentity


@dataclass(frozen=True)
class Visitor:
    """Who is at the door after the identity checks: the address and the member, if any."""

    address: str
    member: Member | None


def _screen(
    session: Session, organization: Organization, identity: SamlIdentity, *, jit_provisioning: bool
) -> Visitor:
    """Everything but the seat: e-mail, domain, membership, active. Raises the refusal."""
    if identity.email is None:
        raise MissingEmail(f"no e-mail in attributes {sorted(identity.attributes)}")
    try:
        address, key = normalize_email(identity.email)
    except InvalidInput as exc:
        raise MissingEmail(exc.message) from exc
    try:
        domains.check_allowed(session, organization.id, address)
    except DomainNotAllowed as exc:
        raise DomainRefused(exc.message) from exc
    member = find_member(session, organization, key)
    if member is None:
        if not jit_provisioning:
            raise NotProvisioned(f"{address} is not a member and JIT provisioning is off")
        return Visitor(address=address, member=None)
    if not member.active:
        raise MemberDeactivated(f"{member.email} is deactivated")
    if not jit_provisioning and member.seat is None:  # with JIT, the claim looks the seat up itself
        raise NotProvisioned(f"{member.email} holds no seat and JIT provisioning is off")
    return Visitor(address=address, member=member)


def admit(
    session: Session,
    organization: Organization,
    identity: SamlIdentity,
    *,
    jit_provisioning: bool,
    actor: Actor,
) -> Member:
    """Return the member to sign in, holding a seat; or raise why they may not come in.

    - an address outside the organization's e-mail domains is refused, before any seat;
    - an active member holding a seat comes in (claiming again is a no-op: never two seats);
    - a deactivated member is refused, seat or not;
    - an unknown or seatless member claims a seat if just-in-time provisioning is on,
      otherwise is refused;
    - no free seat: :class:`~app.errors.SeatRefused` from the ledger.
    """
    visitor = _screen(session, organization, identity, jit_provisioning=jit_provisioning)
    member = visitor.member
    if member is None:
        member = add_member(
            session,
            organization,
            visitor.address,
            Role.USER,
            actor=actor,
            display_name=(identity.display_name or None) and identity.display_name[:255],
        )
    claim_seat(session, member, actor=actor, reason="sso sign-in")
    audit.record(
        session,
        actor,
        "sso.sign_in",
        organization_id=organization.id,
        target=member.email,
        details={"idp": identity.issuer, "name_id": identity.name_id},
    )
    return member


def billing_only_session(
    session: Session, settings: Settings, organization: Organization, identity: SamlIdentity
) -> IssuedToken | None:
    """A billing-only session for an active Owner refused a seat; ``None`` for anyone else."""
    if identity.email is None:
        return None
    try:
        member = find_member(session, organization, identity.email)
    except InvalidInput:  # no address an owner could have
        return None
    if member is None or not member.active or member.role not in sessions.OWNER_ROLES:
        return None
    return issue_session(session, settings, organization, member, identity, billing_only=True)


def issue_session(
    session: Session,
    settings: Settings,
    organization: Organization,
    member: Member,
    identity: SamlIdentity,
    *,
    billing_only: bool = False,
) -> IssuedToken:
    """``member``'s gateway session, tied to the IdP's NameID and SessionIndex of this sign-in
    (single logout ends it by them)."""
    return sessions.issue(
        session,
        settings,
        organization,
        member,
        name_id=identity.name_id,
        session_index=identity.session_index,
        billing_only=billing_only,
    )


def rehearse(
    session: Session, organization: Organization, identity: SamlIdentity, *, jit_provisioning: bool
) -> list[Step]:
    """The door's checks for a test sign-in, as steps; creates no member, takes no seat."""
    try:
        visitor = _screen(session, organization, identity, jit_provisioning=jit_provisioning)
    except SignInRefused as refusal:
        return [Step(refusal.step, passed=False, detail=refusal.detail)]
    steps = [
        Step("email", passed=True, detail=visitor.address),
        Step("domain", passed=True),
        Step(
            "member",
            passed=True,
            detail="existing member" if visitor.member else "would be created at first sign-in",
        ),
    ]
    if visitor.member is not None and visitor.member.seat is not None:
        return [*steps, Step("seat", passed=True, detail="already holds a seat")]
    usage = seat_usage(session, organization.id)
    seat_detail = f"{usage.assigned} of {usage.purchased} seats assigned"
    if usage.free > 0:
        return [*steps, Step("seat", passed=True, detail=f"a seat is free ({seat_detail})")]
    return [*steps, Step("seat", passed=False, detail=f"no free seat ({seat_detail})")]
