"""sso: identity providers, AuthnRequest ids, assertion replay cache, sessions, token keys

Revision ID: 0003
Revises: 0004
Create Date: 2026-11-26

``sso_seen_assertions`` has a unique (organization, assertion id) constraint: the replay check
holds across every app instance sharing the database.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sso_token_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_sso_token_keys")),
    )
    op.create_table(
        "sso_authn_requests",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("next_url", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sso_authn_requests_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_authn_requests")),
    )
    with op.batch_alter_table("sso_authn_requests", schema=None) as batch_op:
        batch_op.create_index("ix_sso_authn_requests_expires_at", ["expires_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sso_authn_requests_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "sso_identity_providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.String(length=1024), nullable=False),
        sa.Column("sso_url", sa.String(length=2048), nullable=False),
        sa.Column("slo_url", sa.String(length=2048), nullable=True),
        sa.Column("certificates", sa.JSON(), nullable=False),
        sa.Column("allow_idp_initiated", sa.Boolean(), nullable=False),
        sa.Column("jit_provisioning", sa.Boolean(), nullable=False),
        sa.Column("sign_authn_requests", sa.Boolean(), nullable=False),
        sa.Column("required_signature", sa.String(length=16), nullable=False),
        sa.Column("attribute_map", sa.JSON(), nullable=False),
        sa.Column("allowed_redirects", sa.JSON(), nullable=False),
        sa.Column("sp_certificate", sa.Text(), nullable=False),
        sa.Column("sp_private_key", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "required_signature IN ('assertion', 'response', 'both')",
            name=op.f("ck_sso_identity_providers_required_signature"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sso_identity_providers_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_identity_providers")),
        sa.UniqueConstraint(
            "organization_id", name=op.f("uq_sso_identity_providers_organization_id")
        ),
    )
    op.create_table(
        "sso_seen_assertions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("assertion_id", sa.String(length=256), nullable=False),
        sa.Column("not_on_or_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sso_seen_assertions_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_seen_assertions")),
        sa.UniqueConstraint(
            "organization_id", "assertion_id", name="uq_sso_seen_assertions_org_assertion"
        ),
    )
    with op.batch_alter_table("sso_seen_assertions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sso_seen_assertions_not_on_or_after", ["not_on_or_after"], unique=False
        )

    op.create_table(
        "sso_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("name_id", sa.String(length=512), nullable=False),
        sa.Column("session_index", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_sso_sessions_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sso_sessions_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_sessions")),
    )
    with op.batch_alter_table("sso_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sso_sessions_member_id"), ["member_id"], unique=False)
        batch_op.create_index("ix_sso_sessions_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sso_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sso_sessions_expires_at")
        batch_op.drop_index(batch_op.f("ix_sso_sessions_member_id"))

    op.drop_table("sso_sessions")
    with op.batch_alter_table("sso_seen_assertions", schema=None) as batch_op:
        batch_op.drop_index("ix_sso_seen_assertions_not_on_or_after")

    op.drop_table("sso_seen_assertions")
    op.drop_table("sso_identity_providers")
    with op.batch_alter_table("sso_authn_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_authn_requests_organization_id"))
        batch_op.drop_index("ix_sso_authn_requests_expires_at")

    op.drop_table("sso_authn_requests")
    op.drop_table("sso_token_keys")
