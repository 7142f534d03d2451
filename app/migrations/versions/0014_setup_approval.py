"""setup-link submissions wait for an owner's approval; owner e-mail sign-in links

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS_BEFORE = (
    "'seats_low', 'seats_exhausted', 'seats_refused', 'seats_added', 'contract_renewed', "
    "'contract_ending', 'webhook_disabled', 'certificate_expiring'"
)
_KINDS_AFTER = _KINDS_BEFORE + ", 'sso_changed', 'sign_in_link'"


def upgrade() -> None:
    with op.batch_alter_table("setup_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revoked_by", sa.String(length=320), nullable=True))
    op.create_table(
        "sso_idp_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("setup_link_id", sa.Integer(), nullable=True),
        sa.Column("submitted_by", sa.String(length=320), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entity_id", sa.String(length=1024), nullable=False),
        sa.Column("sso_url", sa.String(length=2048), nullable=False),
        sa.Column("slo_url", sa.String(length=2048), nullable=True),
        sa.Column("certificates", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'superseded')",
            name=op.f("ck_sso_idp_submissions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sso_idp_submissions_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["setup_link_id"],
            ["setup_links.id"],
            name=op.f("fk_sso_idp_submissions_setup_link_id_setup_links"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_idp_submissions")),
    )
    op.create_index(
        "uq_sso_idp_submissions_one_pending",
        "sso_idp_submissions",
        ["organization_id"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    with op.batch_alter_table("sso_authn_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idp_submission_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_sso_authn_requests_idp_submission_id_sso_idp_submissions"),
            "sso_idp_submissions",
            ["idp_submission_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("scim_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("awaiting_approval", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("setup_link_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_scim_tokens_setup_link_id_setup_links"),
            "setup_links",
            ["setup_link_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "email_sign_in_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("address_key", sa.String(length=320), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("token_sha256", sa.String(length=64), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_email_sign_in_links_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_email_sign_in_links_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_sign_in_links")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_email_sign_in_links_token_sha256")),
    )
    op.create_index(
        "ix_email_sign_in_links_dispatched_at", "email_sign_in_links", ["dispatched_at"]
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_alerts_kind"), type_="check")
        batch_op.create_check_constraint("kind", f"kind IN ({_KINDS_AFTER})")


def downgrade() -> None:
    op.execute("DELETE FROM alerts WHERE kind IN ('sso_changed', 'sign_in_link')")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_alerts_kind"), type_="check")
        batch_op.create_check_constraint("kind", f"kind IN ({_KINDS_BEFORE})")
    op.drop_index("ix_email_sign_in_links_dispatched_at", table_name="email_sign_in_links")
    op.drop_table("email_sign_in_links")
    with op.batch_alter_table("scim_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("fk_scim_tokens_setup_link_id_setup_links"), type_="foreignkey"
        )
        batch_op.drop_column("setup_link_id")
        batch_op.drop_column("awaiting_approval")
    with op.batch_alter_table("sso_authn_requests", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("fk_sso_authn_requests_idp_submission_id_sso_idp_submissions"),
            type_="foreignkey",
        )
        batch_op.drop_column("idp_submission_id")
    op.drop_index("uq_sso_idp_submissions_one_pending", table_name="sso_idp_submissions")
    op.drop_table("sso_idp_submissions")
    with op.batch_alter_table("setup_links", schema=None) as batch_op:
        batch_op.drop_column("revoked_by")
        batch_op.drop_column("revoked_at")
