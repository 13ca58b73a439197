"""The Call row as the auto-attendant keeps it: who is calling (the greeting's one read,
``arrival``, and the writes it needs, ``answer``), the caller of a call in progress, and
the path on the Call (``add_step``, ``set_call``).

The greeting takes the database: one read without a lock, then only the writes it needs,
each in the shortest transaction that holds it. The path, a Core statement written on most
steps, takes a session or a bare connection, so a step that writes nothing else needs no
ORM session.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from crm_core.calls import OPEN_STAGES
from crm_core.clock import Clock
from crm_core.customers import create_from_caller_id
from crm_core.db import Database
from crm_core.models import (
    Appointment,
    AppointmentStatus,
    Call,
    Customer,
    CustomerPhone,
    Lead,
    LeadStage,
)
from telephony.events import CallEvent
from telephony.service import (
    STATE,
    InboundCall,
    MissingCallSid,
    inbound_call,
    repeat_changes,
    start_call,
)

PATH_SEPARATOR = " > "
PATH_LEN = 255
UPCOMING = (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED)


@dataclass(frozen=True)
class Upcoming:
    """The caller's next appointment, its start in the time zone it is read out in."""

    id: int
    start: datetime
    type: str


@dataclass(frozen=True)
class Caller:
    """Who called, as far as the CRM knows, and what the auto-attendant can offer them."""

    call_id: int
    customer_id: int | None
    first_name: str | None
    language: str | None = None  # the customer's preferred language
    appointment: Upcoming | None = None
    lead_id: int | None = None  # the newest open lead
    vehicle: str | None = None  # what that customer is shopping for
    recorded_language: str | None = None  # on the Call row already (a repeated webhook)


# ---------------------------------------------------------------- the caller


@dataclass(frozen=True)
class Arrival:
    """What the voice webhook's one read finds: the Call row's state (``telephony.service
    .STATE``; None while the call is new) and who is calling."""

    state: dict[str, Any] | None
    caller: Caller


def arrival(db: Connection, event: CallEvent, now: datetime, zone: str) -> Arrival:
    """The Call row of ``event`` and what is known of its caller (the row's customer, else
    the caller ID's owner): language, open lead, next appointment. ONE SELECT, on a
    connection that takes no lock: a request Twilio repeats needs nothing more."""
    if not event.call_sid:
        raise MissingCallSid("no CallSid")
    params = {"call_sid": event.call_sid[:64], "e164": event.from_e164, "now": now}
    row = db.execute(_ARRIVAL, params).one()._asdict()
    state = {c.key: row[c.key] for c in STATE} if row["id"] is not None else None
    recorded = state["language"] if state is not None else None
    if row["owner_id"] is None:
        return Arrival(state, Caller(row["id"] or 0, None, None, recorded_language=recorded))
    vehicle = " ".join(filter(None, [_first(row["makes"]), _first(row["models"])]))
    upcoming = None
    if row["appointment_id"] is not None:
        at = row["appointment_start"].astimezone(_zone(row["time_zone"] or zone))
        upcoming = Upcoming(row["appointment_id"], at, str(row["appointment_type"]))
    caller = Caller(
        row["id"] or 0,
        row["owner_id"],
        row["first_name"],
        language=row["customer_language"],
        appointment=upcoming,
        lead_id=row["lead_id"],
        vehicle=vehicle or None,
        recorded_language=recorded,
    )
    return Arrival(state, caller)


