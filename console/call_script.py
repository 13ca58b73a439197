"""The script beside the agent's call, as JSON: branches to click, the timed elevator
pitch, and the answers the agent clicks. The desk page wires it in.

Which call is "mine now", in this order: the call the router has me connected with, the
one it offers me, a click-to-call I am dialling (``outbound-dial`` Call row of mine, not
ended: those never pass through the router), the call I am wrapping up.

Which script, for that call (``GET /api/agents/me/script``; ``?name=`` picks one):

* outbound (a dialled call, or the ACD's callback-in-queue entry): ``outbound_sales``;
* inbound to queue Q: ``inbound_Q`` if the library has it, else ``inbound`` (bundled), else the
  ``elevator_pitch``. Queues carry no agent-script setting (``hold_script`` is what the
  caller hears), so the library's file names are the configuration: a manager adds
  ``inbound_sales.yaml`` (kind ``outbound``: steps) and it is used at once. The bundled
  ``outbound_sales`` is not used for inbound calls: it opens by asking for the customer
  by name and says "I'm calling about…".

Texts are rendered through the library in the call's language (``Call.language``, else
en-US; es-US reads es-MX) with the CRM's values; a value the CRM lacks reads the
variable's fallback ("there", "our dealership"), so with no call at all the script still
reads well, for practice. Each text comes as ``text`` (plain) and ``html`` (escaped).

An answer clicked (``POST …/script/answer``) goes on the customer's timeline with the step,
the answer and the lead field it fills. crm_core has no service that sets those lead
fields (timeframe, trade-in, financing…), so the lead itself is not changed: the answer
says so, and the wrap-up reads them from the timeline. No customer: the Call's notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from flask import Blueprint, g, request
from pydantic import StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.auth import require_role
from crm_core.audit import audit, recent
from crm_core.calls import OPEN_STAGES
from crm_core.clock import Clock
from crm_core.customers import find_by_phone
from crm_core.db import Database
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.models import (
    TEXT_LEN,
    ActivityKind,
    Appointment,
    AppointmentStatus,
    Call,
    CallDirection,
    CallStatus,
    Customer,
    Lead,
    Vehicle,
    VehicleRelation,
)
from crm_core.schemas import Strict, parse
from crm_core.settings import Settings
from crm_core.timeline import add_activity
from routing.service import Router
from scripts import Library, Script
from scripts.choice import AGENT_KINDS, agent_script, is_outbound
from telephony.context import need

bp = Blueprint("call_script", __name__)

LIVE = (CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING, CallStatus.IN_PROGRESS)
OPEN_APPOINTMENTS = (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED)
NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")

Ident = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
NoteText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_LEN)
]


class AnswerIn(Strict):
    call_sid: Ident
    step: Ident
    answer: Ident
    script: Ident | None = None  # default: the script the desk shows for the call


class PositionIn(Strict):
    call_sid: Ident
    script: Ident
    step: Ident | None = None  # None: the end of the script


POSITION_ACTION = "call.script_step"


# ------------------------------------------------------------------------ my current call


@dataclass
class Current:
    """The signed-in agent's call now (see the module docstring)."""

    stage: str  # connected, offer, dialing, wrap_up
    call_sid: str | None
    call: Call | None
    entry: dict[str, Any] = field(default_factory=dict)

    @property
    def outbound(self) -> bool:
        return is_outbound(
            self.call.direction if self.call is not None else None,
            callback=self.entry.get("kind") == "callback",
        )

    @property
    def queue(self) -> str | None:
        return self.entry.get("queue") or (self.call.queue if self.call is not None else None)

    @property
    def language(self) -> str | None:
        return (self.call.language if self.call is not None else None) or self.entry.get("lang")


def current_call(session: Session, router, agent_id: int) -> Current | None:
    doc = router.agent(agent_id) or {}
    for stage, key in (("connected", "call"), ("offer", "offer")):
        if doc.get(key):
            entry = router.entry(doc[key]) or {}
            sid = entry.get("call_sid") or None
            return Current(stage, sid, _call(session, sid), entry)
    dialing = session.scalars(
        select(Call)
        .where(
            Call.agent_id == agent_id,
            Call.direction == CallDirection.OUTBOUND_DIAL,
            Call.status.in_(LIVE),
            Call.ended_at.is_(None),
        )
        .order_by(Call.created_at.desc(), Call.id.desc())
        .limit(1)
    ).first()
    if dialing is not None:
        return Current("dialing", dialing.call_sid, dialing)
    if doc.get("state") == "wrap_up" and doc.get("last_call"):
        sid = doc["last_call"]
        return Current("wrap_up", sid, _call(session, sid))
    return None


