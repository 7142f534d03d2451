"""Filters and sorting compiled to SQL over the directory tables.

Every literal becomes a bound parameter; nothing from the request is pasted into SQL. Leaf
comparisons are made two-valued (an absent attribute compares false, never NULL), so ``not``
means what users expect. Multi-valued attributes become ``EXISTS`` over
:class:`~app.models.DirectoryValue`, with every condition of a value path on the same item;
``groups`` becomes ``EXISTS`` over the user's group memberships.
What a comparison means (the literal it takes, how strings fold) is
:mod:`scim.filter_match`'s, shared with PATCH. Case-insensitive attributes compare as
``str.lower`` makes them (:func:`app.lowercase.lowercase` in SQL); ``userName`` compares
through its stored key (:func:`app.directory.user_name_key`: an address's identity key,
ASCII case ignored, the domain IDNA-encoded), so ``userName eq`` is one lookup on the unique
index, and never finds a look-alike. A multi-valued
attribute without values is unassigned, like an absent single value (RFC 7643 section 2.5):
it equals null and differs from every value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, contains_eager, joinedload
from sqlalchemy.sql.util import find_tables

from app.directory import UserRecord, user_name_key
from app.group_roles import group_name_key
from app.groups import groups_of
from app.lowercase import lowercase
from app.models import DirectoryGroup, DirectoryUser, DirectoryValue, GroupMembership, Member
from scim import attributes as attrs
from scim.attributes import Attribute
from scim.errors import InvalidFilter
from scim.filter_match import Fold, fold_of, operand
from scim.filters import And, AttrPath, Compare, Filter, Not, Or, Present, ValuePath
from scim.paging import Paging


@dataclass(frozen=True)
class Target:
    """Where an attribute lives in SQL, and how a literal is folded to compare with it.

    ``keyed``: the column already holds the folded value (a key such as ``user_name_key``),
    so only the literal is folded; otherwise a folded attribute is lower-cased in SQL too.
    """

    expression: ColumnElement[Any]
    attribute: Attribute
    fold: Fold | None = None
    keyed: bool = False

    @classmethod
    def of(cls, expression: ColumnElement[Any], attribute: Attribute) -> Target:
        """A column holding the attribute's values as sent."""
        return cls(expression, attribute, fold_of(attribute))


@dataclass(frozen=True)
class _Multi:
    """A multi-valued attribute, narrowed to one sub-attribute when the path names one."""

    attribute: Attribute
    sub: Attribute | None


@dataclass(frozen=True)
class _Constant:
    attribute: Attribute
    value: str | None


_Resolved = Target | _Multi | _Constant


def where_clause(tree: Filter) -> ColumnElement[bool]:
    """The SQL condition on ``directory_users`` joined with ``members`` for a filter."""
    return _compile(tree, item_of=None)


def sort_key(path: AttrPath) -> ColumnElement[Any]:
    resolved = _resolve(path)
    if isinstance(resolved, Target):
        return resolved.expression
    if isinstance(resolved, _Multi) and resolved.attribute.name != "groups":
        sub = resolved.sub or resolved.attribute.sub("value")
        if sub is None:
            raise InvalidFilter(f"Cannot sort by {path}.")
        return (
            select(_item_expression(sub))
            .where(_values_of(resolved.attribute))
            .order_by(_item_expression(_PRIMARY).is_(True).desc(), DirectoryValue.position)
            .limit(1)
            .scalar_subquery()
        )
    raise InvalidFilter(f"Cannot sort by {path}.")


_PRIMARY = Attribute("primary", "boolean")


