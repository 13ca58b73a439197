"""call language and sensitive flag

The IVR records the language the caller chose (for the screen pop and reports) and whether
the caller took a path the auto-attendant marks sensitive (payments), where recording
pauses while card or bank details are given.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("sensitive", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("sensitive")
        batch_op.drop_column("language")