def _call(session: Session, sid: str | None) -> Call | None:
    if not sid:
        return None
    return session.scalars(select(Call).where(Call.call_sid == sid[:64])).one_or_none()


# ----------------------------------------------------------------------------- the script


def script_for_call(
    call: Call | None, library, *, entry: dict[str, Any] | None = None
) -> tuple[str, str]:
    """(script name, why): the agent's script for ``call`` (a Call row, or None when the
    router's ``entry`` is all there is), by :func:`scripts.choice.agent_script`, the one
    rule of the desk, the script's answers and the QA page.

    The direction is the call's own (a caller who rang us stays ``inbound`` whatever legs
    the ACD placed to reach the agent); the router's callback-in-queue entry is outbound.
    The queue is the entry's (where the caller is now, after a transfer), else the row's."""
    entry = entry or {}
    return agent_script(
        library,
        direction=call.direction if call is not None else ("inbound" if entry else None),
        queue=entry.get("queue") or (call.queue if call is not None else None),
        callback=entry.get("kind") == "callback",
    )


def choose_script(library, current: Current | None) -> tuple[str, str]:
    """(script name, why) for the agent's current call: :func:`script_for_call`."""
    if current is None:
        return script_for_call(None, library)
    return script_for_call(current.call, library, entry=current.entry or {"kind": "call"})


def _agent_script(library, name: str) -> Script:
    if not NAME.fullmatch(name) or name not in library:
        raise NotFound(f"no script named {name[:64]!r}", field="name")
    script = library.get(name)
    if script.kind not in AGENT_KINDS:
        raise InvalidInput(
            f"{name} is a {script.kind.value} script, not one an agent reads (outbound, pitch)",
            field="name",
        )
    return script


def script_context(
    session: Session, settings: Settings, now: datetime, agent_name: str, current: Current | None
):
    """The variables the scripts name, from the CRM; what is unknown is left out (the
    renderer then reads the variable's fallback). Returns (context, customer, lead)."""
    customer = lead = None
    call = current.call if current is not None else None
    if call is not None and call.customer_id is not None:
        customer = session.get(Customer, call.customer_id)
    elif current is not None and current.entry.get("phone"):
        try:
            phone, region = current.entry["phone"], settings.default_region
            customer = find_by_phone(session, phone, region=region)
        except InvalidInput:  # a client identity or a withheld number
            customer = None
    if customer is not None and customer.erased_at is not None:
        customer = None
    first = agent_name.split()[0] if agent_name.split() else None
    context: dict[str, Any] = {
        "agent": {"name": agent_name or None, "first_name": first},
        "dealer": {"name": settings.dealer_name, "website": settings.dealer_website},
    }
    if customer is None:
        return context, None, None
    if call is not None and call.lead_id is not None:
        lead = session.get(Lead, call.lead_id)
    if lead is None or lead.stage not in OPEN_STAGES:
        lead = session.scalars(
            select(Lead)
            .where(Lead.customer_id == customer.id, Lead.stage.in_(OPEN_STAGES))
            .order_by(Lead.created_at.desc(), Lead.id.desc())
            .limit(1)
        ).first()
    context["customer"] = {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "phone": customer.primary_phone,
        "email": customer.email,
    }
    if lead is not None:
        context["lead"] = {"source": lead.source_name}
        if lead.dealer is not None:
            context["dealer"] = {
                **context["dealer"],
                "name": lead.dealer.name,
                "phone": lead.dealer.phone,
            }
    vehicle = session.scalars(
        select(Vehicle)
        .where(Vehicle.customer_id == customer.id, Vehicle.relation == VehicleRelation.INTEREST)
        .order_by((Vehicle.lead_id == (lead.id if lead else -1)).desc(), Vehicle.id.desc())
        .limit(1)
    ).first()
    if vehicle is not None:
        words = [str(vehicle.year) if vehicle.year else None, vehicle.make, vehicle.model]
        context["vehicle"] = {"description": " ".join(w for w in [*words, vehicle.trim] if w)}
    appointment = session.scalars(
        select(Appointment)
        .where(
            Appointment.customer_id == customer.id,
            Appointment.status.in_(OPEN_APPOINTMENTS),
            Appointment.start_at >= now,
        )
        .order_by(Appointment.start_at, Appointment.id)
        .limit(1)
    ).first()
    if appointment is not None:
        zone = ZoneInfo(customer.time_zone or settings.default_time_zone)
        context["appointment"] = {
            "when": appointment.start_at.astimezone(zone),
            "with": appointment.resource,
        }
    return context, customer, lead


