"""A member leaves an organization: the seat is released (R4), the history stays.

One path whoever removes the member: the identity provider (SCIM ``DELETE /Users/{id}``) or
an operator (``seatgate member remove``). The member row is deactivated, never deleted:
seat-ledger events, invoices and audit entries name it, and provisioning the same address
again takes it over.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit, directory
from app.errors import InvalidInput
from app.groups import leave_all_groups
from app.ledger import Actor
from app.models import DirectoryUser, Member, Organization, Role
from app.organizations import deactivate_member, get_member


def remove_directory_user(session: Session, user: DirectoryUser, *, actor: Actor) -> None:
    """What a SCIM DELETE does: out of every group (a role given by a group falls back), then
    out of the directory, the seat released."""
    leave_all_groups(session, user, actor=actor)
    directory.remove(session, user, actor=actor)


def remove_member(
    session: Session, organization: Organization, email: str, *, actor: Actor
) -> Member:
    """Remove ``email`` from ``organization`` as an operator, releasing its seat.

    A member the identity provider provisioned leaves the directory exactly as a SCIM DELETE
    would take it out (the provider sees it gone). The Primary Owner cannot be removed: the
    organization must always have one who can buy seats, so the role is handed on first.
    Removing a member already removed changes nothing.
    """
    member = get_member(session, organization, email)
    if member.role == Role.PRIMARY_OWNER.value:
        raise InvalidInput(
            f"{member.email} is the Primary Owner; name another one first "
            "(`seatgate member transfer-primary`)."
        )
    user = session.scalar(select(DirectoryUser).where(DirectoryUser.member_id == member.id))
    if user is not None:
        remove_directory_user(session, user, actor=actor)
        return member
    if not member.active:
        return member
    deactivate_member(session, member, actor=actor, reason="removed by an operator")
    audit.record(
        session, actor, "member.remove", organization_id=organization.id, target=member.email
    )
    return member
