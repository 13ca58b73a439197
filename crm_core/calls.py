"""Calls: the Call row kept in step with the carrier, and the one-transaction call outcome."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from crm_core.clock import Clock
from crm_core.customers import find_by_phone, match_or_create_from_caller_id, record_consent
from crm_core.errors import Conflict, Forbidden, InvalidInput, InvalidPhone, NotFound
from crm_core.leads import advance_to, get_lead, mark_contact_attempt
from crm_core.models import (
    ActivityKind,
    Appointment,
    Call,
    CallDirection,
    CallStatus,
    Channel,
    ConsentStatus,
    Disposition,
    Lead,
    LeadStage,
    Role,
    TaskKind,
    User,
)
from crm_core.schemas import ConsentIn, OutcomeIn
from crm_core.tasks import open_task
from crm_core.timeline import add_activity

D = Disposition
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# What each disposition means for the lead. Outcomes only move a lead forward (or to Lost).
DISPOSITION_STAGE: dict[Disposition, LeadStage | None] = {
    D.APPOINTMENT_SET: LeadStage.APPOINTMENT_SET,
    D.CALLBACK: LeadStage.ENGAGED,
    D.INTERESTED: LeadStage.ENGAGED,
    D.QUALIFIED: LeadStage.QUALIFIED,
    D.INFO_PROVIDED: LeadStage.ENGAGED,
    D.NOT_INTERESTED: LeadStage.LOST,
    D.WRONG_NUMBER: LeadStage.LOST,
    D.SOLD: LeadStage.SOLD,
    D.LEFT_VOICEMAIL: LeadStage.CONTACTED,
    D.NO_ANSWER: LeadStage.CONTACTED,
    D.DO_NOT_CALL: LeadStage.LOST,
}
NOT_CONNECTED = {D.LEFT_VOICEMAIL, D.NO_ANSWER, D.WRONG_NUMBER}
LOST_REASONS = {
    D.NOT_INTERESTED: "not interested",
    D.WRONG_NUMBER: "wrong number",
    D.DO_NOT_CALL: "asked not to be called",
}
OPEN_STAGES = [s for s in LeadStage if s not in (LeadStage.SOLD, LeadStage.LOST)]


def get_call(session: Session, call_sid: str) -> Call:
    call = session.scalars(select(Call).where(Call.call_sid == call_sid)).one_or_none()
    if call is None:
        raise NotFound(f"no call {call_sid}", field="call_sid")
    return call


# INSERT ... ON CONFLICT (call_sid) DO NOTHING RETURNING id, built once per dialect (the two
# databases the engine runs on).
_INSERT_IF_NEW = {
    name: dialect_insert(Call.__table__)
    .on_conflict_do_nothing(index_elements=["call_sid"])
    .returning(Call.__table__.c.id)
    for name, dialect_insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


def insert_call_if_new(
    db: Connection | Session,
    *,
    call_sid: str,
    direction: CallDirection,
    from_number: str | None,
    to_number: str | None,
    clock: Clock,
    status: CallStatus = CallStatus.QUEUED,
    **fields: Any,
) -> int | None:
    """The one way a Call row is made: one ``INSERT ... ON CONFLICT DO NOTHING``, so a
    webhook repeated, or raced by another for the same call, never makes a second row.
    ``db``: a session's transaction, or a bare connection's (the voice webhook's first
    request writes its row on one, with no ORM session at all).

    Returns the new row's id, or None when a row for ``call_sid`` already exists (another
    webhook for the same call got there first; if its transaction is still open, the
    database makes this statement wait for it). No flush, no savepoint, no ORM object: the
    webhooks' hot path calls it as it is; ``log_call`` when the caller wants the entity.
    """
    values = {
        "call_sid": call_sid,
        "direction": direction,
        "from_number": from_number,
        "to_number": to_number,
        "status": status,
        "created_at": clock.now(),
        **fields,
    }
    dialect = db.dialect if isinstance(db, Connection) else db.get_bind().dialect
    return db.execute(_INSERT_IF_NEW[dialect.name], values).scalar()


def log_call(
    session: Session,
    *,
    call_sid: str,
    direction: CallDirection,
    from_number: str | None,
    to_number: str | None,
    clock: Clock,
    status: CallStatus = CallStatus.QUEUED,
    **fields: Any,
) -> Call:
    """The Call row for ``call_sid`` as an entity: made by ``insert_call_if_new`` unless it
    exists (webhooks repeat), then read."""
    insert_call_if_new(
        session,
        call_sid=call_sid,
        direction=direction,
        from_number=from_number,
        to_number=to_number,
        clock=clock,
        status=status,
        **fields,
    )
    return session.scalars(select(Call).where(Call.call_sid == call_sid)).one()


def remote_party(call: Call) -> str | None:
    """The customer's side of the call: the caller on inbound, the called party otherwise."""
    return call.from_number if call.direction is CallDirection.INBOUND else call.to_number