def answer(
    database: Database,
    event: CallEvent,
    clock: Clock,
    seen: Arrival,
    *,
    region: str,
    zone: str,
    script_name: str,
    script_version: str,
    language: str | None = None,
    path: str | None = None,
) -> Caller:
    """Write what the voice request changes, and no more: nothing for a request Twilio
    repeats; a new call's row whole (script, ``language`` and ``path`` when given, the
    caller's customer, the status) in one INSERT on a bare connection, an ORM session only
    when the caller's customer must be created. Anything else (a row made by a status
    callback, a race for the CallSid) goes through ``inbound_call``, under the row's lock.
    ``language``: the first request's (None leaves the row's language and path alone)."""
    fields: dict[str, Any] = {
        "script_name": script_name[:120],
        "script_version": script_version[:64],
    }
    caller = seen.caller
    if seen.state is not None:
        changes = repeat_changes(seen.state, event, clock, **fields)
        attach = seen.state["customer_id"] is None and event.from_e164
        if not changes and not attach and language is None:
            return caller  # Twilio asked again: nothing to write, no lock taken
    else:
        first = dict(fields)
        if language is not None:
            first["language"] = language
            if path:
                first["ivr_path"] = path[:60]
        if caller.customer_id is not None or not event.from_e164:
            with database.engine.begin() as connection:
                call_id = start_call(
                    connection, event, clock, customer_id=caller.customer_id, **first
                )
            if call_id is not None:
                return replace(caller, call_id=call_id)
        else:  # a caller ID nobody owns: the customer is made through the ORM
            with database.session_factory.begin() as session:
                customer = create_from_caller_id(
                    session, event.from_e164, clock, region=region, name=event.caller_name
                )
                customer_id, first_name = customer.id, customer.first_name
                call_id = start_call(session, event, clock, customer_id=customer_id, **first)
            if call_id is not None:
                return replace(
                    caller, call_id=call_id, customer_id=customer_id, first_name=first_name
                )
    with database.session_factory.begin() as session:
        found = inbound_call(session, event, clock, region=region, **fields)
        if language is not None and found.language is None:
            if path:
                add_step(session, event.call_sid, path, language=language)
            else:
                set_call(session, event.call_sid, language=language)
        if found.customer_id != caller.customer_id:  # attached or made just now
            return known_caller(session, found, clock.now(), zone)
    return replace(caller, call_id=found.call_id)


def known_caller(db: Connection | Session, found: InboundCall, now: datetime, zone: str) -> Caller:
    """What is known of the caller of ``found`` (a call ``inbound_call`` wrote): one SELECT
    for a known caller (two when they have an appointment coming), read on any connection."""
    if found.customer_id is None:
        return Caller(found.call_id, None, None, recorded_language=found.language)
    customer = db.execute(_CONTEXT, {"customer_id": found.customer_id, "now": now}).one()
    vehicle = " ".join(
        filter(None, [_first(customer.preferred_makes), _first(customer.preferred_models)])
    )
    upcoming = None
    if customer.appointment_id is not None:
        upcoming = _upcoming(db, customer.appointment_id, customer.time_zone or zone)
    return Caller(
        found.call_id,
        found.customer_id,
        found.first_name,
        language=customer.language,
        appointment=upcoming,
        lead_id=customer.lead_id,
        vehicle=vehicle or None,
        recorded_language=found.language,
    )


# Core statements (the tables' columns, not the mapped classes'): read on every call.
_appointments, _customers, _leads = (
    Appointment.__table__.c,
    Customer.__table__.c,
    Lead.__table__.c,
)
_NEXT_APPOINTMENT = (
    select(_appointments.id)
    .where(
        _appointments.customer_id == bindparam("customer_id"),
        _appointments.status.in_(UPCOMING),
        _appointments.start_at >= bindparam("now"),
    )
    .order_by(_appointments.start_at, _appointments.id)
    .limit(1)
)
# Not IN (...): a list the statement's cache cannot keep compiled (expanded per execution).
_OPEN = [_leads.stage != stage for stage in LeadStage if stage not in OPEN_STAGES]
_OPEN_LEAD = (
    select(_leads.id)
    .where(_leads.customer_id == _customers.id, *_OPEN)
    .order_by(_leads.created_at.desc(), _leads.id.desc())
    .limit(1)
    .correlate(Customer.__table__)
    .scalar_subquery()
    .label("lead_id")
)
# Everything the greeting needs to know of a known caller, in one statement.
_CONTEXT = select(
    _customers.language,
    _customers.time_zone,
    _customers.preferred_makes,
    _customers.preferred_models,
    _OPEN_LEAD,
    _NEXT_APPOINTMENT.scalar_subquery().label("appointment_id"),
).where(_customers.id == bindparam("customer_id"))


