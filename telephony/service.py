"""What the voice webhooks do to the database: the Call row, status, voicemail, errors."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from crm_core.calls import insert_call_if_new
from crm_core.clock import Clock
from crm_core.customers import create_from_caller_id, name_by_phone
from crm_core.models import (
    ActivityKind,
    Call,
    CallDirection,
    CallStatus,
    Customer,
    Task,
    TaskKind,
)
from crm_core.tasks import open_task, task_of_call
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


class CallAlreadyEnded(Exception):
    """A request to start a call (the number's or the TwiML App's Voice URL) for a CallSid
    whose Call row is over: a terminal status or an end time. Twilio never reuses a CallSid,
    so this is a replay or a carrier that does (a simulator started again); the old row is
    left alone and the request is answered with a hang-up (``telephony.webhooks``)."""

    def __init__(self, call_sid: str) -> None:
        super().__init__(f"call {call_sid} has already ended")
        self.call_sid = call_sid


def has_ended(state: dict[str, Any]) -> bool:
    """Whether a Call row's state (``status``, ``ended_at``) is that of a finished call."""
    return state.get("status") in TERMINAL or state.get("ended_at") is not None


class InboundCall(NamedTuple):
    """What the voice webhook needs to answer: the call, and who is calling (if known)."""

    call_id: int
    customer_id: int | None
    first_name: str | None
    language: str | None = None  # the row's, as an earlier request for the call left it


# The hot path (every voice webhook and status callback) reads and writes the Call row
# through Core: the columns the status rules need, one narrow SELECT, locked for the
# transaction (FOR UPDATE OF calls on PostgreSQL; SQLite's writers hold the database lock
# from BEGIN IMMEDIATE), and an UPDATE of only what changed, or none at all. The voice
# webhook reads its row first without a lock (``STATE``, ``repeat_changes``) and comes here
# only when it has something to write that its one INSERT (``start_call``) cannot.
_calls = Call.__table__
_customers = Customer.__table__
_STATE = (
    _calls.c.id,
    _calls.c.status,
    _calls.c.status_sequence,
    _calls.c.answered_at,
    _calls.c.ended_at,
    _calls.c.duration_seconds,
    _calls.c.parent_call_sid,
    _calls.c.customer_id,
)
# The columns a voice request reads of its Call row (``repeat_changes``), for a statement
# that reads them with more (the IVR reads who is calling in the same SELECT).
STATE = (*_STATE, _calls.c.language, _calls.c.script_name, _calls.c.script_version)
_CALL_STATE = (
    select(*_STATE).where(_calls.c.call_sid == bindparam("call_sid")).with_for_update(of=_calls)
)
_CALL_AND_CALLER = (
    select(*STATE, _customers.c.first_name)
    .outerjoin(_customers, _customers.c.id == _calls.c.customer_id)
    .where(_calls.c.call_sid == bindparam("call_sid"))
    .with_for_update(of=_calls)
)
_ENDED_STATE = select(_calls.c.status, _calls.c.ended_at).where(
    _calls.c.call_sid == bindparam("call_sid")
)
_UPDATE_CALL = update(_calls).where(_calls.c.id == bindparam("_call_id"))


def _new_call(
    db: Connection | Session,
    event: CallEvent,
    clock: Clock,
    status: CallStatus = CallStatus.QUEUED,
    **fields: Any,
) -> int | None:
    """Insert the event's Call row unless it exists; its id, or None if it existed."""
    return insert_call_if_new(
        db,
        call_sid=event.call_sid[:64],
        direction=event.direction or CallDirection.INBOUND,
        from_number=(event.from_e164 or event.from_ or "")[:64] or None,
        to_number=(event.to_e164 or event.to or "")[:64] or None,
        clock=clock,
        status=status,
        parent_call_sid=(event.parent_call_sid or "")[:64] or None,
        **fields,
    )


def start_call(
    db: Connection | Session, event: CallEvent, clock: Clock, **fields: Any
) -> int | None:
    """The Call row of a call's first voice request, whole, in one ``INSERT ... ON CONFLICT
    DO NOTHING``: ``fields`` (script, language, path, customer) and what the event says of
    its status, as ``inbound_call`` would write them on a row it had just made. Its id, or
    None when a row for the CallSid exists after all (another request got there first)."""
    if not event.call_sid:
        raise MissingCallSid("no CallSid")
    new = dict.fromkeys(c.key for c in _STATE)
    new.update(status=CallStatus.QUEUED, parent_call_sid=(event.parent_call_sid or "")[:64] or None)
    changes = status_changes(new, event, clock)
    return _new_call(db, event, clock, **{**fields, **changes})


