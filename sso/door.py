"""The seat check at the door: who may come in after the IdP vouched for them (R10).

Works on the neutral :class:`~sso.saml.SamlIdentity` and the ledger only. Every seat goes
through :func:`app.ledger.claim_seat`, the same function SCIM uses, so the two doors cannot
disagree; a refusal propagates as :class:`app.errors.SeatRefused`, which the unit of work
records for the owners (I8) before the view renders the refusal page.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app import audit, sessions
from app.errors import InvalidInput
from app.ledger import Actor, claim_seat
from app.models import Member, Organization, Role
from app.organizations import add_member, find_member, normalize_email
from app.sessions import IssuedToken
from app.settings import Settings
from sso.errors import MemberDeactivated, MissingEmail, NotProvisioned
from sso.saml import SamlIdentity


def admit(
    session: Session,
    organization: Organization,
    identity: SamlIdentity,
    *,
    jit_provisioning: bool,
    actor: Actor,
) -> Member:
    """Return the member to sign in, holding a seat; or raise why they may not come in.

    - an active member holding a seat comes in (claiming again is a no-op: never two seats);
    - a deactivated member is refused, seat or not;
    - an unknown or seatless member claims a seat if just-in-time provisioning is on,
      otherwise is refused;
    - no free seat: :class:`~app.errors.SeatRefused` from the ledger.
    """
    if identity.email is None:
        raise MissingEmail(f"no e-mail in attributes {sorted(identity.attributes)}")
    try:
        address, key = normalize_email(identity.email)
    except InvalidInput as exc:
        raise MissingEmail(exc.message) from exc
    member = find_member(session, organization, key)
    if member is None:
        if not jit_provisioning:
            raise NotProvisioned(f"{address} is not a member and JIT provisioning is off")
        member = add_member(
            session,
            organization,
            address,
            Role.USER,
            actor=actor,
            display_name=(identity.display_name or None) and identity.display_name[:255],
        )
    if not member.active:
        raise MemberDeactivated(f"{member.email} is deactivated")
    if member.seat is None and not jit_provisioning:
        raise NotProvisioned(f"{member.email} holds no seat and JIT provisioning is off")
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
    member = find_member(session, organization, identity.email.strip().casefold())
    if member is None or not member.active or member.role not in sessions.OWNER_ROLES:
        return None
    return sessions.issue(
        session,
        settings,
        organization,
        member,
        name_id=identity.name_id,
        session_index=identity.session_index,
        billing_only=True,
    )
