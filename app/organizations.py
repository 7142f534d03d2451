"""Organizations, their contract and their members."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import email_validator
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, selectinload

from app import audit
from app.errors import AlreadyExists, InvalidInput, NotFound
from app.ledger import Actor, open_seat_pool
from app.models import Contract, Member, Organization, PlanType, Role, utcnow
from app.money import normalize_currency
from app.proration import term_end

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_SEATS = 1_000_000

# Directories really do hold addresses such as alice@corp.local (Active Directory) or
# @example.test (staging tenants); refusing them would lock real users out.
email_validator.SPECIAL_USE_DOMAIN_NAMES = [
    name
    for name in email_validator.SPECIAL_USE_DOMAIN_NAMES
    if name not in {"local", "localhost", "test"}
]


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


def normalize_email(address: str) -> tuple[str, str]:
    """The address as given (domain normalized) and its case-folded key for uniqueness."""
    try:
        checked = validate_email(
            address, check_deliverability=False, globally_deliverable=False, allow_smtputf8=True
        )
    except EmailNotValidError as exc:
        raise InvalidInput(f"{address!r} is not a valid e-mail address: {exc}") from exc
    return checked.normalized, checked.normalized.casefold()


def create_organization(session: Session, new: NewOrganization, *, actor: Actor) -> Organization:
    if not SLUG_PATTERN.match(new.slug or ""):
        raise InvalidInput(
            f"Slug {new.slug!r} must be 1-63 lowercase letters, digits or inner hyphens."
        )
    name = (new.name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("Name must be 1-200 characters.")
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
    key = email.strip().casefold()
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
    current = session.scalar(
        select(Member).where(
            Member.organization_id == organization.id,
            Member.role == Role.PRIMARY_OWNER.value,
        )
    )
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
