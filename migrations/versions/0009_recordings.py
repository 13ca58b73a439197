"""recordings

Call recordings (recording/): one row per recording from its first callback on, with where
the stored file is, its size and SHA-256, and its retention state; QA scores against a
scorecard; and on the Call, the recording consent decided before recording started.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 03:14:26.926697
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_core.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recording_sid", sa.String(length=64), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=120), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "stored",
                "failed",
                "absent",
                "deleted",
                name="recordingstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("started_at", crm_core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("callback_status", sa.String(length=32), nullable=True),
        sa.Column("storage_key", sa.String(length=255), nullable=True),
        sa.Column("content_type", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("deleted_at_carrier", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stored_at", crm_core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", crm_core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_reason", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_recordings_call_id_calls"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("recording_sid", name=op.f("uq_recordings_recording_sid")),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recordings_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_call_sid"), ["call_sid"], unique=False)
        batch_op.create_index("ix_recordings_retention", ["status", "created_at"], unique=False)

    op.create_table(
        "qa_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("scorecard", sa.String(length=120), nullable=False),
        sa.Column("scorecard_version", sa.String(length=64), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("comments", sa.Text(), nullable=True),
        sa.Column("created_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["users.id"],
            name=op.f("fk_qa_scores_agent_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_qa_scores_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["users.id"],
            name=op.f("fk_qa_scores_reviewer_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_scores")),
    )
    with op.batch_alter_table("qa_scores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qa_scores_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_qa_scores_recording_id"), ["recording_id"], unique=False
        )

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "recording_consent",
                sa.Enum(
                    "notified",
                    "granted",
                    "declined",
                    "not_recorded",
                    name="recordingconsent",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("recording_consent_rule", sa.String(length=120), nullable=True)
        )
    with op.batch_alter_table("routing_queues", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "recording_consent",
                sa.String(length=16),
                server_default="notice",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("routing_queues", schema=None) as batch_op:
        batch_op.drop_column("recording_consent")
    # The enum's CHECK names the column: it goes first, or SQLite's table copy keeps it.
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_calls_recordingconsent"), type_="check")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("recording_consent_rule")
        batch_op.drop_column("recording_consent")

    with op.batch_alter_table("qa_scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qa_scores_recording_id"))
        batch_op.drop_index(batch_op.f("ix_qa_scores_agent_id"))

    op.drop_table("qa_scores")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_recordings_retention")
        batch_op.drop_index(batch_op.f("ix_recordings_call_sid"))
        batch_op.drop_index(batch_op.f("ix_recordings_call_id"))

    op.drop_table("recordings")
