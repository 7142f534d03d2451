"""Users as identity providers know them, and what provisioning does to seats.

A directory user is a :class:`~app.models.Member` plus a :class:`~app.models.DirectoryUser`
row. Provisioning keeps the seat rules in one place: an active user holds a seat, an inactive
one does not (I3). Every seat change goes through the ledger (:func:`app.ledger.claim_seat`,
:func:`app.ledger.claim_seat_for_new_member` for a member the create itself inserted, and
:func:`app.ledger.release_seat`); a refused claim raises :class:`~app.errors.SeatRefused`
and, since the caller's unit of work rolls back, changes nothing but the recorded refusal.

The member's e-mail (what owners and alerts see) is derived from the profile: the primary
e-mail, else a ``work`` one, else the first; else the user name when it is an e-mail address;
else a unique placeholder ``<id>@users.invalid`` (RFC 2606 reserves ``.invalid``, so nothing
is ever sent there).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session, joinedload

from app import audit, domains
from app.addresses import domain_key, lookup_key, normalize_email
from app.db import Database
from app.errors import AlreadyExists, InvalidInput
from app.ledger import Actor, Claimant, claim_seat, claim_seat_for_new_member, release_seat
from app.models import (
    DirectoryGroup,
    DirectoryUser,
    DirectoryValue,
    GroupMembership,
    Member,
    OrganizationDomain,
    Role,
    ScimToken,
    utcnow,
)
from app.organizations import deactivate_member
from app.scim_tokens import TOKEN_COLUMNS, Authenticated, accepted

PLACEHOLDER_DOMAIN = "users.invalid"
MAX_USER_NAME_LENGTH = 320
MAX_TEXT_LENGTH = 255  # members.external_id and members.display_name
PROVISIONED = "provisioned by the identity provider"


@dataclass(frozen=True)
class Profile:
    """A validated user as sent by an identity provider, ready to store.

    ``attributes`` holds the singular attributes kept as a document (``name``, ``title``, …),
    ``multi_valued`` the lists (``emails``, ``phoneNumbers``, …), ``enterprise`` the
    enterprise extension. All values are JSON-ready. ``active`` is ``None`` when the provider
    did not say: such a user counts as active (it holds a seat), and ``active`` stays absent
    from its resource.
    """

    @property
    def is_active(self) -> bool:
        return self.active is not False

    user_name: str
    active: bool | None = None
    external_id: str | None = None
    display_name: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    multi_valued: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    enterprise: dict[str, Any] = field(default_factory=dict)


def user_name_key(user_name: str) -> str:
    """What a ``userName`` is unique by and found by: its :func:`app.addresses.lookup_key`.

    SCIM compares ``userName`` case-insensitively (``caseExact`` false); for an address
    that means the identity key, so a userName is taken exactly when it is the same
    address, never by a look-alike (``ſam@`` is not ``sam@``).
    """
    return lookup_key(user_name)


class GroupRef(NamedTuple):
    """What a User resource shows of each group it is in."""

    resource_id: str
    display_name: str


@dataclass(frozen=True)
class UserRecord:
    """A directory user as a resource shows it: plain values, no ORM state to track.

    Reads (``GET /Users/{id}``, the ``userName eq`` probe) load it straight from one joined
    statement, which costs a fraction of loading and tracking three ORM objects; writes,
    which hold the ORM objects anyway, convert them with :meth:`of`.
    """

    member_id: int
    resource_id: str
    user_name: str
    external_id: str | None
    display_name: str | None
    active: bool
    profile: dict[str, Any]
    enterprise: dict[str, Any]
    values: tuple[tuple[str, dict[str, Any]], ...]  # (attribute, item), in stored order
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    groups: tuple[GroupRef, ...] | None = None  # None: not loaded with the record

    @classmethod
    def of(cls, user: DirectoryUser, groups: Sequence[GroupRef] | None = None) -> UserRecord:
        values = tuple((value.attribute, value.item) for value in user.values)
        return cls.read(user, user.member, values, None if groups is None else tuple(groups))

    @classmethod
    def read(
        cls,
        user: Any,
        member: Any,
        values: tuple[tuple[str, dict[str, Any]], ...],
        groups: tuple[GroupRef, ...] | None,
    ) -> UserRecord:
        """From anything with the directory user's and the member's columns as attributes
        (the ORM objects of a write, or one joined row of a read, which is both)."""
        return cls(
            member_id=user.member_id,
            resource_id=user.resource_id,
            user_name=user.user_name,
            external_id=member.external_id,
            display_name=member.display_name,
            active=member.active,
            profile=user.profile,
            enterprise=user.enterprise,
            values=values,
            version=user.version,
            created_at=user.created_at,
            updated_at=user.updated_at,
            groups=groups,
        )


_users = DirectoryUser.__table__
_members = Member.__table__
_values = DirectoryValue.__table__
_memberships = GroupMembership.__table__
_groups = DirectoryGroup.__table__
_tokens = ScimToken.__table__


def _groups_document(dialect: str) -> Any:
    """The user's groups as one JSON array column, in the engine's dialect.

    Aggregating in SQL lets a read fetch the user, its values and its groups in one
    statement, one round trip to PostgreSQL. The order is the one :func:`app.groups.groups_of`
    gives (by ``display_name_key`` in the database's collation): PostgreSQL orders inside
    the aggregate; SQLite (before 3.44) cannot, so each item carries its key and
    :func:`_one_record` sorts by it (SQLite's BINARY collation is code point order, as in
    Python).
    """
    of_user = _memberships.c.member_id == _users.c.member_id
    joined = _memberships.join(_groups, _groups.c.id == _memberships.c.group_id)
    if dialect == "postgresql":
        item = func.json_build_array(_groups.c.resource_id, _groups.c.display_name)
        aggregate = func.json_agg(aggregate_order_by(item, _groups.c.display_name_key))
    else:
        item = func.json_array(
            _groups.c.resource_id, _groups.c.display_name, _groups.c.display_name_key
        )
        aggregate = func.json_group_array(item)
    return select(aggregate).select_from(joined).where(of_user).scalar_subquery()


@functools.cache
def record_statement(dialect: str, key: str, for_token: bool) -> Select[Any]:
    """The rows of one user found by ``key`` (``resource_id`` or ``user_name_key``).

    Built once per engine and variant, then reused as is. ``for_token``: the organization is
    the one of the token whose digest is bound, looked up in the same statement, so that an
    authenticated read is one round trip; the token's columns come first, and the user's are
    ``NULL`` when the token's organization has no such user.
    """
    found = (
        _users.c.resource_id == bindparam("key")
        if key == "resource_id"
        else _users.c.user_name_key == bindparam("key")
    )
    columns: list[Any] = [
        _users.c.member_id,
        _users.c.resource_id,
        _users.c.user_name,
        _members.c.external_id,
        _members.c.display_name,
        _members.c.active,
        _users.c.profile,
        _users.c.enterprise,
        _users.c.version,
        _users.c.created_at,
        _users.c.updated_at,
        _values.c.attribute,
        _values.c.item,
        _groups_document(dialect).label("groups"),
    ]
    if for_token:  # flat outer joins: SQLite would materialize a nested join (a full scan)
        source = _tokens.outerjoin(
            _users, and_(_users.c.organization_id == _tokens.c.organization_id, found)
        ).outerjoin(_members, _members.c.id == _users.c.member_id)
        columns = [*TOKEN_COLUMNS, *columns]
        where = _tokens.c.token_hash == bindparam("digest")
    else:
        source = _users.join(_members, _members.c.id == _users.c.member_id)
        where = and_(_users.c.organization_id == bindparam("organization_id"), found)
    return (
        select(*columns)
        .select_from(source.outerjoin(_values, _values.c.member_id == _users.c.member_id))
        .where(where)
        .order_by(_values.c.position)
    )


def _one_record(rows: Sequence[Any]) -> UserRecord | None:
    """The record of one user from its joined rows (one per multi-valued item, at least one)."""
    if not rows or rows[0].member_id is None:
        return None
    first = rows[0]
    groups = first.groups or []
    if isinstance(groups, str):  # SQLite: JSON as text, items unordered, each with its key
        groups = sorted(json.loads(groups), key=lambda item: item[2])
    values = tuple((row.attribute, row.item) for row in rows if row.attribute is not None)
    return UserRecord.read(
        first, first, values, groups=tuple(GroupRef(item[0], item[1]) for item in groups)
    )


def read_user(
    session: Session,
    organization_id: int,
    *,
    resource_id: str | None = None,
    user_name: str | None = None,
) -> UserRecord | None:
    """The user with this id or ``userName`` (compared case-insensitively, as SCIM says) in
    this organization, with its groups: one indexed statement."""
    key, value = _lookup(resource_id, user_name)
    statement = record_statement(_dialect(session), key, False)
    rows = session.execute(statement, {"key": value, "organization_id": organization_id})
    return _one_record(rows.all())


def read_user_for_token(
    database: Database,
    digest: str,
    *,
    resource_id: str | None = None,
    user_name: str | None = None,
) -> tuple[Authenticated | None, UserRecord | None]:
    """Who the token with ``digest`` speaks for, and its organization's user with this id or
    ``userName``, in one statement: the token check and the read cost one round trip.

    The token is judged exactly as :func:`app.scim_tokens.authenticate` judges it; when it
    is refused, no user is returned. The first read of a SCIM request, so it needs no
    session: it runs as a :class:`~app.db.PlainRead`, outside any transaction.
    """
    key, value = _lookup(resource_id, user_name)
    statement = record_statement(database.dialect, key, True)
    rows = database.fetch(statement, {"key": value, "digest": digest})
    caller = accepted(rows[0] if rows else None, digest)
    return (caller, _one_record(rows)) if caller is not None else (None, None)


def _lookup(resource_id: str | None, user_name: str | None) -> tuple[str, str]:
    """The column a user is found by, and the value to bind (a ``userName`` is keyed)."""
    if resource_id is not None:
        return "resource_id", resource_id
    return "user_name_key", user_name_key(user_name or "")


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# Built once (the hottest statements of SCIM): no query building or cache-key work per call.
_BY_RESOURCE_ID = (
    select(DirectoryUser)
    .where(
        DirectoryUser.resource_id == bindparam("resource_id"),
        DirectoryUser.organization_id == bindparam("organization_id"),
    )
    .options(joinedload(DirectoryUser.member), joinedload(DirectoryUser.values))
)


_USER_NAME_HOLDER = select(DirectoryUser.member_id).where(
    DirectoryUser.organization_id == bindparam("organization_id"),
    DirectoryUser.user_name_key == bindparam("user_name_key"),
)
_MEMBER_WITH_EMAIL = select(_members.c.id).where(
    _members.c.organization_id == bindparam("organization_id"),
    _members.c.email_normalized == bindparam("email_key"),
)
# What a create must know before it writes, in one statement (one round trip instead of
# three): who holds the userName, which member already has the e-mail, and the
# organization's domains (one row per domain; one row with no domain when none is listed).
_found = select(
    _USER_NAME_HOLDER.scalar_subquery().label("holder"),
    _MEMBER_WITH_EMAIL.scalar_subquery().label("member_id"),
).subquery()
_domain_rows = OrganizationDomain.__table__
_BEFORE_CREATE = (
    select(_found.c.holder, _found.c.member_id, _domain_rows.c.domain)
    .select_from(
        _found.outerjoin(
            _domain_rows, _domain_rows.c.organization_id == bindparam("organization_id")
        )
    )
    .order_by(_domain_rows.c.domain)
)
# A create's rows, written without the ORM (bench/RESULTS.md, sixth round). Built once.
_INSERT_MEMBER = insert(_members).returning(_members.c.id)  # type: ignore[arg-type]
_INSERT_USER = insert(_users)  # type: ignore[arg-type]
_INSERT_VALUES = insert(_values)  # type: ignore[arg-type]


def get_user(session: Session, organization_id: int, resource_id: str) -> DirectoryUser | None:
    """One indexed query (unique ``resource_id``), member and values joined in."""
    return (
        session.scalars(
            _BY_RESOURCE_ID, {"resource_id": resource_id, "organization_id": organization_id}
        )
        .unique()
        .one_or_none()
    )


def provision(
    session: Session, organization_id: int, profile: Profile, *, actor: Actor
) -> UserRecord:
    """Create a user; an active one claims a seat (R11) or the whole creation is refused.

    A member that already exists with the derived e-mail (added by an operator, or removed
    from the directory earlier) is taken over rather than duplicated.
    """
    resource_id = str(uuid.uuid4())
    email, email_key = _email_for(profile, resource_id)  # before the first statement: on
    # SQLite the write lock is taken with it, and every writer waits while it is held
    _check_storable(profile)
    found = session.execute(
        _BEFORE_CREATE,
        {
            "organization_id": organization_id,
            "user_name_key": user_name_key(profile.user_name),
            "email_key": email_key,
        },
    ).all()
    _refuse_taken(profile.user_name, found[0].holder, member_id=None)
    domains.require_allowed(email, [row.domain for row in found if row.domain is not None])
    audit.record(
        session,
        actor,
        "directory.provision",
        organization_id=organization_id,
        target=email,
        details={"user_name": profile.user_name, "active": profile.is_active},
    )
    now = utcnow()
    existing = found[0].member_id
    if existing is None:
        return _insert_new(
            session, organization_id, profile, resource_id, (email, email_key), now, actor
        )
    if session.get(DirectoryUser, existing) is not None:
        raise AlreadyExists(f"The e-mail address {email} belongs to another user.")
    member = session.get_one(Member, existing)
    user = DirectoryUser(
        member_id=member.id,
        organization_id=organization_id,
        resource_id=resource_id,
        created_at=now,
        version=0,
    )
    session.add(user)
    user.member = member
    _apply(session, user, profile, email=(email, email_key), now=now, actor=actor)
    session.flush()
    return UserRecord.of(user, groups=())


def _insert_new(
    session: Session,
    organization_id: int,
    profile: Profile,
    resource_id: str,
    email: tuple[str, str],
    now: dt.datetime,
    actor: Actor,
) -> UserRecord:
    """The rows of a user whose member is new, as plain INSERTs: the common create (an
    initial sync is thousands of them), where the ORM's unit of work cost a third of the
    request (bench/RESULTS.md, sixth round). Nothing in the session refers to these rows.
    """
    member = _member_columns(profile, email)
    member_id = session.execute(
        _INSERT_MEMBER,
        {
            **member,
            "organization_id": organization_id,
            "role": Role.USER.value,
            "created_at": now,
            "updated_at": now,
        },
    ).scalar_one()
    user = {
        **_user_columns(profile),
        "member_id": member_id,
        "organization_id": organization_id,
        "resource_id": resource_id,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    session.execute(_INSERT_USER, user)
    values = _value_rows(profile)
    if values:
        session.execute(
            _INSERT_VALUES,
            [
                {"member_id": member_id, "attribute": attribute, "position": position, "item": item}
                for attribute, position, item in values
            ],
        )
    if profile.is_active:
        claim_seat_for_new_member(
            session,
            Claimant(organization_id, member_id, email[0]),
            actor=actor,
            reason=PROVISIONED,
            now=now,
        )
    return UserRecord.read(  # from the rows as written, as a read would see them
        SimpleNamespace(**user),
        SimpleNamespace(**member),
        tuple((attribute, item) for attribute, _, item in values),
        (),
    )


def update(
    session: Session, user: DirectoryUser, profile: Profile, *, actor: Actor
) -> DirectoryUser:
    """Replace the user's profile. Reactivation claims a seat, deactivation releases it."""
    _check(session, user.organization_id, profile, member_id=user.member_id)
    email, email_key = _email_for(profile, user.resource_id)
    if email_key != user.member.email_normalized:
        domains.check_allowed(session, user.organization_id, email)
        taken = session.scalar(
            _MEMBER_WITH_EMAIL,
            {"organization_id": user.organization_id, "email_key": email_key},
        )
        if taken is not None:
            raise AlreadyExists(f"The e-mail address {email} belongs to another member.")
    was_active = user.member.active
    _apply(session, user, profile, email=(email, email_key), now=utcnow(), actor=actor)
    if was_active != profile.is_active:
        audit.record(
            session,
            actor,
            "directory.activate" if profile.is_active else "directory.deactivate",
            organization_id=user.organization_id,
            target=email,
        )
    session.flush()
    return user


def remove(session: Session, user: DirectoryUser, *, actor: Actor) -> None:
    """Take the user out of the directory: release the seat (R4), deactivate the member.

    The member row stays (the ledger and invoices refer to it); provisioning the same
    address again takes it over.
    """
    member = user.member
    deactivate_member(session, member, actor=actor, reason="removed by the identity provider")
    audit.record(
        session,
        actor,
        "directory.remove",
        organization_id=user.organization_id,
        target=member.email,
        details={"user_name": user.user_name},
    )
    session.delete(user)
    session.flush()


def _apply(
    session: Session,
    user: DirectoryUser,
    profile: Profile,
    *,
    email: tuple[str, str],
    now: dt.datetime,
    actor: Actor,
) -> None:
    """Write ``profile`` onto ``user`` and its member, and claim or release the seat."""
    member = user.member
    for name, value in _user_columns(profile).items():
        setattr(user, name, value)
    user.values = [
        DirectoryValue(attribute=attribute, position=position, item=item)
        for attribute, position, item in _value_rows(profile)
    ]
    user.version = (user.version or 0) + 1
    user.updated_at = now
    for name, value in _member_columns(profile, email).items():
        setattr(member, name, value)
    member.updated_at = now
    session.flush()  # the claim or the release reloads the member it locks
    if profile.is_active:
        claim_seat(session, member, actor=actor, reason=PROVISIONED)
    else:
        release_seat(session, member, actor=actor, reason="deactivated by the identity provider")


def _user_columns(profile: Profile) -> dict[str, Any]:
    """The ``directory_users`` columns ``profile`` sets (a create and a replace alike)."""
    stored = dict(profile.attributes)
    if profile.active is not None:
        stored["active"] = profile.active  # marks it as stated; members.active rules
    return {
        "user_name": profile.user_name,
        "user_name_key": user_name_key(profile.user_name),
        "profile": stored,
        "enterprise": dict(profile.enterprise),
    }


def _member_columns(profile: Profile, email: tuple[str, str]) -> dict[str, Any]:
    """The ``members`` columns ``profile`` sets."""
    return {
        "email": email[0],
        "email_normalized": email[1],
        "external_id": profile.external_id,
        "display_name": profile.display_name,
        "active": profile.is_active,
    }


def _value_rows(profile: Profile) -> list[tuple[str, int, dict[str, Any]]]:
    """The multi-valued attributes as ``(attribute, position, item)``, in stored order."""
    return [
        (attribute, position, item)
        for attribute, items in sorted(profile.multi_valued.items())
        for position, item in enumerate(items)
    ]


def _check(
    session: Session, organization_id: int, profile: Profile, *, member_id: int | None
) -> None:
    """Lengths the columns hold, and ``userName`` unique in the organization."""
    _check_storable(profile)
    holder = session.scalar(
        _USER_NAME_HOLDER,
        {"organization_id": organization_id, "user_name_key": user_name_key(profile.user_name)},
    )
    _refuse_taken(profile.user_name, holder, member_id=member_id)


def _check_storable(profile: Profile) -> None:
    """Lengths the columns hold (the userName's key too), and e-mail domains that can be
    keyed."""
    user_name = profile.user_name
    if not user_name.strip() or len(user_name) > MAX_USER_NAME_LENGTH:
        raise InvalidInput(f"userName must be 1-{MAX_USER_NAME_LENGTH} characters.")
    if len(user_name_key(user_name)) > MAX_USER_NAME_LENGTH:  # NFC and IDNA may lengthen it
        raise InvalidInput(
            f"userName must be at most {MAX_USER_NAME_LENGTH} characters once normalized "
            "(NFC, its domain IDNA-encoded)."
        )
    for name, value in (("externalId", profile.external_id), ("displayName", profile.display_name)):
        if value is not None and len(value) > MAX_TEXT_LENGTH:
            raise InvalidInput(f"{name} must be at most {MAX_TEXT_LENGTH} characters.")
    _refuse_unusable_domains(profile)


def _refuse_unusable_domains(profile: Profile) -> None:
    """An ``emails`` value whose domain is not a valid internationalized domain name is
    refused, not skipped like other values that are no address: it names a domain that can
    never be keyed or allowed, and skipping it would give the member another address (or a
    placeholder) with nothing to tell the IT admin why."""
    for item in profile.multi_valued.get("emails", []):
        value = item.get("value")
        if not isinstance(value, str):
            continue
        local, at, domain = value.rpartition("@")
        if not (at and local and domain):
            continue
        try:
            domain_key(domain)
        except InvalidInput as exc:
            raise InvalidInput(f"emails: {value!r} is no usable address: {exc.message}") from exc


def _refuse_taken(user_name: str, holder: int | None, *, member_id: int | None) -> None:
    if holder is not None and holder != member_id:
        raise AlreadyExists(f"userName {user_name!r} is already taken in this organization.")


def member_email(profile: Profile) -> str | None:
    """The e-mail a member created from ``profile`` gets, or ``None`` for a placeholder."""
    found = _normalized_email(profile)
    return None if found is None else found[0]


def _normalized_email(profile: Profile) -> tuple[str, str] | None:
    """The first candidate address that validates, and its key (validated once: the
    validation is a visible share of a SCIM create)."""
    for candidate in _email_candidates(profile):
        try:
            return normalize_email(candidate)
        except InvalidInput:
            continue
    return None


def _email_for(profile: Profile, resource_id: str) -> tuple[str, str]:
    found = _normalized_email(profile)
    if found is not None:
        return found
    placeholder = f"{resource_id}@{PLACEHOLDER_DOMAIN}"
    return placeholder, placeholder


def _email_candidates(profile: Profile) -> Sequence[str]:
    emails = [e for e in profile.multi_valued.get("emails", []) if isinstance(e.get("value"), str)]
    ranked = sorted(
        emails, key=lambda e: (not e.get("primary"), str(e.get("type", "")).lower() != "work")
    )
    return [*(str(e["value"]) for e in ranked), profile.user_name]
