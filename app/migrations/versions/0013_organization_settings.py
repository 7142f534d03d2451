"""organizations get a locale and billing details; contracts a price for the next term

``locale`` (a Babel locale identifier, ``en`` by default) is the language of the
organization's pages and messages; the billing details (legal name, address, tax id) are what
invoices name the customer by; ``next_term_price_minor`` is the per-seat price the contract
renews at (applied by the renewal, then cleared), so a price change never touches the current
term's invoices.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch_op:
        batch_op.add_column(
            sa.Column("locale", sa.String(length=35), server_default="en", nullable=False)
        )
        batch_op.add_column(sa.Column("billing_legal_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("billing_address", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("billing_tax_id", sa.String(length=64), nullable=True))
    with op.batch_alter_table("contracts") as batch_op:
        batch_op.add_column(sa.Column("next_term_price_minor", sa.BigInteger(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_contracts_next_term_price_not_negative"), "next_term_price_minor >= 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("contracts") as batch_op:
        batch_op.drop_constraint(op.f("ck_contracts_next_term_price_not_negative"), type_="check")
        batch_op.drop_column("next_term_price_minor")
    with op.batch_alter_table("organizations") as batch_op:
        batch_op.drop_column("billing_tax_id")
        batch_op.drop_column("billing_address")
        batch_op.drop_column("billing_legal_name")
        batch_op.drop_column("locale")