def _latest_open_lead(session: Session, customer_id: int) -> Lead | None:
    return session.scalars(
        select(Lead)
        .where(Lead.customer_id == customer_id, Lead.stage.in_(OPEN_STAGES))
        .order_by(Lead.created_at.desc(), Lead.id.desc())
        .limit(1)
    ).first()


def record_call_outcome(
    session: Session,
    call_sid: str,
    outcome: OutcomeIn,
    clock: Clock,
    *,
    actor: User | None = None,
    region: str = "US",
) -> Call:
    """Write a call's wrap-up: disposition and notes, the lead's new stage, and any
    appointment, callback task or do-not-call entry.

    The caller runs this inside one transaction (``with session_factory.begin()``), so either
    all of it is stored or none. A second outcome for the same call is refused (409): a
    double-clicked wrap-up must not book two appointments.
    """
    call = get_call(session, call_sid)
    if actor is not None and actor.role is Role.AGENT and call.agent_id not in (None, actor.id):
        raise Forbidden("this call belongs to another agent", field="call_sid")
    if call.disposition is not None and not call.outcome_incomplete:
        raise Conflict(
            f"the outcome of {call_sid} is already recorded ({call.disposition.value})",
            field="disposition",
        )
    now = clock.now()
    actor_id = actor.id if actor is not None else None
    if call.agent_id is None and actor is not None and actor.role is Role.AGENT:
        call.agent_id = actor.id

    customer_id = call.customer_id
    number = remote_party(call)
    if customer_id is None and number:
        try:
            customer, _ = match_or_create_from_caller_id(session, number, clock, region=region)
            customer_id = call.customer_id = customer.id
        except InvalidPhone:
            customer_id = None  # withheld or unusable caller ID: the call stands alone
    needs_customer = outcome.appointment or outcome.callback or outcome.lead_id
    if customer_id is None and (needs_customer or outcome.disposition is D.DO_NOT_CALL):
        raise InvalidInput(
            "this call has no customer (the caller ID was withheld); attach one first",
            field="call_sid",
        )

    lead: Lead | None = None
    if outcome.lead_id is not None:
        lead = get_lead(session, outcome.lead_id)
        if lead.customer_id != customer_id:
            raise InvalidInput("that lead belongs to another customer", field="lead_id")
    elif call.lead_id is not None:
        lead = session.get(Lead, call.lead_id)
    elif customer_id is not None:
        lead = _latest_open_lead(session, customer_id)

    call.disposition = outcome.disposition
    call.notes = outcome.notes
    call.outcome_incomplete = False  # the real outcome replaces one stored from a draft
    call.outcome_draft = None
    if outcome.wrap_seconds is not None:
        call.wrap_seconds = outcome.wrap_seconds

    summary = [f"Call {call.direction.value}: {outcome.disposition.value.replace('_', ' ')}"]
    if lead is not None:
        call.lead_id = lead.id
        mark_contact_attempt(
            lead, call.created_at, connected=outcome.disposition not in NOT_CONNECTED
        )
        if outcome.temperature is not None:
            lead.temperature = outcome.temperature
        target = DISPOSITION_STAGE[outcome.disposition]
        if target is not None:
            reason = outcome.lost_reason or LOST_REASONS.get(outcome.disposition)
            advance_to(session, lead, target, clock, reason=reason, actor_id=actor_id)
        lead.updated_at = now

    if outcome.appointment is not None:
        a = outcome.appointment
        appointment = Appointment(
            customer_id=customer_id,
            lead_id=lead.id if lead else None,
            dealer_id=a.dealer_id or (lead.dealer_id if lead else None),
            call_id=call.id,
            type=a.type,
            start_at=a.start_at,
            end_at=a.end_at,
            resource=a.resource,
            notes=a.notes,
            created_by_id=actor_id,
            created_at=now,
        )
        session.add(appointment)
        summary.append(f"appointment {a.type.value} at {a.start_at.isoformat()}")
        add_activity(
            session,
            customer_id=customer_id,
            lead_id=lead.id if lead else None,
            kind=ActivityKind.APPOINTMENT,
            summary=f"Appointment set: {a.type.value.replace('_', ' ')} {a.start_at.isoformat()}",
            at=now,
            actor_id=actor_id,
            data={"start_at": a.start_at.isoformat(), "type": a.type.value},
        )

    if outcome.callback is not None:
        cb = outcome.callback
        if cb.due_at < now - timedelta(minutes=1):
            raise InvalidInput("the callback time is in the past", field="callback.due_at")
        owner_id = cb.owner_id if cb.owner_id is not None else (None if cb.pool else actor_id)
        open_task(
            session,
            TaskKind.CALLBACK,
            title=f"Call back {cb.due_at.isoformat()}",
            at=now,
            due_at=cb.due_at,
            priority=cb.priority,
            customer_id=customer_id,
            lead_id=lead.id if lead else None,
            call_id=call.id,
            phone=cb.phone or (number if _is_e164(number) else None),
            notes=cb.notes,
            owner_id=owner_id,
            pool=cb.pool,
        )
        summary.append(f"callback due {cb.due_at.isoformat()}")

    if outcome.disposition is D.DO_NOT_CALL and customer_id is not None and _is_e164(number):
        record_consent(
            session,
            customer_id,
            ConsentIn.model_validate(
                {
                    "channel": Channel.VOICE,
                    "address": number,
                    "status": ConsentStatus.REVOKED,
                    "source": "call outcome",
                    "note": f"on call {call.call_sid}",
                },
                context={"region": region},
            ),
            clock,
            actor_id=actor_id,
        )

    if customer_id is not None:
        add_activity(
            session,
            customer_id=customer_id,
            lead_id=lead.id if lead else None,
            kind=ActivityKind.CALL,
            summary="; ".join(summary),
            at=now,
            actor_id=actor_id,
            data={"call_sid": call.call_sid, "disposition": outcome.disposition.value},
        )
    session.flush()
    return call


