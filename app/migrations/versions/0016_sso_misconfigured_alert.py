"""owners are alerted when their saved IdP settings are unusable

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS_BEFORE = (
    "'seats_low', 'seats_exhausted', 'seats_refused', 'seats_added', 'contract_renewed', "
    "'contract_ending', 'webhook_disabled', 'certificate_expiring', 'sso_changed', "
    "'sign_in_link'"
)
_KINDS_AFTER = _KINDS_BEFORE + ", 'sso_misconfigured'"


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_alerts_kind"), type_="check")
        batch_op.create_check_constraint("kind", f"kind IN ({_KINDS_AFTER})")


def downgrade() -> None:
    op.execute("DELETE FROM alerts WHERE kind = 'sso_misconfigured'")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_alerts_kind"), type_="check")
        batch_op.create_check_constraint("kind", f"kind IN ({_KINDS_BEFORE})")