def repeat_changes(
    state: dict[str, Any], event: CallEvent, clock: Clock, **fields: Any
) -> dict[str, Any]:
    """What a voice request for a call whose row exists (``state``: ``STATE``'s columns, as
    read) would change: the ``fields`` that differ and the status. CallAlreadyEnded when
    the call is over. Read without a lock, so a caller that finds changes writes them
    through ``inbound_call``, which reads the row again under the lock; none (Twilio
    repeating a request) means nothing to write and no lock to take."""
    if has_ended(state):
        raise CallAlreadyEnded(event.call_sid)
    changes = {k: v for k, v in fields.items() if state.get(k) != v}
    changes.update(status_changes(state, event, clock))
    return changes


def _call_state(
    session: Session, event: CallEvent, clock: Clock, query, **fields: Any
) -> dict[str, Any]:
    """The Call row's state for the event (``query``'s columns), locked for this
    transaction; created on first sight (with ``fields``; ``state["created"]`` says so).
    Concurrent first webhooks for one CallSid make one row: the loser's INSERT does nothing
    (after waiting for the winner) and it reads."""
    if not event.call_sid:
        raise MissingCallSid("no CallSid")
    params = {"call_sid": event.call_sid[:64]}
    row = session.execute(query, params).first()
    if row is not None:
        return row._asdict()
    new_id = _new_call(session, event, clock, **fields)
    if new_id is None:  # another webhook for the same call created it first
        return session.execute(query, params).one()._asdict()
    state = dict.fromkeys(query.selected_columns.keys())
    state.update(id=new_id, status=CallStatus.QUEUED, created=True)
    state["parent_call_sid"] = (event.parent_call_sid or "")[:64] or None
    return state


def _locked_call(session: Session, event: CallEvent, clock: Clock) -> Call:
    """The Call entity for the event, locked for this transaction; created on first sight."""
    if not event.call_sid:
        raise MissingCallSid("no CallSid")
    query = select(Call).where(Call.call_sid == event.call_sid[:64]).with_for_update()
    call = session.scalars(query).one_or_none()
    if call is None:
        _new_call(session, event, clock)
        call = session.scalars(query).one()
    return call


def _write(session: Session, call_id: int, changes: dict[str, Any]) -> None:
    if changes:  # a repeated, late or no-news webhook writes nothing
        session.execute(_UPDATE_CALL, {"_call_id": call_id, **changes})


def inbound_call(
    session: Session, event: CallEvent, clock: Clock, *, region: str = "US", **fields: Any
) -> InboundCall:
    """The Call row of a new inbound call and the customer behind the caller ID, if any
    (matched by number, or created on the caller's first call). ``fields`` are more of
    the row's columns (the IVR's script and language), written with it."""
    state = _call_state(session, event, clock, _CALL_AND_CALLER, **fields)
    if not state.get("created") and has_ended(state):
        raise CallAlreadyEnded(event.call_sid)
    customer_id, first_name = state["customer_id"], state["first_name"]
    changes = {} if state.get("created") else {k: v for k, v in fields.items() if state.get(k) != v}
    if customer_id is None and event.from_e164:
        found = name_by_phone(session, event.from_e164)
        if found is None:
            customer = create_from_caller_id(
                session, event.from_e164, clock, region=region, name=event.caller_name
            )
            found = (customer.id, customer.first_name)
        customer_id, first_name = found
        changes["customer_id"] = customer_id
    changes.update(status_changes(state, event, clock))
    _write(session, state["id"], changes)
    return InboundCall(state["id"], customer_id, first_name, state["language"])


def refuse_if_ended(session: Session, call_sid: str | None) -> None:
    """Raise CallAlreadyEnded when ``call_sid`` names a finished call (one indexed read).
    The raw form value: NUL characters are dropped as CallEvent drops them (PostgreSQL
    cannot compare them, and a forged one must not become a database error)."""
    call_sid = (call_sid or "").replace("\x00", "")[:64]
    if not call_sid:
        return
    row = session.execute(_ENDED_STATE, {"call_sid": call_sid}).first()
    if row is not None and has_ended(row._asdict()):
        raise CallAlreadyEnded(call_sid)