def _is_e164(number: str | None) -> bool:
    return bool(number) and E164.fullmatch(number) is not None


def list_calls(
    session: Session,
    *,
    customer_id: int | None = None,
    agent_id: int | None = None,
    lead_id: int | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Call]:
    query = select(Call)
    if customer_id is not None:
        query = query.where(Call.customer_id == customer_id)
    if agent_id is not None:
        query = query.where(Call.agent_id == agent_id)
    if lead_id is not None:
        query = query.where(Call.lead_id == lead_id)
    if since is not None:
        query = query.where(Call.created_at >= since)
    query = query.order_by(Call.created_at.desc(), Call.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def record_routing(
    session: Session,
    call_sid: str,
    *,
    queue: str | None = None,
    agent_id: int | None = None,
    wait_seconds: int | None = None,
    talk_seconds: int | None = None,
    wrap_seconds: int | None = None,
) -> Call | None:
    """The ACD's figures for a call: its queue, the agent who took it, the wait, talk and
    wrap-up times. None when the call has no row (a callback placed by the router)."""
    call = session.scalars(select(Call).where(Call.call_sid == call_sid)).one_or_none()
    if call is None:
        return None
    if queue is not None:
        call.queue = queue[:64]
    if agent_id is not None:
        call.agent_id = agent_id
    if wait_seconds is not None:
        call.wait_seconds = max(0, wait_seconds)
    if talk_seconds is not None:
        call.talk_seconds = max(0, talk_seconds)
    if wrap_seconds is not None:
        call.wrap_seconds = max(0, wrap_seconds)
    return call


def unanswered_callback_task(session: Session, phone: str, *, queue: str, clock: Clock):
    """The ACD's callback reached no one after its last attempt: a person takes it over."""
    now = clock.now()
    customer = find_by_phone(session, phone)
    task = open_task(
        session,
        TaskKind.CALLBACK,
        title="Callback requested in the queue: no answer after every attempt",
        at=now,
        priority=70,
        customer_id=customer.id if customer else None,
        phone=phone,
        pool=queue[:64],
    )
    if customer is not None:
        add_activity(
            session,
            customer_id=customer.id,
            kind=ActivityKind.CALL,
            summary="Queue callback not answered; handed to the team",
            at=now,
            data={"task_id": task.id, "queue": queue},
        )
    return task
