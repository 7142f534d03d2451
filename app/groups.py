"""Groups as identity providers push them. A group is a named set of directory users.

Groups never hold seats and never create, delete or (de)activate users: deleting a group
deletes only the group and its memberships. A membership change in a group whose name is
mapped to a role (:mod:`app.group_roles`) updates the members' roles in the same
transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload, selectinload

from app import audit, group_roles
from app.directory import GroupRef
from app.errors import AlreadyExists, InvalidInput
from app.ledger import Actor
from app.models import DirectoryGroup, DirectoryUser, GroupMembership, utcnow

MAX_TEXT_LENGTH = 255
CHUNK = group_roles.CHUNK


@dataclass(frozen=True)
class GroupChange:
    """The whole new state of a group: its name, external id and members' resource ids."""

    display_name: str
    external_id: str | None
    member_ids: tuple[str, ...]


def get_group(
    session: Session, organization_id: int, resource_id: str, *, with_members: bool = True
) -> DirectoryGroup | None:
    statement = select(DirectoryGroup).where(
        DirectoryGroup.resource_id == resource_id,
        DirectoryGroup.organization_id == organization_id,
    )
    if with_members:
        statement = statement.options(
            selectinload(DirectoryGroup.memberships)
            .joinedload(GroupMembership.user)
            .joinedload(DirectoryUser.member)
        )
    return session.scalars(statement).one_or_none()


def member_resource_ids(group: DirectoryGroup) -> list[str]:
    return [membership.user.resource_id for membership in group.memberships]