def _compile(tree: Filter, *, item_of: Attribute | None) -> ColumnElement[bool]:
    if isinstance(tree, And):
        return and_(_compile(tree.left, item_of=item_of), _compile(tree.right, item_of=item_of))
    if isinstance(tree, Or):
        return or_(_compile(tree.left, item_of=item_of), _compile(tree.right, item_of=item_of))
    if isinstance(tree, Not):
        return not_(_compile(tree.inner, item_of=item_of))
    if isinstance(tree, ValuePath):
        if item_of is not None:
            raise InvalidFilter("A value filter cannot contain another value filter.")
        resolved = _resolve(tree.path)
        if isinstance(resolved, _Constant):
            return false()
        if not isinstance(resolved, _Multi):
            raise InvalidFilter(f"{tree.path} is not multi-valued; it cannot take [...].")
        inside = _compile(tree.filter, item_of=resolved.attribute)
        if resolved.attribute.name == "groups":
            return _in_a_group(inside)
        return exists().where(_values_of(resolved.attribute), inside)
    if item_of is not None:
        inner = _sub_attribute(item_of, tree.path)
        if item_of.name == "groups":
            return _group_leaf(tree, inner)
        return leaf(tree, Target.of(_item_expression(inner), inner))
    resolved = _resolve(tree.path)
    if isinstance(resolved, _Multi) and resolved.attribute.name == "groups":
        if isinstance(tree, Present) and resolved.sub is None:
            return _in_a_group(true())
        sub = resolved.sub or resolved.attribute.sub("value")
        assert sub is not None
        return any_value(tree, _in_a_group(_group_leaf(tree, sub)), _in_a_group(true()))
    if isinstance(resolved, _Multi):
        values = exists().where(_values_of(resolved.attribute))
        if isinstance(tree, Present) and resolved.sub is None:
            subs = resolved.attribute.sub_attributes
            item_present = [leaf(tree, Target.of(_item_expression(sub), sub)) for sub in subs]
            return exists().where(_values_of(resolved.attribute), or_(*item_present))
        sub = resolved.sub or resolved.attribute.sub("value")
        if sub is None:
            raise InvalidFilter(f"{tree.path} needs a sub-attribute.")
        target = Target.of(_item_expression(sub), sub)
        matched = exists().where(_values_of(resolved.attribute), leaf(tree, target))
        return any_value(tree, matched, values)
    if isinstance(resolved, _Constant):
        return _constant(tree, resolved)
    if isinstance(tree, Present) and resolved.attribute.sub_attributes:
        return _complex_present(tree)
    return leaf(tree, resolved)


def _complex_present(tree: Present) -> ColumnElement[bool]:
    """``name pr``: some sub-attribute has a value (RFC 7644 section 3.4.2.2: "a non-empty
    node"); ``{"givenName": ""}`` is an empty one."""
    ref = attrs.resolve(tree.path.urn, tree.path.attr)
    conditions = []
    for sub in ref.attribute.sub_attributes:
        target = _target(ref.attribute, sub, enterprise=ref.enterprise)
        assert isinstance(target, Target)
        conditions.append(leaf(tree, target))
    return or_(*conditions)


def any_value(
    tree: Compare | Present, matched: ColumnElement[bool], values: ColumnElement[bool]
) -> ColumnElement[bool]:
    """A comparison on a multi-valued attribute: some value ``matched`` (RFC 7644 section
    3.4.2.2) or, when it has no ``values``, what an absent single value gives: ``eq null`` and
    ``ne "x"`` hold (RFC 7643 section 2.5: unassigned is null)."""
    unassigned_holds = isinstance(tree, Compare) and (
        (tree.op == "eq" and tree.value is None) or (tree.op == "ne" and tree.value is not None)
    )
    return or_(matched, not_(values)) if unassigned_holds else matched


def leaf(tree: Compare | Present, target: Target) -> ColumnElement[bool]:
    expression = target.expression
    if isinstance(tree, Present):
        if target.attribute.type in {"string", "reference"}:
            return and_(expression.is_not(None), expression != "")
        return expression.is_not(None)
    if target.fold is not None and not target.keyed:
        expression = lowercase(expression)
    value = operand(tree, target.attribute, target.fold)
    present = expression.is_not(None)
    op = tree.op
    if value is None:
        return expression.is_(None) if op == "eq" else present
    if op == "eq":
        return and_(present, expression == value)
    if op == "ne":
        return or_(expression.is_(None), expression != value)
    if op in {"co", "sw", "ew"}:
        return and_(present, _substring(op, expression, value))
    comparisons = {
        "gt": expression > value,
        "ge": expression >= value,
        "lt": expression < value,
        "le": expression <= value,
    }
    return and_(present, comparisons[op])


def _substring(op: str, expression: ColumnElement[Any], value: str) -> ColumnElement[bool]:
    """Case-exact on both engines (SQLite's LIKE ignores ASCII case), with no escaping."""
    if not value:
        return true()
    if op == "co":
        return func.replace(expression, value, "") != expression
    if op == "sw":
        return func.substr(expression, 1, len(value)) == value
    return and_(
        func.length(expression) >= len(value),
        func.substr(expression, func.length(expression) - len(value) + 1) == value,
    )


def _constant(tree: Filter, resolved: _Constant) -> ColumnElement[bool]:
    if isinstance(tree, Present):
        return true() if resolved.value is not None else false()
    if not isinstance(tree, Compare) or tree.op not in {"eq", "ne"}:
        raise InvalidFilter(f"{tree}: only 'eq', 'ne' and 'pr' apply to this attribute.")
    if resolved.value is None:
        return false() if tree.op == "eq" else true()
    if not isinstance(tree.value, str):
        raise InvalidFilter(f"{tree.path} is a string; compare it with a quoted string.")
    same = tree.value == resolved.value
    return true() if same == (tree.op == "eq") else false()


