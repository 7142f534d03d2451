"""self-serve setup links, connection logs, verified domains, certificate alerts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS_BEFORE = (
    "'seats_low', 'seats_exhausted', 'seats_refused', 'seats_added', 'contract_renewed', "
    "'contract_ending', 'webhook_disabled'"
)
_KINDS_AFTER = _KINDS_BEFORE + ", 'certificate_expiring'"


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_organization_id_organizations"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "setup_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        _org_fk("setup_links"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_setup_links")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_setup_links_token_sha256")),
    )
    op.create_table(
        "sign_in_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("error_id", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=320), nullable=True),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        _org_fk("sign_in_logs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_logs")),
    )
    op.create_table(
        "scim_request_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("scim_type", sa.String(length=32), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=True),
        _org_fk("scim_request_logs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_request_logs")),
    )
    for table in ("sign_in_logs", "scim_request_logs"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f"ix_{table}_org_id_id", ["organization_id", "id"])
            batch_op.create_index(f"ix_{table}_created_at", ["created_at"])
    op.create_table(
        "organization_domains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _org_fk("organization_domains"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_domains")),
        sa.UniqueConstraint("organization_id", "domain", name="uq_organization_domains_org_domain"),
    )
    op.create_table(
        "waiting_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_normalized", sa.String(length=320), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_refused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_refused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provisioned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("source IN ('scim', 'sso')", name=op.f("ck_waiting_list_source")),
        _org_fk("waiting_list"),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_waiting_list_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waiting_list")),
        sa.UniqueConstraint(
            "organization_id", "email_normalized", name="uq_waiting_list_org_email"
        ),
    )
    op.create_table(
        "waiting_list_policies",
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("auto_provision", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _org_fk("waiting_list_policies"),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_waiting_list_policies")),
    )
    with op.batch_alter_table("sso_authn_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("test_mode", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_alerts_kind"), type_="check")
        batch_op.create_check_constraint("kind", f"kind IN ({_KINDS_AFTER})")


def downgrade() -> None:
    op.execute("DELETE FROM alerts WHERE kind = 'certificate_expiring'")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_alerts_kind"), type_="check")
        batch_op.create_check_constraint("kind", f"kind IN ({_KINDS_BEFORE})")
    with op.batch_alter_table("sso_authn_requests", schema=None) as batch_op:
        batch_op.drop_column("test_mode")
    op.drop_table("waiting_list_policies")
    op.drop_table("waiting_list")
    op.drop_table("organization_domains")
    op.drop_table("scim_request_logs")
    op.drop_table("sign_in_logs")
    op.drop_table("setup_links")
