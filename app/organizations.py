"""Organizations, their contract and their members."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from babel import Locale, UnknownLocaleError
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, selectinload

from app import audit
from app.addresses import identity_key, normalize_email
from app.errors import AlreadyExists, InvalidInput, NotFound
from app.ledger import Actor, open_seat_pool, release_seat
from app.models import Contract, Member, Organization, PlanType, Role, SeatPool, utcnow
from app.money import normalize_currency, parse_price
from app.proration import term_end

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_SEATS = 1_000_000


@dataclass(frozen=True)
class NewOrganization:
    """Everything needed to open an organization; validated by :func:`create_organization`."""

    slug: str
    name: str
    seats: int
    seat_price_minor: int
    currency: str
    term_start: dt.date
    auto_renew: bool
    primary_owner_email: str
    plan_type: PlanType = PlanType.ANNUAL_INVOICED


@dataclass(frozen=True)
class OrganizationChange:
    """What an operator may change about an organization; ``None`` leaves a field as it is.

    For the optional texts (billing details) and the next term's price, an empty string
    clears the value. The price is a decimal in the contract's currency (``"32.50"``).
    """

    name: str | None = None
    auto_renew: bool | None = None
    locale: str | None = None
    billing_legal_name: str | None = None
    billing_address: str | None = None
    billing_tax_id: str | None = None
    next_term_price: str | None = None


@dataclass(frozen=True)
class OrganizationSummary:
    """One line of the organization list: its contract's term and its seat counts."""

    slug: str
    name: str
    purchased: int
    assigned: int
    term_end: dt.date
    auto_renew: bool


def checked_name(name: str) -> str:
    stripped = (name or "").strip()
    if not stripped or len(stripped) > 200 or _has_control_characters(stripped):
        raise InvalidInput("Name must be 1-200 characters, on one line.")
    return stripped


def checked_locale(identifier: str) -> str:
    """A Babel locale identifier in its canonical form (``es``, ``pt_BR``), or InvalidInput."""
    try:
        return str(Locale.parse((identifier or "").strip().replace("-", "_")))
    except (ValueError, TypeError, UnknownLocaleError) as exc:
        raise InvalidInput(
            f"Locale {identifier!r} is not a known locale; use an identifier such as en or es."
        ) from exc


def create_organization(session: Session, new: NewOrganization, *, actor: Actor) -> Organization:
    if not SLUG_PATTERN.match(new.slug or ""):
        raise InvalidInput(
            f"Slug {new.slug!r} must be 1-63 lowercase letters, digits or inner hyphens."
        )
    name = checked_name(new.name)
    if not 1 <= new.seats <= MAX_SEATS:
        raise InvalidInput(f"Seats must be between 1 and {MAX_SEATS}, got {new.seats}.")
    if new.seat_price_minor < 0:
        raise InvalidInput("The per-seat price must not be negative.")
    currency = normalize_currency(new.currency)
    if session.scalar(select(Organization.id).where(Organization.slug == new.slug)) is not None:
        raise AlreadyExists(f"An organization with slug {new.slug!r} already exists.")
    email, email_key = normalize_email(new.primary_owner_email)
    now = utcnow()
    organization = Organization(slug=new.slug, name=name, created_at=now)
    session.add(organization)
    session.flush()
    session.add(
        Contract(
            organization_id=organization.id,
            plan_type=new.plan_type.value,
            term_start=new.term_start,
            term_end=term_end(new.term_start),
            seat_price_minor=new.seat_price_minor,
            currency=currency,
            auto_renew=new.auto_renew,
        )
    )
    session.add(
        Member(
            organization_id=organization.id,
            email=email,
            email_normalized=email_key,
            role=Role.PRIMARY_OWNER.value,
            active=True,
            created_at=now,
            updated_at=now,
        )
    )
    session.flush()
    open_seat_pool(session, organization.id, new.seats, actor=actor, now=now)
    audit.record(
        session,
        actor,
        "organization.create",
        organization_id=organization.id,
        target=new.slug,
        details={
            "seats": new.seats,
            "seat_price_minor": new.seat_price_minor,
            "currency": currency,
            "term_start": new.term_start.isoformat(),
            "auto_renew": new.auto_renew,
            "plan_type": new.plan_type.value,
            "primary_owner": email,
        },
    )
    session.flush()
    return organization