def render_script(script: Script, lang: str | None, context: dict[str, Any]) -> dict[str, Any]:
    chosen = script.language(lang)

    def both(key: str) -> dict[str, str]:
        return {
            "text": script.render(key, chosen, context, "text"),
            "html": str(script.render(key, chosen, context, "html")),
        }

    steps = [
        {
            "id": s.id,
            "kind": s.kind.value,
            **both(s.id),
            "answers": [
                {
                    "id": a.id,
                    "label": script.render(f"{s.id}.{a.id}", chosen, context, "text"),
                    "next": a.next,
                    "value": a.value,
                }
                for a in s.answers
            ],
            "next": s.next,
            "field": s.field.value if s.field else None,
            "sensitive": s.sensitive,
        }
        for s in script.steps
    ]
    sections, offset = [], 0
    for section in script.sections:
        sections.append(
            {"id": section.id, "seconds": section.seconds, "starts_at": offset, **both(section.id)}
        )
        offset += section.seconds
    return {
        "name": script.name,
        "version": script.version,
        "ref": script.ref,
        "kind": script.kind.value,
        "language": chosen,
        "start": steps[0]["id"] if steps else None,
        "steps": steps,
        "sections": sections,
        "duration_seconds": script.duration_seconds or (offset or None),
    }


@bp.get("/agents/me/script")
@require_role()
def my_script():
    """The script for my current call (or ``?name=``), rendered for me; see the docstring."""
    library = need(Library)
    name = request.args.get("name")
    if name is not None and not name.strip():
        raise InvalidInput("name must be a script name", field="name")
    with need(Database).read_session_factory() as session:
        current = current_call(session, need(Router), g.principal.id)
        if name is None:
            name, why = choose_script(library, current)
        else:
            why = "asked for by name"
        script = _agent_script(library, name.strip())
        context, customer, lead = script_context(
            session, need(Settings), need(Clock).now(), g.principal.display_name, current
        )
        lang = (current.language if current is not None else None) or "en-US"
        body = render_script(script, lang, context)
        body["chosen_by"] = why
        body["call"] = None
        if current is not None:
            body["call"] = {
                "call_sid": current.call_sid,
                "stage": current.stage,
                "direction": "outbound" if current.outbound else "inbound",
                "queue": current.queue,
                "customer_id": customer.id if customer is not None else None,
                "lead_id": lead.id if lead is not None else None,
            }
        return body


