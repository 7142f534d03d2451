"""an index on an organization's directory users in member order

SCIM list pages (``startIndex``/``count`` and cursor pages) order an organization's users by
member id and count them for ``totalResults``; without this index both walked the primary
key across every organization's rows.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_directory_users_org_member", "directory_users", ["organization_id", "member_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_directory_users_org_member", table_name="directory_users")
