"""The recording package's tables: every call recording we hold, and the QA scores given
to them.

A ``Recording`` row exists from the carrier's first recording callback on (status
``pending``): the download job fills in where the file is, its size and its SHA-256
(``stored``), or says why it could not (``failed``, for a person to see). Retention and
privacy erasure delete the file and keep the row as ``deleted`` (who, when, why), so the
Call's history still shows there was a recording. ``legal_hold`` keeps a recording past its
retention date. The carrier's media URL is never stored: the job asks the Carrier for the
media by RecordingSid, with the account's credentials.

Consent is on the Call (``crm_core.models.Call.recording_consent``): what the caller was
told or agreed to, decided before the recording starts.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.db import Base, UTCDateTime
from crm_core.models import SHORT_LEN, enum_column


class RecordingStatus(StrEnum):
    PENDING = "pending"  # announced by the carrier; the download job has not stored it yet
    STORED = "stored"  # the file is in our storage, checked
    FAILED = "failed"  # the download kept failing: a person has to look (error says why)
    ABSENT = "absent"  # the carrier had nothing to record (silence, or hung up at once)
    DELETED = "deleted"  # retention or erasure removed the file; the row stays as history


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_sid: Mapped[str] = mapped_column(String(64), unique=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)  # the caller's leg
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str | None] = mapped_column(String(SHORT_LEN))  # StartCallRecordingAPI, …
    status: Mapped[RecordingStatus] = mapped_column(
        enum_column(RecordingStatus), default=RecordingStatus.PENDING
    )
    channels: Mapped[int] = mapped_column(Integer, default=1)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The callbacks seen, by SequenceNumber/status, so duplicates and late ones change nothing.
    callback_status: Mapped[str | None] = mapped_column(String(32))
    # Where the file is: a key of the storage backend (recording/storage.py), never a URL.
    storage_key: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    deleted_at_carrier: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_reason: Mapped[str | None] = mapped_column(String(SHORT_LEN))  # retention, erasure

    __table_args__ = (Index("ix_recordings_retention", "status", "created_at"),)


class QaScore(Base):
    """A supervisor's score of one recording against a scorecard of the script library:
    each criterion's points, the weighted total in percent, and comments."""

    __tablename__ = "qa_scores"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    scorecard: Mapped[str] = mapped_column(String(SHORT_LEN))  # the library script's name
    scorecard_version: Mapped[str | None] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # criterion → points
    total: Mapped[float] = mapped_column(Float)  # weighted, 0 to 100
    comments: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