@bp.post("/agents/me/script/answer")
@require_role()
def record_answer():
    """I clicked an answer on my current call's script: it goes on the customer's timeline
    (the Call's notes when the caller is unknown). 404: no such call; 409: not my current
    call, or only offered to me."""
    data = parse(AnswerIn, request.get_json(silent=True))
    library, clock, me = need(Library), need(Clock), g.principal
    with need(Database).session_factory.begin() as session:
        current = current_call(session, need(Router), me.id)
        if current is None or current.call_sid != data.call_sid:
            if _call(session, data.call_sid) is None:
                raise NotFound(f"no call {data.call_sid}", field="call_sid")
            raise Conflict("that is not the call you are on", field="call_sid")
        if current.stage == "offer":
            raise Conflict("accept the call before answering its script", field="call_sid")
        script = (
            _agent_script(library, data.script)
            if data.script
            else _agent_script(library, choose_script(library, current)[0])
        )
        try:
            step = script.step(data.step)
        except KeyError:
            raise InvalidInput(f"{script.name} has no step {data.step}", field="step") from None
        chosen = next((a for a in step.answers if a.id == data.answer), None)
        if chosen is None:
            choices = ", ".join(a.id for a in step.answers) or "none"
            raise InvalidInput(
                f"step {step.id} has no answer {data.answer} (its answers: {choices})",
                field="answer",
            )
        lang = script.language(current.language)
        label = script.text(f"{step.id}.{chosen.id}", "en-US")
        lead_field = step.field.value if step.field else None
        value = chosen.value if lead_field else None
        now = clock.now()
        _, customer, lead = script_context(session, need(Settings), now, me.display_name, current)
        summary = f"Script {script.ref}, {step.id}: {label}"
        if lead_field and value:
            summary += f" ({lead_field}: {value})"
        body: dict[str, Any] = {
            "call_sid": current.call_sid,
            "script": script.ref,
            "step": step.id,
            "answer": chosen.id,
            "label": script.text(f"{step.id}.{chosen.id}", lang),
            "next": chosen.next,
            "field": lead_field,
            "value": value,
            "lead_updated": False,
            "activity_id": None,
        }
        if customer is not None:
            activity = add_activity(
                session,
                customer_id=customer.id,
                lead_id=lead.id if lead is not None else None,
                kind=ActivityKind.NOTE,
                summary=summary,
                at=now,
                actor_id=me.id,
                data={
                    "call_sid": current.call_sid,
                    "script": script.ref,
                    "step": step.id,
                    "answer": chosen.id,
                    "field": lead_field,
                    "value": value,
                },
            )
            session.flush()
            body |= {"recorded": "timeline", "activity_id": activity.id}
        elif current.call is not None:
            append_note(current.call, summary, now, me.display_name)
            body["recorded"] = "call_notes"
        else:
            raise Conflict("this call has no record and no known caller yet", field="call_sid")
        record_position(session, clock, me.id, current.call_sid, script.name, chosen.next)
        if lead_field and value:
            body["why"] = (
                f"crm_core has no service that sets a lead's {lead_field}: the answer is kept "
                "on the timeline for the wrap-up"
            )
    # The step the script moves to: a sensitive one pauses the call's recording, leaving
    # it resumes (recording/control.py), once the answer is written.
    from console.recording_control import follow_script  # it imports this module

    body["recording"] = follow_script(current, script, chosen.next, me.id)
    return body


def position_target(call_sid: str) -> str:
    """The audit target of a call's script position: its own, so the call's log
    (``call:<sid>``: holds, transfers, recording) reads only what was done to the call."""
    return f"script:{call_sid}"


def record_position(
    session: Session, clock, agent_id: int, call_sid: str | None, script: str, step: str | None
) -> None:
    """Where the agent's script is on this call, in the audit log: a reloaded desk reads it
    back (:func:`script_position`) and opens the script at the same step."""
    if call_sid:
        audit(
            session,
            clock,
            actor_id=agent_id,
            action=POSITION_ACTION,
            target=position_target(call_sid),
            script=script,
            step=step or "",
        )


def script_position(session: Session, call_sid: str | None) -> dict[str, Any] | None:
    """The script and step the desk last showed on this call, or None (never moved)."""
    if not call_sid:
        return None
    for e in recent(session, target=position_target(call_sid), limit=1):
        if e.action == POSITION_ACTION:
            return {"script": e.detail.get("script"), "step": e.detail.get("step") or None}
    return None


@bp.post("/agents/me/script/position")
@require_role()
def position():
    """My script shows ``step`` of ``script`` now (a "Next" click): kept for a reload. 404:
    no such script or step; 409: not the call I am on."""
    data = parse(PositionIn, request.get_json(silent=True))
    me = g.principal.id
    script = _agent_script(need(Library), data.script)
    if data.step is not None and data.step not in {s.id for s in script.steps}:
        raise InvalidInput(f"{script.name} has no step {data.step}", field="step")
    with need(Database).session_factory.begin() as session:
        current = current_call(session, need(Router), me)
        if current is None or current.call_sid != data.call_sid:
            raise Conflict("that is not the call you are on", field="call_sid")
        record_position(session, need(Clock), me, current.call_sid, script.name, data.step)
    return {"call_sid": data.call_sid, "script": script.name, "step": data.step}


def append_note(call: Call, text: str, now: datetime, author: str) -> None:
    line = f"[{now.astimezone(ZoneInfo('UTC')):%Y-%m-%d %H:%M} UTC] {author}: {text}"
    notes = f"{call.notes}\n{line}" if call.notes else line
    if len(notes) > TEXT_LEN:
        raise InvalidInput(
            f"the call's notes would pass {TEXT_LEN} characters; put the rest on the customer",
            field="notes",
        )
    call.notes = notes


def iso(value: datetime | None) -> str | None:
    """A subquery's time: SQLite hands back text or a naive value, both UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.isoformat()