def update_organization(
    session: Session, organization: Organization, change: OrganizationChange, *, actor: Actor
) -> Organization:
    """Apply ``change``, all or nothing, and audit what it changed (nothing changed: no entry).

    The seat price of the current term never changes (its invoices and prorations rest on
    it): a new price is set for the next term, and the renewal applies it.
    """
    contract = organization.contract
    wanted: dict[str, Any] = {}
    if change.name is not None:
        wanted["name"] = checked_name(change.name)
    if change.locale is not None:
        wanted["locale"] = checked_locale(change.locale)
    for field, limit, lines in _BILLING_FIELDS:
        text = getattr(change, field)
        if text is not None:
            wanted[field] = _billing_text(field, text, limit, multi_line=lines)
    changed: dict[str, Any] = {
        field: value for field, value in wanted.items() if getattr(organization, field) != value
    }
    if change.auto_renew is not None and change.auto_renew != contract.auto_renew:
        changed["auto_renew"] = change.auto_renew
    if change.next_term_price is not None:
        price = (
            parse_price(change.next_term_price, contract.currency)
            if change.next_term_price.strip()
            else None
        )
        if price != contract.next_term_price_minor:
            changed["next_term_price_minor"] = price
    if not changed:
        return organization
    for field, value in changed.items():
        setattr(contract if field in _CONTRACT_FIELDS else organization, field, value)
    session.flush()
    audit.record(
        session,
        actor,
        "organization.update",
        organization_id=organization.id,
        target=organization.slug,
        details=changed,
    )
    return organization


_CONTRACT_FIELDS = {"auto_renew", "next_term_price_minor"}
# (field, longest text, whether it may span lines): an address does, the rest are one line.
_BILLING_FIELDS = (
    ("billing_legal_name", 200, False),
    ("billing_address", 1000, True),
    ("billing_tax_id", 64, False),
)


def _billing_text(field: str, text: str, limit: int, *, multi_line: bool) -> str | None:
    """A billing detail as stored: stripped, ``None`` when empty, refused when too long or
    holding control characters (an invoice prints it as given)."""
    stored = text.strip().replace("\r\n", "\n")
    if not stored:
        return None
    if len(stored) > limit or _has_control_characters(
        stored.replace("\n", "") if multi_line else stored
    ):
        what = field.removeprefix("billing_").replace("_", " ")
        kind = "text" if multi_line else "one line of text"
        raise InvalidInput(f"The billing {what} must be {kind} of at most {limit} characters.")
    return stored


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(character) == "Cc" for character in text)


def list_organizations(session: Session) -> list[OrganizationSummary]:
    """Every organization by slug, with its term and seat counts, in one query."""
    rows = session.execute(
        select(
            Organization.slug,
            Organization.name,
            SeatPool.purchased,
            SeatPool.assigned,
            Contract.term_end,
            Contract.auto_renew,
        )
        .join(Contract, Contract.organization_id == Organization.id)
        .join(SeatPool, SeatPool.organization_id == Organization.id)
        .order_by(Organization.slug)
    )
    return [OrganizationSummary(*row) for row in rows]


_BY_SLUG = select(Organization).where(Organization.slug == bindparam("slug"))
_MEMBER_BY_EMAIL = select(Member).where(
    Member.organization_id == bindparam("organization_id"),
    Member.email_normalized == bindparam("email_key"),
)


def get_organization(session: Session, slug: str) -> Organization:
    organization = session.scalar(_BY_SLUG, {"slug": slug})
    if organization is None:
        raise NotFound(f"No organization with slug {slug!r}.")
    return organization