def _arrival_statement():
    """The Call row (if any) and its caller's context as one row: a one-row source, the
    call by CallSid, the caller ID's owner when the row has no customer, that customer, and
    their next appointment (a LEFT JOIN on the first one's id) — on SQLite and PostgreSQL."""
    calls, phones = Call.__table__, CustomerPhone.__table__
    customers, appointments = Customer.__table__, Appointment.__table__
    one = select(literal_column("1").label("one")).subquery("one")
    upcoming = Appointment.__table__.alias("upcoming").c
    next_appointment = (
        select(upcoming.id)
        .where(
            upcoming.customer_id == _customers.id,
            or_(*(upcoming.status == status for status in UPCOMING)),
            upcoming.start_at >= bindparam("now"),
        )
        .order_by(upcoming.start_at, upcoming.id)
        .limit(1)
        .correlate(customers)
        .scalar_subquery()
    )
    source = (
        one.outerjoin(calls, calls.c.call_sid == bindparam("call_sid"))
        .outerjoin(phones, and_(calls.c.customer_id.is_(None), phones.c.e164 == bindparam("e164")))
        .outerjoin(
            customers, customers.c.id == func.coalesce(calls.c.customer_id, phones.c.customer_id)
        )
        .outerjoin(appointments, appointments.c.id == next_appointment)
    )
    return select(
        *STATE,
        customers.c.id.label("owner_id"),
        customers.c.first_name,
        customers.c.language.label("customer_language"),
        customers.c.time_zone,
        customers.c.preferred_makes.label("makes"),
        customers.c.preferred_models.label("models"),
        _OPEN_LEAD,
        appointments.c.id.label("appointment_id"),
        appointments.c.start_at.label("appointment_start"),
        appointments.c.type.label("appointment_type"),
    ).select_from(source)


_ARRIVAL = _arrival_statement()


def _upcoming(db: Connection | Session, appointment_id: int, zone: str) -> Upcoming:
    row = db.execute(
        select(Appointment.id, Appointment.start_at, Appointment.type).where(
            Appointment.id == appointment_id
        )
    ).one()
    return Upcoming(row.id, row.start_at.astimezone(_zone(zone)), str(row.type))


def _first(values: Any) -> str | None:
    if isinstance(values, list) and values and isinstance(values[0], str):
        return values[0].strip()[:60] or None
    return None


def next_appointment(
    session: Session, customer_id: int, now: datetime, zone: str
) -> Upcoming | None:
    """The customer's next scheduled or confirmed appointment that has not started."""
    found = session.scalar(_NEXT_APPOINTMENT, {"customer_id": customer_id, "now": now})
    return _upcoming(session, found, zone) if found is not None else None


def caller_of(session: Session, call_sid: str, zone: str, now: datetime) -> Caller | None:
    """The caller of a call in progress (for the steps after the greeting)."""
    row = session.execute(
        select(Call.id, Call.customer_id, Customer.first_name, Customer.time_zone)
        .outerjoin(Customer, Customer.id == Call.customer_id)
        .where(Call.call_sid == call_sid[:64])
    ).first()
    if row is None:
        return None
    upcoming = None
    if row.customer_id is not None:
        upcoming = next_appointment(session, row.customer_id, now, row.time_zone or zone)
    return Caller(row.id, row.customer_id, row.first_name, appointment=upcoming)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


# ---------------------------------------------------------------- the path on the Call

_calls = Call.__table__
# path := coalesce(nullif(path, '') || ' > ', '') || step, cut to the column's length: one
# UPDATE, no read (NULL || anything is NULL in SQLite and PostgreSQL alike).
_STEP = (
    update(_calls)
    .where(_calls.c.call_sid == bindparam("sid"))
    .values(
        ivr_path=func.substr(
            func.coalesce(func.nullif(_calls.c.ivr_path, "") + literal(PATH_SEPARATOR), "")
            + cast(bindparam("step"), String),
            1,
            PATH_LEN,
        )
    )
)


def add_step(db: Connection | Session, call_sid: str | None, step: str, **columns: Any) -> None:
    """Append ``step`` to the Call's IVR path ("es > sales > new vehicles") and set
    ``columns`` (language, sensitive, lead_id) in the same statement: a caller who hangs up
    at any moment leaves a row that says how far they got."""
    if not call_sid:
        return
    statement = _STEP.values(**columns) if columns else _STEP
    db.execute(statement, {"sid": call_sid[:64], "step": step[:60]})


def set_call(db: Connection | Session, call_sid: str | None, **columns: Any) -> None:
    if call_sid and columns:
        db.execute(update(_calls).where(_calls.c.call_sid == call_sid[:64]).values(**columns))