def create_group(
    session: Session, organization_id: int, change: GroupChange, *, actor: Actor
) -> DirectoryGroup:
    now = utcnow()
    _check(session, organization_id, change, group_id=None)
    group = DirectoryGroup(
        organization_id=organization_id,
        resource_id=str(uuid.uuid4()),
        display_name=change.display_name,
        display_name_key=group_roles.group_name_key(change.display_name),
        external_id=change.external_id,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(group)
    session.flush()
    added = _users(session, organization_id, change.member_ids)
    for user in added:
        session.add(GroupMembership(group_id=group.id, member_id=user.member_id, added_at=now))
    audit.record(
        session,
        actor,
        "group.create",
        organization_id=organization_id,
        target=group.display_name,
        details={"members": len(added)},
    )
    session.flush()
    if group_roles.is_mapped(session, organization_id, group.display_name_key):
        group_roles.sync_roles(
            session,
            organization_id,
            (u.member_id for u in added),
            actor=actor,
            reason=f"added to group {group.display_name!r}",
        )
    session.expire(group, ["memberships"])
    return group


def update_group(
    session: Session, group: DirectoryGroup, change: GroupChange, *, actor: Actor
) -> DirectoryGroup:
    """Bring the group to ``change``: rename, and add or remove only the members that differ.

    Writing the difference (not the whole list) keeps concurrent PATCHes that add different
    members from undoing each other.
    """
    organization_id = group.organization_id
    _check(session, organization_id, change, group_id=group.id)
    old_key = group.display_name_key
    new_key = group_roles.group_name_key(change.display_name)
    current = {m.user.resource_id: m for m in group.memberships}
    wanted = dict.fromkeys(change.member_ids)
    added = _users(session, organization_id, [i for i in wanted if i not in current])
    removed = [m for resource_id, m in current.items() if resource_id not in wanted]
    now = utcnow()
    for membership in removed:
        group.memberships.remove(membership)
    for user in added:
        group.memberships.append(
            GroupMembership(group_id=group.id, member_id=user.member_id, added_at=now, user=user)
        )
    renamed = group.display_name != change.display_name
    changed = renamed or added or removed or group.external_id != change.external_id
    if not changed:
        return group
    previous_name = group.display_name
    group.display_name, group.display_name_key = change.display_name, new_key
    group.external_id = change.external_id
    group.version += 1
    group.updated_at = now
    audit.record(
        session,
        actor,
        "group.update",
        organization_id=organization_id,
        target=group.display_name,
        details={
            "added": len(added),
            "removed": len(removed),
            **({"renamed_from": previous_name} if renamed else {}),
        },
    )
    session.flush()
    affected: set[int] = set()
    if group_roles.is_mapped(session, organization_id, old_key) or group_roles.is_mapped(
        session, organization_id, new_key
    ):
        if old_key != new_key:
            affected.update(m.member_id for m in group.memberships)  # the mapping may differ
        affected.update(u.member_id for u in added)
        affected.update(m.member_id for m in removed)
    group_roles.sync_roles(
        session,
        organization_id,
        affected,
        actor=actor,
        reason=f"membership of group {group.display_name!r} changed",
    )
    return group


def delete_group(session: Session, group: DirectoryGroup, *, actor: Actor) -> None:
    """Delete the group and its memberships; users, members and seats are untouched."""
    organization_id = group.organization_id
    member_ids = [m.member_id for m in group.memberships]
    mapped = group_roles.is_mapped(session, organization_id, group.display_name_key)
    audit.record(
        session,
        actor,
        "group.delete",
        organization_id=organization_id,
        target=group.display_name,
        details={"members": len(member_ids)},
    )
    name = group.display_name
    session.delete(group)
    session.flush()
    if mapped:
        group_roles.sync_roles(
            session, organization_id, member_ids, actor=actor, reason=f"group {name!r} deleted"
        )


def leave_all_groups(session: Session, user: DirectoryUser, *, actor: Actor) -> None:
    """Take a user leaving the directory out of its groups: new group versions, and its role
    falls back as for any membership removed from a mapped group."""
    memberships = list(
        session.scalars(select(GroupMembership).where(GroupMembership.member_id == user.member_id))
    )
    if not memberships:
        return
    now = utcnow()
    mapped = False
    for membership in memberships:
        group = membership.group
        group.version += 1
        group.updated_at = now
        mapped = mapped or group_roles.is_mapped(
            session, group.organization_id, group.display_name_key
        )
        session.delete(membership)
    session.flush()
    if mapped:
        group_roles.sync_roles(
            session,
            user.organization_id,
            [user.member_id],
            actor=actor,
            reason="removed from the directory",
        )


# Built once (every read of a User runs it): Core columns of the plain tables, no ORM.
_memberships = GroupMembership.__table__
_groups = DirectoryGroup.__table__
_GROUPS_OF_MEMBERS = (
    select(_memberships.c.member_id, _groups.c.resource_id, _groups.c.display_name)
    .join(_groups, _groups.c.id == _memberships.c.group_id)
    .where(_memberships.c.member_id.in_(bindparam("member_ids", expanding=True)))
    .order_by(_groups.c.display_name_key)
)


def groups_of(session: Session, member_ids: Iterable[int]) -> dict[int, list[GroupRef]]:
    """The groups of each directory user, by member id, in one query per chunk."""
    found: dict[int, list[GroupRef]] = {}
    ids = sorted(set(member_ids))
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(_GROUPS_OF_MEMBERS, {"member_ids": ids[start : start + CHUNK]})
        for member_id, resource_id, display_name in rows:
            found.setdefault(member_id, []).append(GroupRef(resource_id, display_name))
    return found


def _users(
    session: Session, organization_id: int, resource_ids: Sequence[str]
) -> list[DirectoryUser]:
    """The directory users with these ids, in the given order; an unknown id is refused."""
    ids = list(dict.fromkeys(resource_ids))
    found: dict[str, DirectoryUser] = {}
    for start in range(0, len(ids), CHUNK):
        for user in session.scalars(
            select(DirectoryUser)
            .where(
                DirectoryUser.organization_id == organization_id,
                DirectoryUser.resource_id.in_(ids[start : start + CHUNK]),
            )
            .options(joinedload(DirectoryUser.member))
        ):
            found[user.resource_id] = user
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidInput(f"No User with id {missing[0]!r}: a group's members must be Users.")
    return [found[i] for i in ids]


def _check(
    session: Session, organization_id: int, change: GroupChange, *, group_id: int | None
) -> None:
    name = change.display_name
    if not name.strip() or len(name) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"displayName must be 1-{MAX_TEXT_LENGTH} characters.")
    if change.external_id is not None and len(change.external_id) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"externalId must be at most {MAX_TEXT_LENGTH} characters.")
    holder = session.scalar(
        select(DirectoryGroup.id).where(
            DirectoryGroup.organization_id == organization_id,
            DirectoryGroup.display_name_key == group_roles.group_name_key(name),
        )
    )
    if holder is not None and holder != group_id:
        raise AlreadyExists(f"A group named {name!r} already exists in this organization.")
