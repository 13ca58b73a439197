"""The agent's free notes on a call and the agent's two lists (callbacks due, leads by
temperature), as JSON; the desk page wires these in. Which call is "mine now" and the
script beside it are ``console/call_script.py``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from flask import Blueprint, g, request
from pydantic import StringConstraints
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from console.api import _int_arg
from console.auth import require_role
from console.call_script import append_note, current_call, iso
from crm_core.calls import OPEN_STAGES
from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.errors import Forbidden, NotFound
from crm_core.models import (
    TEXT_LEN,
    Activity,
    Appointment,
    AppointmentStatus,
    Call,
    Customer,
    Lead,
    Role,
    Task,
    TaskKind,
    TaskStatus,
)
from crm_core.schemas import Strict, parse
from crm_core.users import get_user
from routing.config import profile
from routing.service import Router
from telephony.context import need

bp = Blueprint("worklists", __name__)

OPEN_APPOINTMENTS = (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED)
CALLBACKS_AHEAD = timedelta(days=1)
CLICK_TO_CALL = "/twilio/client"  # the TwiML App's Voice URL: the softphone dials through it
MAX_LIMIT = 100

NoteText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_LEN)
]


class NotesIn(Strict):
    notes: NoteText


# ------------------------------------------------------------------------------ notes


@bp.post("/calls/<call_sid>/notes")
@require_role()
def add_notes(call_sid: str):
    """My free notes on my current or just-wrapped call (an agent: their own calls only;
    supervisors and admins: any call), appended with a time stamp."""
    data = parse(NotesIn, request.get_json(silent=True))
    me = g.principal
    with need(Database).session_factory.begin() as session:
        call = session.scalars(
            select(Call).where(Call.call_sid == call_sid[:64]).with_for_update()
        ).one_or_none()
        if call is None:
            raise NotFound(f"no call {call_sid[:64]}", field="call_sid")
        if me.role is Role.AGENT and call.agent_id != me.id:
            current = current_call(session, need(Router), me.id) if call.agent_id is None else None
            if current is None or current.call_sid != call.call_sid:
                raise Forbidden("an agent may add notes to their own calls only", field="call_sid")
        append_note(call, data.notes, need(Clock).now(), me.display_name)
        return {"call_sid": call.call_sid, "notes": call.notes}


# ------------------------------------------------------------------------------ lists


def _page() -> tuple[int, int]:
    return _int_arg("limit", 25, 1, MAX_LIMIT), _int_arg("offset", 0, 0, 10**9)


@bp.get("/agents/me/callbacks")
@require_role()
def my_callbacks():
    """Open callback tasks due within a day (overdue ones included), mine or left to the
    pool of a queue I take (unclaimed: no owner), soonest first, then highest priority."""
    limit, offset = _page()
    now = need(Clock).now()
    with need(Database).read_session_factory() as session:
        user = get_user(session, g.principal.id)
        pools = [q.name for q in need(Router).queues_of(profile(user).skills)]
        where = (
            Task.status == TaskStatus.OPEN,
            Task.kind == TaskKind.CALLBACK,
            Task.due_at < now + CALLBACKS_AHEAD,
            or_(Task.owner_id == user.id, Task.owner_id.is_(None) & Task.pool.in_(pools)),
        )
        total = session.scalar(select(func.count()).select_from(Task).where(*where))
        tasks = session.scalars(
            select(Task)
            .where(*where)
            .order_by(Task.due_at, Task.priority.desc(), Task.id)
            .limit(limit)
            .offset(offset)
        ).all()
        ids = {t.customer_id for t in tasks if t.customer_id is not None}
        customers = {
            c.id: c
            for c in session.scalars(
                select(Customer).where(Customer.id.in_(ids)).options(selectinload(Customer.phones))
            )
        }
        items = []
        for t in tasks:
            c = customers.get(t.customer_id)
            known = c is not None and c.erased_at is None
            phone = t.phone or (c.primary_phone if known else None)
            blocked = known and c.do_not_call
            items.append(
                {
                    "id": t.id,
                    "title": t.title,
                    "notes": t.notes,
                    "due_at": t.due_at.isoformat(),
                    "overdue": t.due_at < now,
                    "priority": t.priority,
                    "owner_id": t.owner_id,
                    "pool": t.pool,
                    "lead_id": t.lead_id,
                    "customer": {"id": c.id, "name": c.full_name} if known else None,
                    "phone": phone,
                    "click_to_call": (
                        {"to": phone, "via": CLICK_TO_CALL} if phone and not blocked else None
                    ),
                }
            )
        return {"callbacks": items, "total": total, "limit": limit, "offset": offset}


@bp.get("/agents/me/leads")
@require_role()
def my_leads():
    """My open leads, hottest first: stage, last touch (newest timeline entry of the
    customer), next open appointment."""
    limit, offset = _page()
    now = need(Clock).now()
    me = g.principal.id
    last_touch = (
        select(func.max(Activity.occurred_at))
        .where(Activity.customer_id == Lead.customer_id)
        .scalar_subquery()
    )
    next_visit = (
        select(func.min(Appointment.start_at))
        .where(
            Appointment.customer_id == Lead.customer_id,
            Appointment.status.in_(OPEN_APPOINTMENTS),
            Appointment.start_at >= now,
        )
        .scalar_subquery()
    )
    where = (Lead.assigned_agent_id == me, Lead.stage.in_(OPEN_STAGES))
    with need(Database).read_session_factory() as session:
        total = session.scalar(select(func.count()).select_from(Lead).where(*where))
        rows = session.execute(
            select(Lead, last_touch, next_visit)
            .where(*where)
            .options(selectinload(Lead.customer).selectinload(Customer.phones))
            .order_by(Lead.temperature.desc(), Lead.created_at.desc(), Lead.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
        items = []
        for lead, touched, visit in rows:
            c = lead.customer
            known = c.erased_at is None
            phone = c.primary_phone if known else None
            items.append(
                {
                    "id": lead.id,
                    "stage": lead.stage.value,
                    "temperature": lead.temperature,
                    "source_type": lead.source_type.value,
                    "source_name": lead.source_name,
                    "created_at": lead.created_at.isoformat(),
                    "last_touch_at": iso(touched),
                    "next_appointment_at": iso(visit),
                    "customer": {"id": c.id, "name": c.full_name} if known else None,
                    "phone": phone,
                    "click_to_call": (
                        {"to": phone, "via": CLICK_TO_CALL} if phone and not c.do_not_call else None
                    ),
                }
            )
        return {"leads": items, "total": total, "limit": limit, "offset": offset}
