"""What the telephony edge keeps in SQL besides the CRM's Call rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.db import Base, UTCDateTime


class TelephonyError(Base):
    """A webhook that failed in the app, or a failure Twilio reported to the fallback URL.

    The caller was given safe TwiML either way; this row is where a person sees what broke.
    """

    __tablename__ = "telephony_errors"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    source: Mapped[str] = mapped_column(String(16))  # "app" or "twilio" (fallback URL)
    url: Mapped[str | None] = mapped_column(String(1024))
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    error_code: Mapped[str | None] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TextMessage(Base):
    """One incoming text, as delivered (once per MessageSid). The words themselves are on the
    customer's timeline and task, where the privacy export and erasure already reach."""

    __tablename__ = "text_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    from_number: Mapped[str | None] = mapped_column(String(64))
    to_number: Mapped[str | None] = mapped_column(String(64))
    keyword: Mapped[str | None] = mapped_column(String(16))  # "stop", "start", "help"
    num_media: Mapped[int] = mapped_column(Integer, default=0)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
