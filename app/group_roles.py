"""Roles from identity-provider groups: an owner maps a group name to ``owner`` or ``admin``.

A member's role follows the mapped groups it is in: the highest mapped role wins (owner >
admin), and a member in no mapped group falls back to ``user``. Roles are synced only for
members whose mapped memberships changed (or whose group's mapping changed), so a role an
operator gave by hand is kept until a mapped group says otherwise. The Primary Owner's role
is never changed this way. Every change is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.errors import InvalidInput, NotFound
from app.ledger import Actor
from app.models import (
    DirectoryGroup,
    GroupMembership,
    GroupRoleMapping,
    Member,
    Organization,
    Role,
    utcnow,
)

MAPPABLE_ROLES = (Role.OWNER, Role.ADMIN)
RANK = {Role.USER.value: 0, Role.ADMIN.value: 1, Role.OWNER.value: 2}
MAX_GROUP_NAME_LENGTH = 255
CHUNK = 500  # members per IN (...) list, far below every engine's parameter limit


def group_name_key(name: str) -> str:
    return name.casefold()


def is_mapped(session: Session, organization_id: int, name_key: str) -> bool:
    return (
        session.scalar(
            select(GroupRoleMapping.id).where(
                GroupRoleMapping.organization_id == organization_id,
                GroupRoleMapping.group_name_key == name_key,
            )
        )
        is not None
    )


def list_mappings(session: Session, organization: Organization) -> list[GroupRoleMapping]:
    return list(
        session.scalars(
            select(GroupRoleMapping)
            .where(GroupRoleMapping.organization_id == organization.id)
            .order_by(GroupRoleMapping.group_name_key)
        )
    )


def map_group(
    session: Session, organization: Organization, group_name: str, role: str, *, actor: Actor
) -> GroupRoleMapping:
    """Map (or re-map) a group name to a role; its current members get the role at once."""
    name = group_name.strip()
    if not name or len(name) > MAX_GROUP_NAME_LENGTH:
        raise InvalidInput(f"A group name must be 1-{MAX_GROUP_NAME_LENGTH} characters.")
    if role not in {r.value for r in MAPPABLE_ROLES}:
        raise InvalidInput(f"A group maps to 'owner' or 'admin', not {role!r}.")
    key = group_name_key(name)
    mapping = session.scalar(
        select(GroupRoleMapping).where(
            GroupRoleMapping.organization_id == organization.id,
            GroupRoleMapping.group_name_key == key,
        )
    )
    if mapping is None:
        mapping = GroupRoleMapping(
            organization_id=organization.id,
            group_name=name,
            group_name_key=key,
            role=role,
            created_at=utcnow(),
        )
        session.add(mapping)
    else:
        mapping.group_name, mapping.role = name, role
    audit.record(
        session,
        actor,
        "roles.map",
        organization_id=organization.id,
        target=name,
        details={"role": role},
    )
    session.flush()
    sync_roles(
        session,
        organization.id,
        members_of_group_named(session, organization.id, key),
        actor=actor,
        reason=f"group {name!r} mapped to {role}",
    )
    return mapping


def unmap_group(
    session: Session, organization: Organization, group_name: str, *, actor: Actor
) -> None:
    """Remove a mapping; members it gave a role fall back to their other groups, or ``user``."""
    key = group_name_key(group_name.strip())
    mapping = session.scalar(
        select(GroupRoleMapping).where(
            GroupRoleMapping.organization_id == organization.id,
            GroupRoleMapping.group_name_key == key,
        )
    )
    if mapping is None:
        raise NotFound(f"No role mapping for the group {group_name!r}.")
    audit.record(
        session,
        actor,
        "roles.unmap",
        organization_id=organization.id,
        target=mapping.group_name,
        details={"role": mapping.role},
    )
    session.delete(mapping)
    session.flush()
    sync_roles(
        session,
        organization.id,
        members_of_group_named(session, organization.id, key),
        actor=actor,
        reason=f"group {mapping.group_name!r} unmapped",
    )


def members_of_group_named(session: Session, organization_id: int, name_key: str) -> list[int]:
    return list(
        session.scalars(
            select(GroupMembership.member_id)
            .join(DirectoryGroup, DirectoryGroup.id == GroupMembership.group_id)
            .where(
                DirectoryGroup.organization_id == organization_id,
                DirectoryGroup.display_name_key == name_key,
            )
        )
    )


def sync_roles(
    session: Session,
    organization_id: int,
    member_ids: Iterable[int],
    *,
    actor: Actor,
    reason: str,
) -> None:
    """Give each member the highest role of the mapped groups it is in, else ``user``.

    The members are locked first and their memberships read after: two requests changing one
    member's groups at once decide one after the other, the second seeing the first's change.
    """
    wanted = sorted(set(member_ids))
    for start in range(0, len(wanted), CHUNK):
        _sync_chunk(session, organization_id, wanted[start : start + CHUNK], actor, reason)
    session.flush()


def _sync_chunk(
    session: Session, organization_id: int, wanted: list[int], actor: Actor, reason: str
) -> None:
    members = list(
        session.scalars(
            select(Member)
            .where(Member.organization_id == organization_id, Member.id.in_(wanted))
            .order_by(Member.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    granted: dict[int, str] = {}
    for member_id, role in session.execute(
        select(GroupMembership.member_id, GroupRoleMapping.role)
        .join(DirectoryGroup, DirectoryGroup.id == GroupMembership.group_id)
        .join(
            GroupRoleMapping,
            (GroupRoleMapping.organization_id == DirectoryGroup.organization_id)
            & (GroupRoleMapping.group_name_key == DirectoryGroup.display_name_key),
        )
        .where(
            DirectoryGroup.organization_id == organization_id,
            GroupMembership.member_id.in_(wanted),
        )
    ):
        if RANK[role] > RANK[granted.get(member_id, Role.USER.value)]:
            granted[member_id] = role
    for member in members:
        role = granted.get(member.id, Role.USER.value)
        if member.role == Role.PRIMARY_OWNER.value or member.role == role:
            continue
        audit.record(
            session,
            actor,
            "member.role",
            organization_id=organization_id,
            target=member.email,
            details={"from": member.role, "to": role, "reason": reason},
        )
        member.role = role
        member.updated_at = utcnow()
