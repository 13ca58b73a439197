"""The router's records for supervisors: every offer explained (candidates, scores, the rule
that chose), every announced wait estimate with the wait that followed, how accurate the
estimates are, and every caller's wait in a queue with how it ended (the day's service
level is counted from these). routing/ drains its Redis streams into these tables with
``record_offers``, ``record_estimates`` and ``record_waits``; ``crm_core.acd`` re-exports
everything here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from crm_core.acd_schemas import (
    EstimateRow,
    OfferOutcome,
    OfferRow,
    QueueStrategy,
    WaitOutcome,
    valid_rows,
)
from crm_core.db import Base, UTCDateTime
from crm_core.errors import InvalidInput
from crm_core.models import enum_column


class OfferRecord(Base):
    """One offer of a caller to an agent, with why: the candidates and the rule that chose."""

    __tablename__ = "routing_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    queue_name: Mapped[str] = mapped_column(String(64))
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    entry_id: Mapped[str] = mapped_column(String(64))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    strategy: Mapped[QueueStrategy] = mapped_column(enum_column(QueueStrategy))
    rule: Mapped[str] = mapped_column(Text)
    # [{"agent_id": 7, "score": 412.0, "eligible_reason": "sales 8 >= 1"}, ...]
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    outcome: Mapped[OfferOutcome] = mapped_column(
        enum_column(OfferOutcome), default=OfferOutcome.OFFERED
    )
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_routing_offers_agent_offered", "agent_id", "offered_at"),
        Index("ix_routing_offers_entry", "entry_id"),
    )


class WaitEstimate(Base):
    """One announced estimated wait, and (once the wait ends) what it really was.

    ``estimate_seconds`` and ``asterisk_estimate_seconds`` predict the wait still to come
    after ``announced_at``; ``actual_wait_seconds`` is the caller's whole wait, so the wait
    that was still to come is ``actual_wait_seconds - waited_seconds``.
    """

    __tablename__ = "routing_wait_estimates"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    queue_name: Mapped[str] = mapped_column(String(64))
    announced_at: Mapped[datetime] = mapped_column(UTCDateTime)
    position: Mapped[int] = mapped_column(Integer)
    waited_seconds: Mapped[int] = mapped_column(Integer, default=0)
    estimate_seconds: Mapped[int] = mapped_column(Integer)
    asterisk_estimate_seconds: Mapped[int | None] = mapped_column(Integer)
    actual_wait_seconds: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[WaitOutcome | None] = mapped_column(enum_column(WaitOutcome))

    __table_args__ = (Index("ix_routing_wait_estimates_queue", "queue_name", "announced_at"),)


class WaitRecord(Base):
    """One caller's wait in one queue, from entering it to its end, and how it ended:
    ``answered`` (an agent took the call), ``abandoned`` (the caller hung up, on hold or
    while an agent's phone rang), ``overflowed`` (the router took the caller out: moved to
    another queue, to voicemail, a callback dropped) or ``callback`` (a place kept as a
    callback, ended when an agent took the callback). A caller moved or transferred to
    another queue starts a new wait there; a call handed from agent to agent does not (it
    was answered once).

    ``ended_ms`` is ``ended_at`` in milliseconds since the Unix epoch (UTC): the day's
    buckets are counted from it by integer arithmetic, exact and the same on SQLite and
    PostgreSQL (neither shares a way to take a timestamp apart).
    """

    __tablename__ = "routing_waits"

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_name: Mapped[str] = mapped_column(String(64))
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    entry_id: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_ms: Mapped[int] = mapped_column(BigInteger)
    waited_ms: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[WaitOutcome] = mapped_column(enum_column(WaitOutcome))

    __table_args__ = (
        Index("ix_routing_waits_ended", "ended_ms", "queue_name"),
        # A wait is its caller, its queue and the moment it entered: written once.
        Index("ux_routing_waits_wait", "entry_id", "queue_name", "entered_at", unique=True),
    )


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(at: datetime) -> int:
    """Milliseconds since the Unix epoch, rounded down (as ``WaitRecord.ended_ms``)."""
    return (at - EPOCH) // timedelta(milliseconds=1)


def record_offers(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert explained offers drained from the router's stream, in one statement."""
    values = valid_rows(OfferRow, rows)
    if values:
        session.execute(insert(OfferRecord), values)
    return len(values)


def set_offer_outcome(
    session: Session,
    entry_id: str,
    agent_id: int | None,
    outcome: OfferOutcome | str,
    at: datetime,
) -> int:
    """Settle the entry's open offer to ``agent_id`` (every open offer of the entry when
    None, e.g. the caller hung up during a ring-all). Only an open offer changes, so a late
    or repeated outcome is harmless. Returns how many offers were settled."""
    outcome = _enum(OfferOutcome, outcome, "outcome")
    if outcome is OfferOutcome.OFFERED:
        raise InvalidInput("an outcome cannot be offered again", field="outcome")
    query = update(OfferRecord).where(
        OfferRecord.entry_id == entry_id, OfferRecord.outcome == OfferOutcome.OFFERED
    )
    if agent_id is not None:
        query = query.where(OfferRecord.agent_id == agent_id)
    result = session.execute(query.values(outcome=outcome, outcome_at=at))
    return result.rowcount


