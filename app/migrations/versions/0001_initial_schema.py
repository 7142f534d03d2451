"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26

The seat ledger's tables. ``seat_events`` is append-only: triggers refuse UPDATE and DELETE,
except the ``member_id -> NULL`` that the foreign key's ON DELETE SET NULL performs.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("slug", name=op.f("uq_organizations_slug")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=320), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_audit_log_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_org_id_id", ["organization_id", "id"], unique=False)

    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("plan_type", sa.String(length=32), nullable=False),
        sa.Column("term_start", sa.Date(), nullable=False),
        sa.Column("term_end", sa.Date(), nullable=False),
        sa.Column("seat_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "plan_type IN ('annual_invoiced', 'monthly_card')", name=op.f("ck_contracts_plan_type")
        ),
        sa.CheckConstraint(
            "seat_price_minor >= 0", name=op.f("ck_contracts_seat_price_not_negative")
        ),
        sa.CheckConstraint("term_end > term_start", name=op.f("ck_contracts_term_not_empty")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_contracts_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_contracts_organization_id")),
    )
    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_normalized", sa.String(length=320), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('primary_owner', 'owner', 'admin', 'user')", name=op.f("ck_members_role")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_members_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("organization_id", "email_normalized", name="uq_members_org_email"),
    )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_members_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            "uq_members_one_primary_owner",
            ["organization_id"],
            unique=True,
            sqlite_where=sa.text("role = 'primary_owner'"),
            postgresql_where=sa.text("role = 'primary_owner'"),
        )

    op.create_table(
        "seat_pools",
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("purchased", sa.Integer(), nullable=False),
        sa.Column("assigned", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "assigned <= purchased", name=op.f("ck_seat_pools_assigned_within_purchased")
        ),
        sa.CheckConstraint("assigned >= 0", name=op.f("ck_seat_pools_assigned_not_negative")),
        sa.CheckConstraint("purchased >= 0", name=op.f("ck_seat_pools_purchased_not_negative")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_seat_pools_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_seat_pools")),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("purchaser_id", sa.Integer(), nullable=True),
        sa.Column("purchaser_email", sa.String(length=320), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("term_start", sa.Date(), nullable=False),
        sa.Column("term_end", sa.Date(), nullable=False),
        sa.CheckConstraint("total_minor >= 0", name=op.f("ck_invoices_total_not_negative")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_invoices_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["purchaser_id"],
            ["members.id"],
            name=op.f("fk_invoices_purchaser_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint(
            "organization_id", "idempotency_key", name="uq_invoices_org_idempotency_key"
        ),
        sa.UniqueConstraint("organization_id", "number", name="uq_invoices_org_number"),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invoices_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "seat_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_seat_assignments_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_seat_assignments_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seat_assignments")),
        sa.UniqueConstraint("member_id", name="uq_seat_assignments_member_id"),
        sa.UniqueConstraint("organization_id", "member_id", name="uq_seat_assignments_org_member"),
    )
    op.create_table(
        "seat_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=320), nullable=True),
        sa.Column("purchased_delta", sa.Integer(), nullable=False),
        sa.Column("assigned_delta", sa.Integer(), nullable=False),
        sa.Column("purchased_after", sa.Integer(), nullable=False),
        sa.Column("assigned_after", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('purchase', 'assign', 'release', 'refuse', 'renewal', 'correction')",
            name=op.f("ck_seat_events_kind"),
        ),
        sa.CheckConstraint(
            "source IN ('scim', 'sso', 'cli', 'web')", name=op.f("ck_seat_events_source")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_seat_events_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_seat_events_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seat_events")),
    )
    with op.batch_alter_table("seat_events", schema=None) as batch_op:
        batch_op.create_index("ix_seat_events_org_id_id", ["organization_id", "id"], unique=False)

    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("seat_event_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "amount_minor = quantity * unit_price_minor * months",
            name=op.f("ck_invoice_lines_amount_is_product"),
        ),
        sa.CheckConstraint("months > 0", name=op.f("ck_invoice_lines_months_positive")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_invoice_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_lines_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["seat_event_id"],
            ["seat_events.id"],
            name=op.f("fk_invoice_lines_seat_event_id_seat_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
    )
    with op.batch_alter_table("invoice_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invoice_lines_invoice_id"), ["invoice_id"], unique=False
        )

    _create_append_only_guard()


def downgrade() -> None:
    _drop_append_only_guard()
    with op.batch_alter_table("invoice_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoice_lines_invoice_id"))

    op.drop_table("invoice_lines")
    with op.batch_alter_table("seat_events", schema=None) as batch_op:
        batch_op.drop_index("ix_seat_events_org_id_id")

    op.drop_table("seat_events")
    op.drop_table("seat_assignments")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_organization_id"))

    op.drop_table("invoices")
    op.drop_table("seat_pools")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_members_one_primary_owner",
            sqlite_where=sa.text("role = 'primary_owner'"),
            postgresql_where=sa.text("role = 'primary_owner'"),
        )
        batch_op.drop_index(batch_op.f("ix_members_organization_id"))

    op.drop_table("members")
    op.drop_table("contracts")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_org_id_id")

    op.drop_table("audit_log")
    op.drop_table("organizations")


_IMMUTABLE = (
    "id",
    "organization_id",
    "kind",
    "subject",
    "purchased_delta",
    "assigned_delta",
    "purchased_after",
    "assigned_after",
    "actor",
    "source",
    "reason",
    "request_id",
    "idempotency_key",
    "created_at",
)


def _create_append_only_guard() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION seat_events_append_only() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'UPDATE' AND NEW.member_id IS NULL
                   AND (to_jsonb(NEW) - 'member_id') = (to_jsonb(OLD) - 'member_id') THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION 'seat_events is append-only';
            END
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER seat_events_append_only BEFORE UPDATE OR DELETE ON seat_events "
            "FOR EACH ROW EXECUTE FUNCTION seat_events_append_only()"
        )
        return
    unchanged = " AND ".join(f"NEW.{column} IS OLD.{column}" for column in _IMMUTABLE)
    op.execute(
        "CREATE TRIGGER seat_events_no_update BEFORE UPDATE ON seat_events "
        f"WHEN NOT (NEW.member_id IS NULL AND {unchanged}) "
        "BEGIN SELECT RAISE(ABORT, 'seat_events is append-only'); END"
    )
    op.execute(
        "CREATE TRIGGER seat_events_no_delete BEFORE DELETE ON seat_events "
        "BEGIN SELECT RAISE(ABORT, 'seat_events is append-only'); END"
    )


def _drop_append_only_guard() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER seat_events_append_only ON seat_events")
        op.execute("DROP FUNCTION seat_events_append_only()")
        return
    op.execute("DROP TRIGGER seat_events_no_update")
    op.execute("DROP TRIGGER seat_events_no_delete")
