"""The auto-attendant's domain work, plain Python: whether a queue is open (and its hours
as a person says them) and what each ending writes to the CRM. Who is calling and the
path on the Call are ``ivr/call.py``; which option a caller chose is ``ivr/choices.py``.

The views (``ivr/views.py``) turn these answers into TwiML; nothing here knows HTTP or
Redis. Every function that writes takes the session of the webhook's one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.acd import QueueConfig
from crm_core.calls import OPEN_STAGES
from crm_core.clock import Clock
from crm_core.hours import WEEKDAYS, Openness, holidays_for, is_open
from crm_core.models import (
    ActivityKind,
    Appointment,
    AppointmentStatus,
    Call,
    Lead,
    Task,
    TaskKind,
)
from crm_core.tasks import open_task, task_of_call
from crm_core.timeline import add_activity
from ivr.call import Caller, add_step, caller_of, set_call  # noqa: F401  (named here by views)
from ivr.choices import clean

# ---------------------------------------------------------------- business hours


def queue_openness(
    holidays: Callable[[date], list[Any]],
    queues: Iterable[QueueConfig],
    now: datetime,
    default_zone: str,
) -> dict[str, Openness]:
    """Whether each queue is open now, in its own time zone, holidays counted
    (``holidays``: ``crm_core.hours.HolidayCache``, by the UTC day)."""
    near = holidays(now.astimezone(UTC).date())
    return {
        q.name: is_open(q.hours, q.time_zone or default_zone, now, holidays_for(near, q.id))
        for q in queues
    }


_DAY_NAMES = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}


def _clock(hhmm: str, family: str) -> str:
    if hhmm in ("00:00", "24:00"):
        return "medianoche" if family == "es" else "midnight"
    if hhmm == "12:00":
        return "mediodía" if family == "es" else "noon"
    hour, minute = int(hhmm[:2]) % 24, int(hhmm[3:])
    twelve = hour % 12 or 12
    shown = f"{twelve}" if minute == 0 else f"{twelve}:{minute:02d}"
    if family == "es":
        return f"{shown} {'a. m.' if hour < 12 else 'p. m.'}"
    return f"{shown} {'AM' if hour < 12 else 'PM'}"


def describe_hours(hours: dict[str, list[list[str]]], lang: str) -> str | None:
    """Opening hours as a person says them: "Monday to Friday, 9 AM to 8 PM; Saturday,
    9 AM to 6 PM" ("lunes a viernes, de 9 a. m. a 8 p. m.; ..."). None when always open."""
    if not hours:
        return None
    family = "es" if lang.startswith("es") else "en"
    names = _DAY_NAMES[family]
    runs: list[tuple[int, int, list[list[str]]]] = []
    for index, day in enumerate(WEEKDAYS):
        intervals = hours.get(day)
        if not intervals:
            continue
        if runs and runs[-1][1] == index - 1 and runs[-1][2] == intervals:
            runs[-1] = (runs[-1][0], index, intervals)
        else:
            runs.append((index, index, intervals))
    parts = []
    for first, last, intervals in runs:
        if first == last:
            days = names[first]
        elif family == "es":
            days = f"{names[first]} a {names[last]}"
        else:
            days = f"{names[first]} to {names[last]}"
        if family == "es":
            spans = " y ".join(f"de {_clock(a, 'es')} a {_clock(b, 'es')}" for a, b in intervals)
        else:
            spans = " and ".join(f"{_clock(a, 'en')} to {_clock(b, 'en')}" for a, b in intervals)
        parts.append(f"{days}, {spans}")
    return "; ".join(parts)


# ---------------------------------------------------------------- endings that write


def _customer_of(session: Session, call_sid: str) -> tuple[int | None, int | None, str | None]:
    row = session.execute(
        select(Call.id, Call.customer_id, Call.from_number).where(Call.call_sid == call_sid[:64])
    ).first()
    return (row.id, row.customer_id, row.from_number) if row else (None, None, None)


def confirm_appointment(session: Session, call_sid: str, appointment_id: int, clock: Clock) -> bool:
    """The caller confirmed their appointment by phone: it is confirmed, and noted."""
    _call_id, customer_id, _ = _customer_of(session, call_sid)
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or appointment.customer_id != customer_id:
        return False
    if appointment.status is AppointmentStatus.SCHEDULED:
        appointment.status = AppointmentStatus.CONFIRMED
    add_activity(
        session,
        customer_id=appointment.customer_id,
        kind=ActivityKind.APPOINTMENT,
        summary="Confirmed the appointment by phone (auto-attendant)",
        at=clock.now(),
        data={"appointment_id": appointment.id, "call_sid": call_sid, "status": "confirmed"},
    )
    return True