def apply_status(session: Session, event: CallEvent, clock: Clock) -> dict[str, Any]:
    """Fold one status callback into the Call row, in any order and any number of times.
    Returns the columns it changed (none for a repeated or stale callback)."""
    state = _call_state(session, event, clock, _CALL_STATE)
    changes = status_changes(state, event, clock)
    _write(session, state["id"], changes)
    return changes


def status_changes(state: dict[str, Any], event: CallEvent, clock: Clock) -> dict[str, Any]:
    """The columns of the Call row (``state``) that ``event`` changes.

    Every field is set by a rule that gives the same result whatever order the callbacks
    arrive in: the status of the furthest (rank, SequenceNumber); the earliest answer time;
    the end time and duration from the terminal callback. A call ends once: its end time,
    duration and final status, once set, stay (a repeated terminal callback, which may
    lack its ``Timestamp`` and so carry the time of its late delivery, changes nothing).
    """
    status = event.status
    if status is None:
        return {}
    new = {}
    at = event.timestamp or clock.now()
    seq = event.sequence_number if event.sequence_number is not None else -1
    sequence = state["status_sequence"]
    current = (RANK[state["status"]], sequence if sequence is not None else -1)
    ended = state["status"] in TERMINAL or state["ended_at"] is not None
    if (RANK[status], seq) > current and not ended:
        new["status"] = status
        new["status_sequence"] = event.sequence_number
    answered_at = state["answered_at"]
    if status is CallStatus.IN_PROGRESS:
        new["answered_at"] = answered_at = min(filter(None, (answered_at, at)))
    if status in TERMINAL and (state["ended_at"] is None or state["duration_seconds"] is None):
        if state["ended_at"] is None:
            new["ended_at"] = at
        at = state["ended_at"] or at
        if event.call_duration is not None and event.call_duration >= 0:
            new["duration_seconds"] = event.call_duration
            if status is CallStatus.COMPLETED and answered_at is None:
                # Twilio may skip the in-progress callback (not subscribed); the duration
                # from the completed one still tells when the call was answered.
                new["answered_at"] = at - timedelta(seconds=event.call_duration)
    if event.parent_call_sid and not state["parent_call_sid"]:
        new["parent_call_sid"] = event.parent_call_sid[:64]
    return {name: value for name, value in new.items() if value != state[name]}


def take_voicemail(
    session: Session, event: CallEvent, clock: Clock, *, pool: str | None = None
) -> Task | None:
    """A recorded voicemail becomes an open callback-style task on the caller's customer."""
    if not event.recording_url or not event.recording_duration:
        return None
    call = _locked_call(session, event, clock)
    existing = task_of_call(session, call.id, TaskKind.VOICEMAIL)
    if existing is not None:  # the action URL was requested twice
        return existing
    now = clock.now()
    task = open_task(
        session,
        TaskKind.VOICEMAIL,
        title=f"Voicemail ({event.recording_duration} s) from {call.from_number or 'unknown'}",
        at=now,
        customer_id=call.customer_id,
        lead_id=call.lead_id,
        call_id=call.id,
        phone=call.from_number if call.from_number and call.from_number.startswith("+") else None,
        notes=event.transcription_text,
        pool=pool,
    )
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
        url=_storable(url, 1024),
        call_sid=_storable(call_sid, 64),
        error_code=_storable(error_code, 16),
        message=_storable(message, 4000) or "",
        params={
            _storable(k, 64) or "?": _storable(str(v), 256)
            for k, v in list((params or {}).items())[:60]
        },
    )
    session.add(error)
    return error


def _storable(text: str | None, limit: int) -> str | None:
    """What a failed request carried, as text any database keeps (PostgreSQL refuses NUL):
    the error record must not fail where the request did."""
    return (text or "").replace("\x00", "\ufffd")[:limit] or None


def recent_errors(session: Session, *, limit: int = 50, since: datetime | None = None):
    query = select(TelephonyError).order_by(TelephonyError.occurred_at.desc())
    if since is not None:
        query = query.where(TelephonyError.occurred_at >= since)
    return list(session.scalars(query.limit(limit)))