def find_member(session: Session, organization: Organization, email: str) -> Member | None:
    """The member whose address has the identity key of ``email`` (any spelling of the same
    address, never a look-alike: :mod:`app.addresses`). Raises
    :class:`~app.errors.InvalidInput` for an address whose domain is not valid IDNA."""
    key = identity_key(email)
    return session.scalar(_MEMBER_BY_EMAIL, {"organization_id": organization.id, "email_key": key})


def get_member(session: Session, organization: Organization, email: str) -> Member:
    member = find_member(session, organization, email)
    if member is None:
        raise NotFound(f"No member {email!r} in organization {organization.slug!r}.")
    return member


def add_member(
    session: Session,
    organization: Organization,
    email: str,
    role: Role,
    *,
    actor: Actor,
    display_name: str | None = None,
    external_id: str | None = None,
) -> Member:
    """Add an active member without a seat; a seat is claimed on first use (SSO, SCIM, CLI)."""
    if role is Role.PRIMARY_OWNER:
        raise InvalidInput("An organization has exactly one Primary Owner, set at creation.")
    address, key = normalize_email(email)
    if find_member(session, organization, key) is not None:
        raise AlreadyExists(f"{address} is already a member of {organization.slug!r}.")
    now = utcnow()
    member = Member(
        organization_id=organization.id,
        email=address,
        email_normalized=key,
        role=role.value,
        active=True,
        display_name=display_name,
        external_id=external_id,
        created_at=now,
        updated_at=now,
    )
    session.add(member)
    session.flush()
    audit.record(
        session,
        actor,
        "member.add",
        organization_id=organization.id,
        target=address,
        details={"role": role.value},
    )
    return member


def transfer_primary_owner(
    session: Session, organization: Organization, email: str, *, actor: Actor
) -> tuple[Member, Member]:
    """Make another active member the Primary Owner; the previous one becomes an Owner.

    An organization always has exactly one Primary Owner (R9: the one who buys seats), and
    SCIM never changes that role; when the person leaves the company (and is deactivated by
    the identity provider), an operator hands the role on with this. Returns the new and the
    previous Primary Owner; naming the current one changes nothing.
    """
    successor = get_member(session, organization, email)
    current = primary_owner(session, organization)
    if current is not None and current.id == successor.id:
        return successor, current
    if not successor.active:
        raise InvalidInput(
            f"{successor.email} is deactivated; only an active member can be Primary Owner."
        )
    now = utcnow()
    if current is not None:
        current.role = Role.OWNER.value
        current.updated_at = now
        session.flush()  # one Primary Owner at any moment (unique partial index)
    successor.role = Role.PRIMARY_OWNER.value
    successor.updated_at = now
    session.flush()
    audit.record(
        session,
        actor,
        "member.primary_owner.transfer",
        organization_id=organization.id,
        target=successor.email,
        details={"previous": current.email if current is not None else None},
    )
    return successor, current if current is not None else successor


def deactivate_member(session: Session, member: Member, *, actor: Actor, reason: str) -> None:
    """The member stays (the ledger, invoices and audit name it) but is inactive and holds no
    seat (I3): its seat goes back to the pool for someone else."""
    member.active = False
    member.updated_at = utcnow()
    session.flush()  # the release reloads the member it locks
    release_seat(session, member, actor=actor, reason=reason)


def primary_owner(session: Session, organization: Organization) -> Member | None:
    """The one who buys seats (None only while an operator has not named a successor)."""
    return session.scalar(
        select(Member).where(
            Member.organization_id == organization.id,
            Member.role == Role.PRIMARY_OWNER.value,
        )
    )


def list_members(session: Session, organization: Organization) -> list[Member]:
    """Members with their seat loaded in one more query (listings show it for each member)."""
    return list(
        session.scalars(
            select(Member)
            .where(Member.organization_id == organization.id)
            .order_by(Member.id)
            .options(selectinload(Member.seat))
        )
    )
