"""The audit log: who did what to whom, for every supervisor action on live calls and
agents (monitoring a call, forcing an agent's state, moving a caller) and every change an
operator makes to users from the command line. For live actions the entry is written in a
transaction of its own: the action itself lives in Redis or at the carrier, so the entry
records that it was asked for and what came of it. Changes to users are written in the same
transaction as the change.

The actor is a user (``actor_id``) or, when nobody logged in acted, a named origin
(``actor="cli"`` for the ``callcenter`` command), kept in the entry's detail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from crm_core.clock import Clock
from crm_core.db import Base, UTCDateTime

CLI = "cli"  # the actor of what an operator does with the ``callcenter`` command


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))  # "call.monitor", "agent.presence", ...
    target: Mapped[str] = mapped_column(String(128))  # "call:CA…", "agent:12"
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_target", "target"))


def audit(
    session: Session,
    clock: Clock,
    *,
    actor_id: int | None,
    action: str,
    target: str,
    actor: str | None = None,
    **detail: Any,
) -> AuditEntry:
    """Record ``action`` on ``target``; ``actor`` names who acted when it was not a user
    (``CLI``). Details that are None are left out."""
    if actor is not None:
        detail["actor"] = actor
    entry = AuditEntry(
        at=clock.now(),
        actor_id=actor_id,
        action=action[:64],
        target=target[:128],
        detail={k: v for k, v in detail.items() if v is not None},
    )
    session.add(entry)
    session.flush()
    return entry


def recent(session: Session, *, limit: int = 100, target: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if target:
        query = query.where(AuditEntry.target == target[:128])
    return list(session.scalars(query.limit(max(1, min(limit, 500)))))
