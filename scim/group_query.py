"""Filters, sorting and paging of Groups, compiled to SQL like :mod:`scim.query` does Users.

Supported: ``id``, ``externalId`` (case-exact), ``displayName`` (case-insensitive, through
its case-folded key, so ``displayName eq`` is one lookup on the unique index),
``meta.created`` and ``meta.lastModified``, and the members as ``members[value eq "id"]``,
``members.value eq "id"`` or ``members pr`` (member ids case-insensitive, as RFC 7643
declares them). Leaf comparisons reuse the Users compiler.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select, true
from sqlalchemy.orm import Session, selectinload

from app.group_roles import group_name_key
from app.models import DirectoryGroup, DirectoryUser, GroupMembership
from scim import attributes as attrs
from scim.errors import InvalidFilter
from scim.filters import And, AttrPath, Compare, Filter, Not, Or, Present, ValuePath
from scim.query import Search, Target, any_value, leaf, resource_ids


def _attribute(name: str, sub: str | None = None) -> attrs.Attribute:
    found = attrs.find(attrs.GROUP_ATTRIBUTES + attrs.COMMON_ATTRIBUTES, name)
    assert found is not None
    found = found.sub(sub) if sub else found
    assert found is not None
    return found


_GROUPS = DirectoryGroup.__table__.c
_COLUMNS: dict[str, Target] = {
    "id": Target.of(_GROUPS.resource_id, _attribute("id")),
    "externalid": Target.of(_GROUPS.external_id, _attribute("externalId")),
    "displayname": Target(
        _GROUPS.display_name_key, _attribute("displayName"), group_name_key, keyed=True
    ),
    "meta.created": Target.of(_GROUPS.created_at, _attribute("meta", "created")),
    "meta.lastmodified": Target.of(_GROUPS.updated_at, _attribute("meta", "lastModified")),
}
_MEMBER_VALUE = resource_ids(DirectoryUser.__table__.c.resource_id, _attribute("members", "value"))


def _key(path: AttrPath) -> str:
    if path.urn is not None and path.urn.lower() != attrs.CORE_GROUP.lower():
        raise InvalidFilter(f"{path}: a Group has no attribute of {path.urn}.")
    return path.attr.lower() + (f".{path.sub.lower()}" if path.sub else "")


def _members_where(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(
        GroupMembership.group_id == DirectoryGroup.id,
        DirectoryUser.member_id == GroupMembership.member_id,
        condition,
    )


def where_clause(tree: Filter) -> ColumnElement[bool]:
    if isinstance(tree, And):
        return and_(where_clause(tree.left), where_clause(tree.right))
    if isinstance(tree, Or):
        return or_(where_clause(tree.left), where_clause(tree.right))
    if isinstance(tree, Not):
        return not_(where_clause(tree.inner))
    if isinstance(tree, ValuePath):
        if _key(tree.path) != "members":
            raise InvalidFilter(f"{tree.path}: [...] applies to members only.")
        return _members_where(_member_clause(tree.filter))
    key = _key(tree.path)
    if key == "members" and isinstance(tree, Present):
        return _members_where(true())
    if key in {"members", "members.value"}:
        return any_value(tree, _members_where(leaf(tree, _MEMBER_VALUE)), _members_where(true()))
    target = _COLUMNS.get(key)
    if target is None:
        raise InvalidFilter(f"Filtering Groups on {tree.path} is not supported.")
    return leaf(tree, target)


def _member_clause(tree: Filter) -> ColumnElement[bool]:
    if isinstance(tree, And):
        return and_(_member_clause(tree.left), _member_clause(tree.right))
    if isinstance(tree, Or):
        return or_(_member_clause(tree.left), _member_clause(tree.right))
    if isinstance(tree, Not):
        return not_(_member_clause(tree.inner))
    if isinstance(tree, Compare | Present) and _key(tree.path) == "value":
        return leaf(tree, _MEMBER_VALUE)
    raise InvalidFilter("Inside members[...] compare 'value' (the id of a User).")


def run_search(
    session: Session, organization_id: int, search: Search, *, with_members: bool
) -> tuple[int, list[DirectoryGroup], int | None]:
    """``totalResults``, one page and, for cursor paging, the key the next page starts after."""
    condition = and_(
        DirectoryGroup.organization_id == organization_id,
        where_clause(search.filter) if search.filter is not None else true(),
    )
    paging = search.paging
    total = int(
        session.scalar(select(func.count()).select_from(DirectoryGroup).where(condition)) or 0
    )
    if paging.count == 0:
        return total, [], None
    order: list[ColumnElement[Any]] = []
    if search.sort_by is not None:
        target = _COLUMNS.get(_key(search.sort_by))
        if target is None:
            raise InvalidFilter(f"Cannot sort Groups by {search.sort_by}.")
        order = [target.expression.desc() if search.descending else target.expression.asc()]
    statement = select(DirectoryGroup).order_by(*order, DirectoryGroup.id)
    if with_members:
        statement = statement.options(
            selectinload(DirectoryGroup.memberships)
            .joinedload(GroupMembership.user)
            .joinedload(DirectoryUser.member)
        )
    if paging.after is not None:
        rows = list(
            session.scalars(
                statement.where(condition, DirectoryGroup.id > paging.after).limit(paging.count + 1)
            )
        )
        page = rows[: paging.count]
        return total, page, page[-1].id if len(rows) > paging.count else None
    page = list(
        session.scalars(statement.where(condition).offset(paging.start - 1).limit(paging.count))
    )
    return total, page, None