def ask_reschedule(
    session: Session, call_sid: str, appointment_id: int, clock: Clock, *, pool: str
) -> Task | None:
    """The caller wants another time: a callback task for a person to find one."""
    call_id, customer_id, phone = _customer_of(session, call_sid)
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or appointment.customer_id != customer_id:
        return None
    now = clock.now()
    task = open_task(
        session,
        TaskKind.CALLBACK,
        title=f"Reschedule the {appointment.type.value.replace('_', ' ')} appointment "
        f"of {appointment.start_at:%Y-%m-%d %H:%M} UTC",
        at=now,
        priority=70,
        customer_id=customer_id,
        lead_id=appointment.lead_id,
        call_id=call_id,
        phone=phone if phone and phone.startswith("+") else None,
        notes="Asked for a new time through the auto-attendant.",
        pool=pool,
    )
    add_activity(
        session,
        customer_id=customer_id,
        kind=ActivityKind.APPOINTMENT,
        summary="Asked by phone to reschedule the appointment",
        at=now,
        data={"appointment_id": appointment.id, "call_sid": call_sid, "task_id": task.id},
    )
    return task


def roadside_incident(
    session: Session, call_sid: str, location: str | None, confidence: float | None, clock: Clock
) -> None:
    """A roadside call: where the caller said they are, on the Call (the agent sees it on
    the screen pop) and on the customer's timeline."""
    _call_id, customer_id, _ = _customer_of(session, call_sid)
    where = clean(location) or ""
    note = (
        f"Roadside assistance. Location: {where}"
        if where
        else ("Roadside assistance. Location not captured: ask the caller.")
    )
    set_call(session, call_sid, notes=note)
    if customer_id is not None:
        add_activity(
            session,
            customer_id=customer_id,
            kind=ActivityKind.NOTE,
            summary=note[:255],
            at=clock.now(),
            data={
                "incident": "roadside",
                "call_sid": call_sid,
                "location": where or None,
                "confidence": confidence,
            },
        )


def callback_request(
    session: Session, call_sid: str, clock: Clock, *, queue: str | None, due_at: datetime | None
) -> Task | None:
    """After hours, the caller asked to be called back when the queue opens."""
    call_id, customer_id, phone = _customer_of(session, call_sid)
    if not phone or not phone.startswith("+"):
        return None
    existing = task_of_call(session, call_id, TaskKind.CALLBACK)
    if existing is not None:  # the same request, repeated by Twilio
        return existing
    now = clock.now()
    task = open_task(
        session,
        TaskKind.CALLBACK,
        title=f"Call back {phone} (asked after hours)",
        at=now,
        due_at=max(due_at or now, now),
        customer_id=customer_id,
        call_id=call_id,
        phone=phone,
        pool=queue,
    )
    if customer_id is not None:
        add_activity(
            session,
            customer_id=customer_id,
            kind=ActivityKind.TASK,
            summary="Asked for a callback after hours",
            at=now,
            data={"call_sid": call_sid, "task_id": task.id, "queue": queue},
        )
    return task


def attach_transcription(
    session: Session, call_sid: str | None, recording_sid: str | None, text: str | None
) -> bool:
    """Twilio's transcription of a voicemail arrives after the message: it becomes the
    voicemail task's notes (the recording's link is already on the timeline)."""
    if not call_sid or not text:
        return False
    task = session.scalar(
        select(Task)
        .join(Call, Call.id == Task.call_id)
        .where(Call.call_sid == call_sid[:64], Task.kind == TaskKind.VOICEMAIL)
        .order_by(Task.id.desc())
        .limit(1)
    )
    if task is None:
        return False
    task.notes = clean(text, 10_000)
    return True


def answer_lead(session: Session, call_sid: str) -> int | None:
    """The caller said the call is about their open lead: its id (the newest), for the Call."""
    _call_id, customer_id, _ = _customer_of(session, call_sid)
    if customer_id is None:
        return None
    return session.scalar(
        select(Lead.id)
        .where(Lead.customer_id == customer_id, Lead.stage.in_(OPEN_STAGES))
        .order_by(Lead.created_at.desc(), Lead.id.desc())
        .limit(1)
    )


def appointment_type(session: Session, appointment_id: int) -> str | None:
    kind = session.scalar(select(Appointment.type).where(Appointment.id == appointment_id))
    return str(kind) if kind is not None else None


def parse_stamp(raw: str | None) -> datetime | None:
    """A time the flow carried in its URL (when the queue opens); None when not one."""
    if not raw or len(raw) > 40:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None
