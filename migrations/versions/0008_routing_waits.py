"""routing waits

Every caller's wait in a queue, from entering it to how it ended (answered, abandoned,
overflowed, called back), written by the ticker: the day's service level is counted from
it. Waits that ended before this migration are not in it (nothing recorded them whole).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 02:58:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_core.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "routing_waits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_name", sa.String(length=64), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("entered_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_ms", sa.BigInteger(), nullable=False),
        sa.Column("waited_ms", sa.BigInteger(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "answered",
                "abandoned",
                "overflowed",
                "voicemail",
                "callback",
                name="waitoutcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_waits")),
    )
    with op.batch_alter_table("routing_waits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routing_waits_call_sid"), ["call_sid"], unique=False)
        batch_op.create_index("ix_routing_waits_ended", ["ended_ms", "queue_name"], unique=False)
        batch_op.create_index(
            "ux_routing_waits_wait", ["entry_id", "queue_name", "entered_at"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("routing_waits", schema=None) as batch_op:
        batch_op.drop_index("ux_routing_waits_wait")
        batch_op.drop_index("ix_routing_waits_ended")
        batch_op.drop_index(batch_op.f("ix_routing_waits_call_sid"))

    op.drop_table("routing_waits")
