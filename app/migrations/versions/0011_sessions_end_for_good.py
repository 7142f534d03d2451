"""a session records when and why it ended; the database ends it when its member changes

``sso_sessions.revoked_at`` becomes ``ended_at``, beside a new ``end_reason``. Triggers end a
member's open sessions in the very transaction that deactivates the member
(``deactivated``), changes their role (``role_changed``) or frees their seat
(``seat_released``), whatever code path does it (SCIM, the CLI, group role mappings, the
ledger), so no path can forget to and reactivation finds nothing to revive (I9).

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

END_REASONS = ("signed_out", "idp_logout", "deactivated", "seat_released", "role_changed")
# The SQLite triggers' body. SQLite has no clock type: the time is written as UTC text in
# the form the ORM writes and reads.
_SQLITE_ENDING = (
    "BEGIN UPDATE sso_sessions SET ended_at = strftime('%Y-%m-%d %H:%M:%f000', 'now'), "
    "end_reason = '{reason}' WHERE member_id = {member_id} AND ended_at IS NULL; END"
)


def upgrade() -> None:
    with op.batch_alter_table("sso_sessions") as batch_op:
        batch_op.alter_column("revoked_at", new_column_name="ended_at")
        batch_op.add_column(sa.Column("end_reason", sa.String(length=16), nullable=True))
    op.execute("UPDATE sso_sessions SET end_reason = 'signed_out' WHERE ended_at IS NOT NULL")
    listed = ", ".join(f"'{reason}'" for reason in END_REASONS)
    with op.batch_alter_table("sso_sessions") as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_sso_sessions_end_reason"), f"end_reason IN ({listed})"
        )
        batch_op.create_check_constraint(
            op.f("ck_sso_sessions_ended_with_reason"), "(ended_at IS NULL) = (end_reason IS NULL)"
        )
    if op.get_bind().dialect.name == "postgresql":
        _create_postgresql_triggers()
    else:
        _create_sqlite_triggers()


def _create_postgresql_triggers() -> None:
    op.execute(
        """
        CREATE FUNCTION end_sessions_of_member() RETURNS trigger AS $$
        BEGIN
            UPDATE sso_sessions SET ended_at = now(), end_reason = TG_ARGV[0]
            WHERE member_id = NEW.id AND ended_at IS NULL;
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        """
        CREATE FUNCTION end_sessions_of_seat_holder() RETURNS trigger AS $$
        BEGIN
            UPDATE sso_sessions SET ended_at = now(), end_reason = 'seat_released'
            WHERE member_id = OLD.member_id AND ended_at IS NULL;
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER members_end_sessions_on_deactivation AFTER UPDATE OF active ON members "
        "FOR EACH ROW WHEN (OLD.active AND NOT NEW.active) "
        "EXECUTE FUNCTION end_sessions_of_member('deactivated')"
    )
    op.execute(
        "CREATE TRIGGER members_end_sessions_on_role_change AFTER UPDATE OF role ON members "
        "FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role) "
        "EXECUTE FUNCTION end_sessions_of_member('role_changed')"
    )
    op.execute(
        "CREATE TRIGGER seat_assignments_end_sessions_on_release AFTER DELETE "
        "ON seat_assignments FOR EACH ROW EXECUTE FUNCTION end_sessions_of_seat_holder()"
    )


def _create_sqlite_triggers() -> None:
    def ending(reason: str, member_id: str) -> str:
        return _SQLITE_ENDING.format(reason=reason, member_id=member_id)

    op.execute(
        "CREATE TRIGGER members_end_sessions_on_deactivation AFTER UPDATE OF active ON members "
        f"WHEN OLD.active AND NOT NEW.active {ending('deactivated', 'NEW.id')}"
    )
    op.execute(
        "CREATE TRIGGER members_end_sessions_on_role_change AFTER UPDATE OF role ON members "
        f"WHEN OLD.role IS NOT NEW.role {ending('role_changed', 'NEW.id')}"
    )
    op.execute(
        "CREATE TRIGGER seat_assignments_end_sessions_on_release AFTER DELETE "
        f"ON seat_assignments {ending('seat_released', 'OLD.member_id')}"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER seat_assignments_end_sessions_on_release" + _on("seat_assignments"))
    op.execute("DROP TRIGGER members_end_sessions_on_role_change" + _on("members"))
    op.execute("DROP TRIGGER members_end_sessions_on_deactivation" + _on("members"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION end_sessions_of_seat_holder()")
        op.execute("DROP FUNCTION end_sessions_of_member()")
    with op.batch_alter_table("sso_sessions") as batch_op:
        batch_op.drop_constraint(op.f("ck_sso_sessions_ended_with_reason"), type_="check")
        batch_op.drop_constraint(op.f("ck_sso_sessions_end_reason"), type_="check")
        batch_op.drop_column("end_reason")
        batch_op.alter_column("ended_at", new_column_name="revoked_at")


def _on(table: str) -> str:
    """PostgreSQL names a trigger's table when dropping it; SQLite does not accept it."""
    return f" ON {table}" if op.get_bind().dialect.name == "postgresql" else ""
