"""Database tables of the seat ledger and billing core (SQLAlchemy 2.x typed models).

The schema itself is owned by Alembic migrations in ``app/migrations``; these classes must
match them (a test compares the two). Money is always an integer number of minor units.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the engine stores.

    SQLite has no time zones; without this, values read back naive and compare wrongly
    with aware ones.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        moment: dt.datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Role(enum.StrEnum):
    PRIMARY_OWNER = "primary_owner"
    OWNER = "owner"
    ADMIN = "admin"
    USER = "user"


class PlanType(enum.StrEnum):
    ANNUAL_INVOICED = "annual_invoiced"
    MONTHLY_CARD = "monthly_card"


class Source(enum.StrEnum):
    SCIM = "scim"
    SSO = "sso"
    CLI = "cli"
    WEB = "web"


class SeatEventKind(enum.StrEnum):
    PURCHASE = "purchase"
    ASSIGN = "assign"
    RELEASE = "release"
    REFUSE = "refuse"
    RENEWAL = "renewal"
    CORRECTION = "correction"


def _enum_check(column: str, values: type[enum.StrEnum]) -> str:
    listed = ", ".join(f"'{member.value}'" for member in values)
    return f"{column} IN ({listed})"


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A Babel locale identifier ("en", "es", "pt_BR"): the language of the organization's pages.
    locale: Mapped[str] = mapped_column(String(35), default="en", server_default="en")
    # Who invoices are addressed to; empty until an operator sets them.
    billing_legal_name: Mapped[str | None] = mapped_column(String(200))
    billing_address: Mapped[str | None] = mapped_column(String(1000))
    billing_tax_id: Mapped[str | None] = mapped_column(String(64))

    contract: Mapped[Contract] = relationship(back_populates="organization", uselist=False)


class Contract(Base):
    """The organization's current contract term. A renewal moves the term forward in place."""

    __tablename__ = "contracts"
    __table_args__ = (
        CheckConstraint(_enum_check("plan_type", PlanType), name="plan_type"),
        CheckConstraint("seat_price_minor >= 0", name="seat_price_not_negative"),
        CheckConstraint("term_end > term_start", name="term_not_empty"),
        CheckConstraint("next_term_price_minor >= 0", name="next_term_price_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), unique=True
    )
    plan_type: Mapped[str] = mapped_column(String(32))
    term_start: Mapped[dt.date] = mapped_column(Date)
    term_end: Mapped[dt.date] = mapped_column(Date)
    seat_price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    auto_renew: Mapped[bool] = mapped_column(Boolean)
    # The per-seat price from the next renewal on (which applies it and clears it); None: the
    # contract renews at ``seat_price_minor``.
    next_term_price_minor: Mapped[int | None] = mapped_column(BigInteger)

    organization: Mapped[Organization] = relationship(back_populates="contract")


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("organization_id", "email_normalized", name="uq_members_org_email"),
        CheckConstraint(_enum_check("role", Role), name="role"),
        Index(
            "uq_members_one_primary_owner",
            "organization_id",
            unique=True,
            sqlite_where=text("role = 'primary_owner'"),
            postgresql_where=text("role = 'primary_owner'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    email_normalized: Mapped[str] = mapped_column(String(320))
    external_id: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.USER.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    seat: Mapped[SeatAssignment | None] = relationship(back_populates="member", uselist=False)


class SeatPool(Base):
    """Current counts, kept in step with the ledger inside every seat transaction.

    Changed only by single conditional UPDATE statements in :mod:`app.ledger`, never through
    ORM attribute writes, so no stale in-memory copy can overwrite a concurrent change.
    """

    __tablename__ = "seat_pools"
    __table_args__ = (
        CheckConstraint("assigned <= purchased", name="assigned_within_purchased"),
        CheckConstraint("assigned >= 0", name="assigned_not_negative"),
        CheckConstraint("purchased >= 0", name="purchased_not_negative"),
    )

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    purchased: Mapped[int] = mapped_column(Integer)
    assigned: Mapped[int] = mapped_column(Integer, default=0)


class SeatAssignment(Base):
    __tablename__ = "seat_assignments"
    __table_args__ = (
        UniqueConstraint("organization_id", "member_id", name="uq_seat_assignments_org_member"),
        UniqueConstraint("member_id", name="uq_seat_assignments_member_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    member: Mapped[Member] = relationship(back_populates="seat")


class SeatEvent(Base):
    """One append-only ledger entry. Database triggers refuse UPDATE and DELETE."""

    __tablename__ = "seat_events"
    __table_args__ = (
        CheckConstraint(_enum_check("kind", SeatEventKind), name="kind"),
        CheckConstraint(_enum_check("source", Source), name="source"),
        Index("ix_seat_events_org_id_id", "organization_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    subject: Mapped[str | None] = mapped_column(String(320))
    purchased_delta: Mapped[int] = mapped_column(Integer, default=0)
    assigned_delta: Mapped[int] = mapped_column(Integer, default=0)
    purchased_after: Mapped[int] = mapped_column(Integer)
    assigned_after: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("organization_id", "number", name="uq_invoices_org_number"),
        UniqueConstraint(
            "organization_id", "idempotency_key", name="uq_invoices_org_idempotency_key"
        ),
        CheckConstraint("total_minor >= 0", name="total_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    purchaser_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    purchaser_email: Mapped[str] = mapped_column(String(320))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    term_start: Mapped[dt.date] = mapped_column(Date)
    term_end: Mapped[dt.date] = mapped_column(Date)

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.id", cascade="all, delete-orphan"
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("months > 0", name="months_positive"),
        CheckConstraint(
            "amount_minor = quantity * unit_price_minor * months", name="amount_is_product"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    months: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    seat_event_id: Mapped[int] = mapped_column(ForeignKey("seat_events.id"))

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class AuditEntry(Base):
    """Who did what to which organization; written in the same transaction as the change."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_org_id_id", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    actor: Mapped[str] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(320))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AlertKind(enum.StrEnum):
    SEATS_LOW = "seats_low"
    SEATS_EXHAUSTED = "seats_exhausted"
    SEATS_REFUSED = "seats_refused"
    SEATS_ADDED = "seats_added"
    CONTRACT_RENEWED = "contract_renewed"
    CONTRACT_ENDING = "contract_ending"
    WEBHOOK_DISABLED = "webhook_disabled"
    CERTIFICATE_EXPIRING = "certificate_expiring"
    SSO_CHANGED = "sso_changed"
    # Not an alert to every owner: the outbox row of one owner's e-mail sign-in link
    # (app.sign_in_links), delivered to that owner alone and never listed among the alerts.
    SIGN_IN_LINK = "sign_in_link"
    SSO_MISCONFIGURED = "sso_misconfigured"


class AlertStatus(enum.StrEnum):
    COLLECTING = "collecting"  # a refusal digest whose window is still open
    PENDING = "pending"  # written, not yet fanned out to its recipients
    DISPATCHED = "dispatched"  # one delivery row per recipient exists


class DeliveryChannel(enum.StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    CANCELLED = "cancelled"


class Alert(Base):
    """One owner alert: the outbox row written in the transaction of the event behind it."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(_enum_check("kind", AlertKind), name="kind"),
        CheckConstraint(_enum_check("status", AlertStatus), name="status"),
        Index("ix_alerts_org_id_id", "organization_id", "id"),
        Index("ix_alerts_status_deliverable_at", "status", "deliverable_at"),
        Index(
            "uq_alerts_one_collecting_digest",
            "organization_id",
            unique=True,
            sqlite_where=text("status = 'collecting'"),
            postgresql_where=text("status = 'collecting'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deliverable_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    request_id: Mapped[str | None] = mapped_column(String(64))  # the request that caused it


class Webhook(Base):
    """An organization's alert endpoint. The secret is stored as is: it must sign every call."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    disabled_reason: Mapped[str | None] = mapped_column(String(255))


class AlertDelivery(Base):
    """One alert to one recipient on one channel, retried until sent (at least once)."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        CheckConstraint(_enum_check("channel", DeliveryChannel), name="channel"),
        CheckConstraint(_enum_check("status", DeliveryStatus), name="status"),
        Index("ix_alert_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(2048))
    webhook_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AlertPolicy(Base):
    """An organization's own alert thresholds; without a row the defaults apply."""

    __tablename__ = "alert_policies"

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    percents: Mapped[list[int]] = mapped_column(JSON)
    seats_left: Mapped[int | None] = mapped_column(Integer)
    digest_minutes: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AlertMark(Base):
    """A threshold or deadline already announced; deleting it re-arms the threshold."""

    __tablename__ = "alert_marks"

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    mark: Mapped[str] = mapped_column(String(64), primary_key=True)
    marked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RequiredSignature(enum.StrEnum):
    """Which part of a SAML response the IdP must sign for seatgate to accept it."""

    ASSERTION = "assertion"
    RESPONSE = "response"
    BOTH = "both"


class IdentityProvider(Base):
    """An organization's SAML identity provider and its sign-in policy (one per organization).

    ``certificates`` holds every pinned IdP signing certificate (PEM, a list so that a key
    rotation at the IdP can be pre-staged); fingerprints are never stored or trusted.
    ``sp_private_key`` is the organization's own SAML signing key, PEM encrypted with the
    instance's ``secret_key``.
    """

    __tablename__ = "sso_identity_providers"
    __table_args__ = (
        CheckConstraint(
            _enum_check("required_signature", RequiredSignature), name="required_signature"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), unique=True
    )
    entity_id: Mapped[str] = mapped_column(String(1024))
    sso_url: Mapped[str] = mapped_column(String(2048))
    slo_url: Mapped[str | None] = mapped_column(String(2048))
    certificates: Mapped[list[str]] = mapped_column(JSON)
    allow_idp_initiated: Mapped[bool] = mapped_column(Boolean, default=False)
    jit_provisioning: Mapped[bool] = mapped_column(Boolean, default=True)
    sign_authn_requests: Mapped[bool] = mapped_column(Boolean, default=False)
    required_signature: Mapped[str] = mapped_column(
        String(16), default=RequiredSignature.ASSERTION.value
    )
    attribute_map: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    allowed_redirects: Mapped[list[str]] = mapped_column(JSON, default=list)
    sp_certificate: Mapped[str] = mapped_column(Text)
    sp_private_key: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class AuthnRequestRecord(Base):
    """An AuthnRequest seatgate sent; a response may answer it once, before ``expires_at``."""

    __tablename__ = "sso_authn_requests"
    __table_args__ = (Index("ix_sso_authn_requests_expires_at", "expires_at"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    next_url: Mapped[str] = mapped_column(String(2048))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    consumed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # A test sign-in from a setup page: validated and reported, but nobody is admitted.
    test_mode: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # A test sign-in against an IdP configuration still waiting for an owner's approval: its
    # answer is checked against that configuration, and only ever reported.
    idp_submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("sso_idp_submissions.id", ondelete="SET NULL")
    )


class SeenAssertion(Base):
    """Replay cache: an assertion id accepted once is refused until its ``NotOnOrAfter``.

    The unique constraint, not an in-process cache, makes the refusal hold across instances.
    """

    __tablename__ = "sso_seen_assertions"
    __table_args__ = (
        UniqueConstraint(
            "organization_id", "assertion_id", name="uq_sso_seen_assertions_org_assertion"
        ),
        Index("ix_sso_seen_assertions_not_on_or_after", "not_on_or_after"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    assertion_id: Mapped[str] = mapped_column(String(256))
    not_on_or_after: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SessionEndReason(enum.StrEnum):
    """Why a session ended before it expired. An ended session never comes back (I9)."""

    SIGNED_OUT = "signed_out"  # the person signed out at seatgate
    IDP_LOGOUT = "idp_logout"  # single logout from the identity provider
    DEACTIVATED = "deactivated"  # the member was deactivated (or removed by SCIM)
    SEAT_RELEASED = "seat_released"  # the member's seat was freed
    ROLE_CHANGED = "role_changed"  # the member's role changed


class SignInSession(Base):
    """The server-side half of a signed-in session; its id is the JWT's ``sid``.

    ``ended_at`` and ``end_reason`` say when and why it ended; set once, never cleared.
    Database triggers (migration 0011) end a member's sessions in the transaction that
    deactivates the member, frees their seat or changes their role, whichever code path
    does it; deleting the member deletes its sessions (cascade).
    ``expires_at`` slides forward while the owner pages are in use (never past
    ``created_at`` plus ``sso.absolute_session_seconds``).
    """

    __tablename__ = "sso_sessions"
    __table_args__ = (
        Index("ix_sso_sessions_expires_at", "expires_at"),
        CheckConstraint(_enum_check("end_reason", SessionEndReason), name="end_reason"),
        CheckConstraint("(ended_at IS NULL) = (end_reason IS NULL)", name="ended_with_reason"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    name_id: Mapped[str] = mapped_column(String(512))
    session_index: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(16))


class TokenSigningKey(Base):
    """A JWT signing key. The newest unretired key signs; retired keys stay published in the
    JWKS until every token they signed has expired. The private key is PEM encrypted with
    the instance's ``secret_key``."""

    __tablename__ = "sso_token_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    private_key: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ScimToken(Base):
    """A bearer token that lets one identity provider provision one organization (I7).

    Only the SHA-256 of the token is stored; the token itself is shown once, at creation.
    """

    __tablename__ = "scim_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Issued through a setup link: refused until an owner approves it (I10).
    awaiting_approval: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    setup_link_id: Mapped[int | None] = mapped_column(
        ForeignKey("setup_links.id", ondelete="SET NULL")
    )


class DirectoryUser(Base):
    """What an identity provider knows about a member, beside the member row itself.

    One row per provisioned member. ``members`` keeps what the seat ledger needs (e-mail,
    ``active``, external id, display name); this row keeps the directory identity
    (``user_name``, the public ``resource_id``) and the rest of the profile as documents.
    ``user_name_key`` is the case-folded user name: the unique, indexed lookup key.
    """

    __tablename__ = "directory_users"
    __table_args__ = (
        UniqueConstraint(
            "organization_id", "user_name_key", name="uq_directory_users_org_user_name_key"
        ),
        # An organization's users in member order: SCIM's list pages (startIndex and cursor)
        # and its totalResults count, read from the index alone (migration 0009).
        Index("ix_directory_users_org_member", "organization_id", "member_id"),
    )

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    resource_id: Mapped[str] = mapped_column(String(36), unique=True)
    user_name: Mapped[str] = mapped_column(String(320))
    user_name_key: Mapped[str] = mapped_column(String(320))
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enterprise: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    member: Mapped[Member] = relationship()
    values: Mapped[list[DirectoryValue]] = relationship(
        order_by="DirectoryValue.position", cascade="all, delete-orphan"
    )


class DirectoryValue(Base):
    """One item of a multi-valued attribute (an e-mail, a phone number, an address, …).

    Kept as rows, not inside ``directory_users.profile``, so that filters such as
    ``emails[type eq "work" and value co "@example.com"]`` run in SQL on both engines.
    """

    __tablename__ = "directory_values"
    __table_args__ = (Index("ix_directory_values_member_attribute", "member_id", "attribute"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("directory_users.member_id", ondelete="CASCADE")
    )
    attribute: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    item: Mapped[dict[str, Any]] = mapped_column(JSON)


# Identity providers look members up by their external id (Okta's and Entra's match probe).
Index("ix_members_org_external_id", Member.organization_id, Member.external_id)


class DevSignInLink(Base):
    """A one-time development sign-in link (``env = "development"`` only); token hashed."""

    __tablename__ = "dev_sign_in_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class DirectoryGroup(Base):
    """A group an identity provider pushes over SCIM. Groups never hold seats.

    ``display_name_key`` is the case-folded display name: unique in the organization, and
    the key that role mappings (:class:`GroupRoleMapping`) match on.
    """

    __tablename__ = "directory_groups"
    __table_args__ = (
        UniqueConstraint(
            "organization_id", "display_name_key", name="uq_directory_groups_org_display_name_key"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    resource_id: Mapped[str] = mapped_column(String(36), unique=True)
    display_name: Mapped[str] = mapped_column(String(255))
    display_name_key: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    memberships: Mapped[list[GroupMembership]] = relationship(
        back_populates="group", cascade="all, delete-orphan", order_by="GroupMembership.added_at"
    )


class GroupMembership(Base):
    """A directory user in a group. Removing the user from the directory removes it too."""

    __tablename__ = "directory_group_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("directory_groups.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("directory_users.member_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    group: Mapped[DirectoryGroup] = relationship(back_populates="memberships")
    user: Mapped[DirectoryUser] = relationship()


class GroupRoleMapping(Base):
    """An owner's rule: members of the identity-provider group named so get ``role``."""

    __tablename__ = "group_role_mappings"
    __table_args__ = (
        UniqueConstraint(
            "organization_id", "group_name_key", name="uq_group_role_mappings_org_group_name_key"
        ),
        CheckConstraint("role IN ('owner', 'admin')", name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    group_name: Mapped[str] = mapped_column(String(255))
    group_name_key: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SetupLink(Base):
    """A one-time link an owner gives the customer's IT admin to set up SSO and SCIM alone.

    Only the token's SHA-256 is stored. The link works until ``expires_at``, until the admin
    finishes the setup (``used_at``) or until an owner or the operator revokes it
    (``revoked_at``), whichever comes first.
    """

    __tablename__ = "setup_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(320))


class IdpSubmissionStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for an owner; serves the setup page's test sign-in only
    APPROVED = "approved"  # an owner made it the organization's identity provider
    REJECTED = "rejected"  # an owner refused it (or revoked the link that sent it)
    SUPERSEDED = "superseded"  # the link sent a newer configuration before anyone decided


class IdpSubmission(Base):
    """An IdP configuration sent through a setup link, kept apart from the organization's
    identity provider until an owner approves it.

    It lives in its own table so that nothing that signs people in can read it by mistake:
    sign-in reads ``sso_identity_providers`` alone, and only a setup page's test sign-in,
    which admits nobody, validates against a pending row. At most one row per organization
    is pending (a partial unique index).
    """

    __tablename__ = "sso_idp_submissions"
    __table_args__ = (
        CheckConstraint(_enum_check("status", IdpSubmissionStatus), name="status"),
        Index(
            "uq_sso_idp_submissions_one_pending",
            "organization_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    setup_link_id: Mapped[int | None] = mapped_column(
        ForeignKey("setup_links.id", ondelete="SET NULL")
    )
    submitted_by: Mapped[str] = mapped_column(String(320))
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    entity_id: Mapped[str] = mapped_column(String(1024))
    sso_url: Mapped[str] = mapped_column(String(2048))
    slo_url: Mapped[str | None] = mapped_column(String(2048))
    certificates: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=IdpSubmissionStatus.PENDING.value)
    decided_by: Mapped[str | None] = mapped_column(String(320))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class EmailSignInLink(Base):
    """An owner's one-time e-mail sign-in link, from request to redemption.

    A request writes the row with the requested address only (the same work whether or not
    the address is an owner's); the alert deliverer then names the owner (``member_id``) or
    deletes the row. The token is made at each send and only its SHA-256 is kept
    (``token_sha256``, replaced at a resend); ``used_at`` is set once, by a conditional UPDATE.
    """

    __tablename__ = "email_sign_in_links"
    __table_args__ = (Index("ix_email_sign_in_links_dispatched_at", "dispatched_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    address_key: Mapped[str] = mapped_column(String(320))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    token_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class SignInLog(Base):
    """One SSO sign-in attempt and the outcome of each validation step, for the IT admin."""

    __tablename__ = "sign_in_logs"
    __table_args__ = (
        Index("ix_sign_in_logs_org_id_id", "organization_id", "id"),
        Index("ix_sign_in_logs_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    request_id: Mapped[str | None] = mapped_column(String(64))
    error_id: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(String(320))
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class ScimRequestLog(Base):
    """One SCIM request as the IT admin may see it: no token, personal fields redacted."""

    __tablename__ = "scim_request_logs"
    __table_args__ = (
        Index("ix_scim_request_logs_org_id_id", "organization_id", "id"),
        Index("ix_scim_request_logs_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    request_id: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(512))
    status: Mapped[int] = mapped_column(Integer)
    scim_type: Mapped[str | None] = mapped_column(String(32))
    latency_ms: Mapped[int] = mapped_column(Integer)
    body: Mapped[Any] = mapped_column(JSON, nullable=True)


class OrganizationDomain(Base):
    """An e-mail domain the organization's members must belong to (none listed: any domain)."""

    __tablename__ = "organization_domains"
    __table_args__ = (
        UniqueConstraint("organization_id", "domain", name="uq_organization_domains_org_domain"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WaitingEntry(Base):
    """Someone refused for lack of a seat, with what the IdP sent, kept to provision later.

    ``request`` is the SCIM profile (no password: the SCIM parser never keeps one) or the
    SSO sign-in's name id, display name and attributes. One row per person and organization.
    """

    __tablename__ = "waiting_list"
    __table_args__ = (
        UniqueConstraint("organization_id", "email_normalized", name="uq_waiting_list_org_email"),
        CheckConstraint("source IN ('scim', 'sso')", name="source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(8))
    email: Mapped[str] = mapped_column(String(320))
    email_normalized: Mapped[str] = mapped_column(String(320))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_refused_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_refused_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    provisioned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))


class WaitingListPolicy(Base):
    """Whether added seats go to the waiting list automatically (off without a row)."""

    __tablename__ = "waiting_list_policies"

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    auto_provision: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
