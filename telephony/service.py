"""What the voice webhooks do to the database: the Call row, status, voicemail, errors."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_core.calls import log_call
from crm_core.clock import Clock
from crm_core.customers import match_or_create_from_caller_id
from crm_core.models import (
    ActivityKind,
    Call,
    CallDirection,
    CallStatus,
    Customer,
    Task,
    TaskKind,
)
from crm_core.timeline import add_activity
from telephony.events import CallEvent
from telephony.models import TelephonyError

# How far along a call is; a status only ever replaces one of a lower rank (or the same
# rank from a later SequenceNumber), so late and repeated callbacks change nothing.
RANK = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 0,
    CallStatus.RINGING: 1,
    CallStatus.IN_PROGRESS: 2,
    CallStatus.COMPLETED: 3,
    CallStatus.BUSY: 3,
    CallStatus.FAILED: 3,
    CallStatus.NO_ANSWER: 3,
    CallStatus.CANCELED: 3,
}
TERMINAL = {s for s, rank in RANK.items() if rank == 3}


class MissingCallSid(ValueError):
    """The webhook carried no CallSid: nothing to attach it to."""


def _locked_call(session: Session, event: CallEvent, clock: Clock) -> Call:
    """The Call row for the event, locked for this transaction; created on first sight."""
    if not event.call_sid:
        raise MissingCallSid("no CallSid")
    query = select(Call).where(Call.call_sid == event.call_sid[:64]).with_for_update()
    call = session.scalars(query).one_or_none()
    if call is not None:
        return call
    try:
        with session.begin_nested():
            call = log_call(
                session,
                call_sid=event.call_sid[:64],
                direction=event.direction or CallDirection.INBOUND,
                from_number=(event.from_e164 or event.from_ or "")[:64] or None,
                to_number=(event.to_e164 or event.to or "")[:64] or None,
                clock=clock,
                status=CallStatus.QUEUED,
                parent_call_sid=(event.parent_call_sid or "")[:64] or None,
            )
    except IntegrityError:  # another webhook for the same call created it first
        call = session.scalars(query).one()
    return call


def inbound_call(session: Session, event: CallEvent, clock: Clock, *, region: str = "US"):
    """The Call row of a new inbound call and the customer behind the caller ID, if any."""
    call = _locked_call(session, event, clock)
    customer: Customer | None = None
    if call.customer_id is not None:
        customer = session.get(Customer, call.customer_id)
    elif event.from_e164:
        customer, _ = match_or_create_from_caller_id(
            session, event.from_e164, clock, region=region, name=event.caller_name
        )
        call.customer_id = customer.id
    apply_status(session, event, clock, call=call)
    return call, customer


def apply_status(
    session: Session, event: CallEvent, clock: Clock, *, call: Call | None = None
) -> Call:
    """Fold one status callback into the Call row, in any order and any number of times.

    Every field is set by a rule that gives the same result whatever order the callbacks
    arrive in: the status of the furthest (rank, SequenceNumber); the earliest answer time;
    the end time and duration from the terminal callback.
    """
    call = call or _locked_call(session, event, clock)
    status = event.status
    if status is None:
        return call
    at = event.timestamp or clock.now()
    seq = event.sequence_number if event.sequence_number is not None else -1
    current = (RANK[call.status], call.status_sequence if call.status_sequence is not None else -1)
    if (RANK[status], seq) > current:
        call.status = status
        call.status_sequence = event.sequence_number
    if status is CallStatus.IN_PROGRESS:
        call.answered_at = min(filter(None, (call.answered_at, at)))
    if status in TERMINAL:
        call.ended_at = max(filter(None, (call.ended_at, at)))
        if event.call_duration is not None and event.call_duration >= 0:
            call.duration_seconds = event.call_duration
            if status is CallStatus.COMPLETED and call.answered_at is None:
                # Twilio may skip the in-progress callback (not subscribed); the duration
                # from the completed one still tells when the call was answered.
                call.answered_at = at - timedelta(seconds=event.call_duration)
    if event.parent_call_sid and not call.parent_call_sid:
        call.parent_call_sid = event.parent_call_sid[:64]
    return call


def take_voicemail(
    session: Session, event: CallEvent, clock: Clock, *, pool: str | None = None
) -> Task | None:
    """A recorded voicemail becomes an open callback-style task on the caller's customer."""
    if not event.recording_url or not event.recording_duration:
        return None
    call = _locked_call(session, event, clock)
    existing = session.scalars(
        select(Task).where(Task.call_id == call.id, Task.kind == TaskKind.VOICEMAIL)
    ).first()
    if existing is not None:  # the action URL was requested twice
        return existing
    now = clock.now()
    task = Task(
        kind=TaskKind.VOICEMAIL,
        customer_id=call.customer_id,
        lead_id=call.lead_id,
        call_id=call.id,
        phone=call.from_number if call.from_number and call.from_number.startswith("+") else None,
        title=f"Voicemail ({event.recording_duration} s) from {call.from_number or 'unknown'}",
        notes=event.transcription_text,
        due_at=now,
        pool=pool,
        priority=60,
        created_at=now,
    )
    session.add(task)
    session.flush()
    if call.customer_id is not None:
        add_activity(
            session,
            customer_id=call.customer_id,
            kind=ActivityKind.CALL,
            summary=f"Left a voicemail ({event.recording_duration} s)",
            at=now,
            data={
                "call_sid": call.call_sid,
                "recording_sid": event.recording_sid,
                "recording_url": event.recording_url,
                "task_id": task.id,
            },
        )
    return task


def record_error(
    session: Session,
    clock: Clock,
    *,
    source: str,
    message: str,
    url: str | None = None,
    call_sid: str | None = None,
    error_code: str | None = None,
    params: dict[str, Any] | None = None,
) -> TelephonyError:
    error = TelephonyError(
        occurred_at=clock.now(),
        source=source,
        url=(url or "")[:1024] or None,
        call_sid=(call_sid or "")[:64] or None,
        error_code=(error_code or "")[:16] or None,
        message=message[:4000],
        params={k[:64]: str(v)[:256] for k, v in list((params or {}).items())[:60]},
    )
    session.add(error)
    return error


def recent_errors(session: Session, *, limit: int = 50, since: datetime | None = None):
    query = select(TelephonyError).order_by(TelephonyError.occurred_at.desc())
    if since is not None:
        query = query.where(TelephonyError.occurred_at >= since)
    return list(session.scalars(query.limit(limit)))