def offers_for_call(session: Session, call_sid: str) -> list[OfferRecord]:
    query = select(OfferRecord).where(OfferRecord.call_sid == call_sid)
    return list(session.scalars(query.order_by(OfferRecord.offered_at, OfferRecord.id)))


def record_estimates(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert announced wait estimates drained from the router's stream."""
    values = valid_rows(EstimateRow, rows)
    if values:
        session.execute(insert(WaitEstimate), values)
    return len(values)


def set_actual_wait(
    session: Session, call_sid: str, actual_wait_seconds: int, outcome: WaitOutcome | str
) -> int:
    """The caller's wait ended after ``actual_wait_seconds`` in queue (answered, or left):
    recorded on every estimate announced to them that has none yet. Returns how many."""
    outcome = _enum(WaitOutcome, outcome, "outcome")
    if isinstance(actual_wait_seconds, bool) or not isinstance(actual_wait_seconds, int):
        raise InvalidInput("actual_wait_seconds must be whole seconds", field="actual_wait_seconds")
    if actual_wait_seconds < 0:
        raise InvalidInput("actual_wait_seconds cannot be negative", field="actual_wait_seconds")
    result = session.execute(
        update(WaitEstimate)
        .where(WaitEstimate.call_sid == call_sid, WaitEstimate.actual_wait_seconds.is_(None))
        .values(actual_wait_seconds=actual_wait_seconds, outcome=outcome)
    )
    return result.rowcount


def record_waits(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert ended waits drained from the router's stream: each ``{queue_name, call_sid,
    entry_id, ended_at, waited_ms, outcome}``. Each wait is written once: a record read twice
    (written, but not acknowledged before a crash) or a wait that ends twice (a callback
    taken again after the customer did not answer) adds nothing. Returns how many rows."""
    fresh: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    for row in rows:
        waited, ended = row.get("waited_ms"), row.get("ended_at")
        if isinstance(waited, bool) or not isinstance(waited, int) or waited < 0:
            raise InvalidInput("waited_ms must be whole milliseconds >= 0", field="waited_ms")
        if not isinstance(ended, datetime) or ended.tzinfo is None:
            raise InvalidInput("ended_at must be an aware datetime", field="ended_at")
        entered = ended - timedelta(milliseconds=waited)
        value = {
            "queue_name": str(row["queue_name"])[:64],
            "call_sid": str(row.get("call_sid") or row["entry_id"])[:64],
            "entry_id": str(row["entry_id"])[:64],
            "entered_at": entered,
            "ended_at": ended,
            "ended_ms": epoch_ms(ended),
            "waited_ms": waited,
            "outcome": _enum(WaitOutcome, row.get("outcome"), "outcome"),
        }
        fresh.setdefault((value["entry_id"], value["queue_name"], entered.astimezone(UTC)), value)
    if not fresh:
        return 0
    known = session.execute(
        select(WaitRecord.entry_id, WaitRecord.queue_name, WaitRecord.entered_at).where(
            WaitRecord.entry_id.in_({k[0] for k in fresh})
        )
    )
    for entry_id, queue_name, entered in known:
        fresh.pop((entry_id, queue_name, entered.astimezone(UTC)), None)
    if fresh:
        session.execute(insert(WaitRecord), list(fresh.values()))
    return len(fresh)


def estimate_accuracy(
    session: Session, queue_name: str | None = None, since: datetime | None = None
) -> dict[str, Any]:
    """Mean absolute error of the announced estimates, ours and Asterisk's, against the
    wait that was really still to come. Only answered callers count: a caller who hung up
    tells us a lower bound, not the wait they would have had."""
    remaining = WaitEstimate.actual_wait_seconds - WaitEstimate.waited_seconds
    query = select(
        func.count(WaitEstimate.id),
        func.avg(func.abs(WaitEstimate.estimate_seconds - remaining)),
        func.avg(func.abs(WaitEstimate.asterisk_estimate_seconds - remaining)),
    ).where(
        WaitEstimate.outcome == WaitOutcome.ANSWERED,
        WaitEstimate.actual_wait_seconds.is_not(None),
    )
    if queue_name is not None:
        query = query.where(WaitEstimate.queue_name == queue_name)
    if since is not None:
        query = query.where(WaitEstimate.announced_at >= since)
    count, ours, asterisk = session.execute(query).one()
    return {
        "count": count,
        "mean_absolute_error_seconds": None if ours is None else round(float(ours), 3),
        "mean_absolute_error_asterisk_seconds": (
            None if asterisk is None else round(float(asterisk), 3)
        ),
    }


def _enum(enum: type, value: Any, name: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(e.value for e in enum)
        raise InvalidInput(f"{name} must be one of {choices}", field=name) from None
