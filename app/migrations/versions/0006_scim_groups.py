"""SCIM groups and roles from identity-provider groups

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

``directory_groups`` holds the groups identity providers push, ``directory_group_members``
their members (directory users; removing a user from the directory removes its
memberships), and ``group_role_mappings`` the owners' group-name → role rules.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "directory_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("display_name_key", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_directory_groups_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_groups")),
        sa.UniqueConstraint(
            "organization_id",
            "display_name_key",
            name="uq_directory_groups_org_display_name_key",
        ),
        sa.UniqueConstraint("resource_id", name=op.f("uq_directory_groups_resource_id")),
    )
    op.create_table(
        "directory_group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["directory_groups.id"],
            name=op.f("fk_directory_group_members_group_id_directory_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["directory_users.member_id"],
            name=op.f("fk_directory_group_members_member_id_directory_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "member_id", name=op.f("pk_directory_group_members")),
    )
    with op.batch_alter_table("directory_group_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_directory_group_members_member_id"), ["member_id"], unique=False
        )
    op.create_table(
        "group_role_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("group_name", sa.String(length=255), nullable=False),
        sa.Column("group_name_key", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('owner', 'admin')", name=op.f("ck_group_role_mappings_role")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_group_role_mappings_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_role_mappings")),
        sa.UniqueConstraint(
            "organization_id",
            "group_name_key",
            name="uq_group_role_mappings_org_group_name_key",
        ),
    )


def downgrade() -> None:
    op.drop_table("group_role_mappings")
    with op.batch_alter_table("directory_group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_group_members_member_id"))
    op.drop_table("directory_group_members")
    op.drop_table("directory_groups")