def _in_a_group(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """Some group the user is in satisfies ``condition`` (on ``directory_groups``)."""
    return exists().where(
        GroupMembership.member_id == DirectoryUser.member_id,
        DirectoryGroup.id == GroupMembership.group_id,
        condition,
    )


def _group_leaf(tree: Compare | Present, sub: Attribute) -> ColumnElement[bool]:
    """``groups.value`` is the group's id, ``groups.display`` its name; ``type`` is direct."""
    groups = DirectoryGroup.__table__.c
    if sub.name == "value":
        return leaf(tree, resource_ids(groups.resource_id, sub))
    if sub.name == "display":
        return leaf(tree, Target(groups.display_name_key, sub, group_name_key, keyed=True))
    if sub.name == "type":
        return _constant(tree, _Constant(sub, "direct"))
    raise InvalidFilter(f"Filtering on groups.{sub.name} is not supported.")


def _values_of(attribute: Attribute) -> ColumnElement[bool]:
    return and_(
        DirectoryValue.member_id == DirectoryUser.member_id,
        DirectoryValue.attribute == attribute.name,
    )


def resource_ids(column: ColumnElement[Any], attribute: Attribute) -> Target:
    """A column of resource ids compared as ``attribute`` (``groups.value``, ``members.value``:
    case-insensitive, RFC 7643 section 8.7.1). Ids are lower-case UUIDs, so the column is its
    own folded key."""
    fold = fold_of(attribute)
    return Target(column, attribute, fold, keyed=fold is not None)


def _item_expression(sub: Attribute) -> ColumnElement[Any]:
    return _json_value(DirectoryValue.item[sub.name], sub)


def _json_value(element: Any, attribute: Attribute) -> ColumnElement[Any]:
    """A JSON member as an SQL scalar of the attribute's type."""
    scalar: ColumnElement[Any] = (
        element.as_boolean() if attribute.type == "boolean" else element.as_string()
    )
    return scalar


def _sub_attribute(parent: Attribute, path: AttrPath) -> Attribute:
    if path.urn is not None or path.sub is not None:
        raise InvalidFilter(f"{path}: inside [...] name a sub-attribute of {parent.name}.")
    sub = parent.sub(path.attr)
    if sub is None:
        raise InvalidFilter(f"{parent.name} has no sub-attribute {path.attr!r}.")
    return sub


def _resolve(path: AttrPath) -> _Resolved:
    """Map an attribute path onto the storage, or refuse it as an unknown attribute."""
    try:
        ref = attrs.resolve(path.urn, path.attr, path.sub)
    except LookupError as exc:
        raise InvalidFilter(str(exc)) from exc
    attribute, sub, enterprise = ref.attribute, ref.sub, ref.enterprise
    if attribute.multi_valued:
        return _Multi(attribute, sub)
    if attribute.sub_attributes and sub is None:
        document = DirectoryUser.enterprise if enterprise else DirectoryUser.profile
        if attribute.name == "meta":
            return _Constant(attribute, "User")
        return Target(document[attribute.name].as_string(), attribute)
    return _target(attribute, sub, enterprise=enterprise)


_user_columns = DirectoryUser.__table__.c
_COLUMNS: dict[str, ColumnElement[Any]] = {
    "id": _user_columns.resource_id,
    "externalId": Member.__table__.c.external_id,
    "displayName": Member.__table__.c.display_name,
    # The member's state, but only when the client stated it: the resource shows no
    # ``active`` otherwise (the user still holds a seat), and filters read the resource.
    "active": case(
        (DirectoryUser.profile["active"].as_boolean().is_not(None), Member.__table__.c.active)
    ),
    "meta.created": _user_columns.created_at,
    "meta.lastModified": _user_columns.updated_at,
}


def _target(attribute: Attribute, sub: Attribute | None, *, enterprise: bool) -> _Resolved:
    leaf = sub or attribute
    key = f"{attribute.name}.{sub.name}" if sub else attribute.name
    if not enterprise and key == "userName":
        return Target(_user_columns.user_name_key, leaf, user_name_key, keyed=True)
    if not enterprise and key in _COLUMNS:
        return Target.of(_COLUMNS[key], leaf)
    if key == "meta.resourceType":
        return _Constant(leaf, "User")
    if attribute.name == "meta":
        raise InvalidFilter(f"Filtering on {key} is not supported.")
    document = DirectoryUser.enterprise if enterprise else DirectoryUser.profile
    element = document[(attribute.name, sub.name)] if sub else document[attribute.name]
    return Target.of(_json_value(element, leaf), leaf)


@dataclass(frozen=True)
class Search:
    """A parsed list or ``.search`` request."""

    filter: Filter | None
    sort_by: AttrPath | None
    descending: bool
    paging: Paging
    attributes: list[str]
    excluded: list[str]


def run_search(
    session: Session, organization_id: int, search: Search
) -> tuple[int, list[UserRecord], int | None]:
    """``totalResults``, one page (each User with its groups) and, for cursor paging, the key
    the next page starts after.

    The page is one statement (members and values joined in); the COUNT is skipped when the
    first page holds every match. (The ``userName eq`` probe has its own one-statement read:
    see :func:`user_name_probe`.) Cursor pages are a keyset on ``member_id`` (immutable,
    increasing): one row more than the page is read to know whether a next page exists.
    """
    total, users, next_key = _general_search(session, organization_id, search)
    memberships = groups_of(session, [user.member_id for user in users]) if users else {}
    return (
        total,
        [UserRecord.of(user, groups=memberships.get(user.member_id, [])) for user in users],
        next_key,
    )


def _general_search(
    session: Session, organization_id: int, search: Search
) -> tuple[int, list[DirectoryUser], int | None]:
    """The page's member ids first, then those users: with ``startIndex`` deep into a large
    organization, the rows skipped are read from the (organization, member) index alone
    instead of being loaded, joined and thrown away (at 100,000 users the last page took
    ~44 ms of PostgreSQL time, the first ~3 ms)."""
    condition = and_(
        DirectoryUser.organization_id == organization_id,
        where_clause(search.filter) if search.filter is not None else true(),
    )
    paging = search.paging
    if paging.count == 0:
        return _total(session, condition), [], None
    order: list[ColumnElement[Any]] = []
    if search.sort_by is not None:
        key = sort_key(search.sort_by)
        order = [key.is_(None), key.desc() if search.descending else key.asc()]
    ids = _matching(condition, DirectoryUser.member_id, *order, DirectoryUser.member_id)
    if paging.after is not None:
        found = list(
            session.scalars(
                ids.where(DirectoryUser.member_id > paging.after).limit(paging.count + 1)
            )
        )
        page, more = _users(session, found[: paging.count]), len(found) > paging.count
        return _total(session, condition), page, page[-1].member_id if more else None
    found = list(session.scalars(ids.offset(paging.start - 1).limit(paging.count)))
    page = _users(session, found)
    if paging.start == 1 and len(page) < paging.count:
        return len(page), page, None  # the whole result fits: no COUNT (the match probes)
    return _total(session, condition), page, None


_members = Member.__table__


def _matching(condition: ColumnElement[bool], column: Any, *order: Any) -> Select[Any]:
    """``column`` (the member id, or a count) over the users ``condition`` matches, in
    ``order``. The members table is joined only when the filter or the sort reads it: the
    ids and the count then come from ``directory_users``' (organization, member) index alone.
    """
    statement = select(column).select_from(DirectoryUser).where(condition)
    if any(_members in find_tables(clause, check_columns=True) for clause in (condition, *order)):
        statement = statement.join(Member, Member.id == DirectoryUser.member_id)
    return statement.order_by(*order) if order else statement


def _users(session: Session, member_ids: list[int]) -> list[DirectoryUser]:
    """These users with their members and values, in the order of ``member_ids``."""
    if not member_ids:
        return []
    loaded = session.scalars(
        select(DirectoryUser)
        .join(DirectoryUser.member)
        .where(DirectoryUser.member_id.in_(member_ids))
        .options(contains_eager(DirectoryUser.member), joinedload(DirectoryUser.values))
    ).unique()
    by_id = {user.member_id: user for user in loaded}
    # On PostgreSQL each statement of a read sees its own snapshot: a user deleted between
    # the two is left out, as if deleted before the page was read.
    return [by_id[member_id] for member_id in member_ids if member_id in by_id]


def user_name_probe(search: Search) -> str | None:
    """The user name of a first-page ``userName eq "…"`` search without sorting, else None.

    Okta and Entra ID send this probe before every create. The unique (organization,
    ``user_name_key``) index makes its first page the whole result, so it is served by
    :func:`app.directory.read_user_for_token` without filter compilation or ORM loading.
    """
    tree = search.filter
    if not (
        isinstance(tree, Compare)
        and tree.op == "eq"
        and isinstance(tree.value, str)
        and tree.path.sub is None
        and search.sort_by is None
        and search.paging.after is None
        and search.paging.start == 1
        and search.paging.count > 0
    ):
        return None
    try:
        ref = attrs.resolve(tree.path.urn, tree.path.attr)
    except LookupError:
        return None
    if ref.enterprise or ref.attribute.name != "userName":
        return None
    return tree.value


def _total(session: Session, condition: ColumnElement[bool]) -> int:
    total = session.scalar(_matching(condition, func.count()))
    return int(total or 0)
