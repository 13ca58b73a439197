"""outcome drafts

The wrap-up form kept on the server as the agent fills it (``calls.outcome_draft`` and when
it was saved), stored as an incomplete outcome when wrap-up ends before the disposition is
saved (``calls.outcome_incomplete``); who ended a call that neither party hung up
(``calls.ended_by``); queues that keep an agent in wrap-up until the disposition is saved
(``routing_queues.disposition_required``); and two more ways a wait ends, by a supervisor
or by the system, which are no abandons (``routing_waits`` and ``routing_wait_estimates``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_core.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_WAIT_OUTCOMES = ("answered", "abandoned", "overflowed", "voicemail", "callback")
NEW_WAIT_OUTCOMES = (*OLD_WAIT_OUTCOMES, "supervisor", "system")
WAIT_TABLES = ("routing_waits", "routing_wait_estimates")


def _wait_outcomes(values: Sequence[str]) -> None:
    """Replace the CHECK of the wait outcome column (a non-native enum) on both tables."""
    allowed = ", ".join(f"'{v}'" for v in values)
    for table in WAIT_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"ck_{table}_waitoutcome"), type_="check")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_check_constraint(
                op.f(f"ck_{table}_waitoutcome"), f"outcome IN ({allowed})"
            )


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome_draft", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("outcome_draft_at", crm_core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("outcome_incomplete", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("ended_by", sa.String(length=16), nullable=True))
    with op.batch_alter_table("routing_queues", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "disposition_required", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
    _wait_outcomes(NEW_WAIT_OUTCOMES)


def downgrade() -> None:
    # Waits that ended the new ways were not abandoned either: they count as overflowed
    # (taken out of the queue by someone else than the caller).
    for table in WAIT_TABLES:
        op.execute(
            sa.text(
                f"UPDATE {table} SET outcome = 'overflowed' "
                "WHERE outcome IN ('supervisor', 'system')"
            )
        )
    _wait_outcomes(OLD_WAIT_OUTCOMES)
    with op.batch_alter_table("routing_queues", schema=None) as batch_op:
        batch_op.drop_column("disposition_required")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("ended_by")
        batch_op.drop_column("outcome_incomplete")
        batch_op.drop_column("outcome_draft_at")
        batch_op.drop_column("outcome_draft")
