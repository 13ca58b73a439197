"""The agent's desk: the page (``GET /agent``), the screen pop of the call offered to or
connected with the signed-in agent (``GET /api/agents/me/screen-pop``), and the agent's own
live feed (``GET /api/agents/me/stream``).

The feed follows console/stream.py (the wallboard's): the router's event stream as the
process's one reader hands it out (routing/live.py), for at most ``ACD_STREAM_MAX_SECONDS``,
with ``: keep-alive`` comments between events and ``Last-Event-ID`` resume. It differs in
what it sends: only ``event: state``, the agent's whole state document, at the start and
whenever a stream entry concerns this agent (names it, or the call it is offered or
connected with). A state document is complete, so a page
never applies deltas and can never drift from the router. And ``event: reannounce`` when
Redis lost its data and the router was rebuilt (routing/recovery.py): the page posts its
presence again.

Times in the documents are the server's clock (the injected one): each carries ``now`` so
a page counts down against the server's time, not its own.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, g, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from console.acd_live import entry_view
from console.api import ANY
from console.auth import require_role
from console.softphone import page_settings as softphone_settings
from console.stream import EXTENSION, HEADERS, KEEP_ALIVE, RETRY_MS, follow, sse
from crm_core.calls import OPEN_STAGES, remote_party
from crm_core.db import Database
from crm_core.errors import InvalidInput, NotFound
from crm_core.models import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Call,
    Customer,
    CustomerPhone,
    Disposition,
    Lead,
    Task,
    TaskStatus,
    Vehicle,
    VehicleRelation,
)
from crm_core.phones import normalize_phone
from crm_core.serialize import customer_summary
from crm_core.settings import Settings
from crm_core.timeline import activity_dict, timeline
from routing.model import AwayReason
from routing.service import Router
from telephony.context import need

# The page's script and style are console/static/agent.*, served under their own path so
# this blueprint needs nothing from the others.
bp = Blueprint(
    "desk",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/desk",
)

TIMELINE_ITEMS = 5
OPEN_APPOINTMENTS = (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED)
LIST_LIMIT = 10


# ----------------------------------------------------------------------------- the page


@bp.get("/agent")
@require_role(*ANY)
def desk():
    """The agent's desk: a shell that static/agent.js fills from the feed and the pop."""
    settings = {
        "me": url_for("api.me"),
        "stream": url_for("desk.my_stream"),
        "screenPop": url_for("desk.screen_pop"),
        "desk": url_for("desk.my_desk"),
        "draft": "/api/agents/me/call/draft",  # console/wrapup.py: GET ?call_sid= / PUT
        "defaultTimeZone": need(Settings).default_time_zone,
        # Queues by the name a person reads (the transfer list names them so).
        "queueNames": {q.name: q.display_name or q.name for q in need(Router).queues().values()},
        "presence": url_for("acd_live.my_presence"),
        "offers": "/api/agents/me/offers/",  # + <entry>/accept | /reject
        "wrapUpEnd": url_for("acd_live.end_wrap_up"),
        "outcome": "/api/calls/",  # + <CallSid>/outcome
        "awayReasons": [r.value for r in AwayReason if r is not AwayReason.MISSED_OFFERS],
        "dispositions": [d.value for d in Disposition],
        "appointmentTypes": [t.value for t in AppointmentType],
        "softphone": softphone_settings(need(Settings)),  # console/softphone.py
    }
    return render_template("agent.html", settings=settings)


# ------------------------------------------------------------------------- state document


def state_document(router, agent_id: int) -> dict[str, Any]:
    """The agent's live state as the desk shows it: the fields of GET /api/agents/me/state,
    plus the offer's deadline, the connected call and the call being wrapped up. Plain
    arguments (no app context): the feed calls it after its view has returned."""
    now = router.clock.now()
    doc = router.agent(agent_id)
    if doc is None:
        return {"id": agent_id, "state": "offline", "offer": None, "now": now.isoformat()}
    offer = call = None
    if doc.get("offer"):
        entry = router.entry(doc["offer"]) or {}
        deadline = router.deadlines.offer_due(doc["offer"], agent_id)
        offer = {**entry_view(doc["offer"], entry), "deadline": _iso(router, deadline)}
    if doc.get("call"):
        entry = router.entry(doc["call"]) or {}
        call = {
            **entry_view(doc["call"], entry),
            "answered_at": _iso(router, entry.get("answered")),
        }
    wrapping = doc["state"] == "wrap_up"
    found = router.wrap_up_call(agent_id) if wrapping else None
    return {
        "id": agent_id,
        "state": doc["state"],
        "reason": doc.get("reason") or None,
        "queues": doc.get("queues") or [],
        "since": _iso(router, doc.get("since")),
        "offer": offer,
        "call": doc.get("call") or None,
        "connected": call,
        "wrap_until": _iso(router, doc.get("wrap_until")) if wrapping else None,
        "wrap_call_sid": (doc.get("last_call") or None) if wrapping else None,
        # As GET /api/agents/me/state says them (console/acd_live.py): the wrap-up's queue
        # needs the disposition saved first, and past wrap_until the agent is held for it.
        "disposition_required": bool(found and found[1] and found[1].disposition_required),
        "wrap_overdue": router.wrap_overdue(doc),
        "now": now.isoformat(),
    }


def _iso(router, value) -> str | None:
    return router.when(value).isoformat() if value not in (None, False, "") else None


# ------------------------------------------------------------------------------ screen pop


@bp.get("/api/agents/me/screen-pop")
@require_role(*ANY)
def screen_pop():
    """Everything about the caller offered to (or connected with, or being wrapped up by)
    the signed-in agent, without a click. 404 when there is no such call."""
    router, settings = need(Router), need(Settings)
    state = state_document(router, g.principal.id)
    with need(Database).read_session_factory() as session:
        return build_pop(
            session,
            router,
            state,
            region=settings.default_region,
            default_zone=settings.default_time_zone,
        )


def ivr_steps(path: str | None) -> list[str]:
    """ "sales > new vehicles" (or "main>sales>new") as ["Sales", "New vehicles"]: the
    menus' choices in words, the attendant's own opening ("main") left out."""
    if not path:
        return []
    steps = [p.strip().replace("_", " ") for p in path.split(">") if p.strip()]
    if len(steps) > 1 and steps[0].lower() == "main":
        steps = steps[1:]
    return [p[:1].upper() + p[1:] for p in steps]


def build_pop(
    session: Session,
    router,
    state: dict[str, Any],
    *,
    region: str,
    default_zone: str = "America/New_York",
) -> dict[str, Any]:
    """The pop for ``state`` (a :func:`state_document`), read in ``session``: a fixed
    number of queries whatever the customer's history (no per-row loading).

    ``time_zone`` is the dealership's, in which the agent types an appointment or a callback
    time: the lead's dealer's, else the queue's, else ``default_zone`` (DEFAULT_TIME_ZONE).
    ``ivr_steps`` is the IVR path as the words of its menus ("Sales", "New vehicles")."""
    live = state.get("offer") or state.get("connected")
    if live:
        stage = "offer" if state.get("offer") else "connected"
        entry = router.entry(live["entry"]) or {}
        call_sid = live.get("call_sid")
    elif state.get("wrap_call_sid"):
        stage, entry, call_sid = "wrap_up", {}, state["wrap_call_sid"]
    else:
        raise NotFound("no call is offered to you or connected with you", field="entry")
    call = (
        session.scalars(select(Call).where(Call.call_sid == call_sid)).one_or_none()
        if call_sid
        else None
    )
    phone = entry.get("phone") or (remote_party(call) if call is not None else None) or None
    customer = _customer(session, call, phone, region)
    waited, enqueued_at = _waited(router, entry, call, state["now"])
    queue_name = entry.get("queue") or (call.queue if call is not None else None)
    queue = router.queues().get(queue_name) if queue_name else None
    ivr_path = call.ivr_path if call is not None else None
    default_zone = (queue.time_zone if queue is not None else None) or default_zone
    pop: dict[str, Any] = {
        "stage": stage,
        "entry": live["entry"] if live else None,
        "call_sid": call_sid,
        "phone": phone,
        "queue": queue_name,
        "queue_display_name": (queue.display_name if queue is not None else None) or queue_name,
        "enqueued_at": enqueued_at,
        "waited_seconds": waited,
        "ivr_path": ivr_path,
        "ivr_steps": ivr_steps(ivr_path),
        "language": (call.language if call is not None else None) or entry.get("lang") or None,
        "script": (
            {"name": call.script_name, "version": call.script_version}
            if call is not None and call.script_name
            else None
        ),
        "offer_deadline": (state.get("offer") or {}).get("deadline"),
        "answered_at": (state.get("connected") or {}).get("answered_at"),
        "now": state["now"],
        "time_zone": default_zone,
        "dealer": None,  # the lead's dealership: {"name", "time_zone"}
        "customer": None,
        "lead": None,
        "vehicles": {"interest": [], "trade_in": []},
        "timeline": [],
        "appointments": [],
        "tasks": [],
    }
    if customer is None:
        return pop
    lead = _lead(session, customer.id, call.lead_id if call is not None else None)
    if lead is not None and lead.dealer is not None:
        pop["dealer"] = {"name": lead.dealer.name, "time_zone": lead.dealer.time_zone}
        if lead.dealer.time_zone:
            pop["time_zone"] = lead.dealer.time_zone
    pop["customer"] = customer_summary(customer) | {
        "preferred_makes": customer.preferred_makes or [],
        "preferred_models": customer.preferred_models or [],
        "price_min": customer.price_min,
        "price_max": customer.price_max,
        "special_needs": customer.special_needs,
    }
    pop["lead"] = _lead_dict(lead) if lead is not None else None
    pop["vehicles"] = _vehicles(session, customer.id, lead.id if lead is not None else None)
    pop["timeline"] = [
        activity_dict(a) for a in timeline(session, customer.id, limit=TIMELINE_ITEMS)
    ]
    now = datetime.fromisoformat(state["now"])
    pop["appointments"] = [
        {
            "id": a.id,
            "type": a.type.value,
            "status": a.status.value,
            "start_at": a.start_at.isoformat(),
            "end_at": a.end_at.isoformat(),
            "resource": a.resource,
        }
        for a in session.scalars(
            select(Appointment)
            .where(
                Appointment.customer_id == customer.id,
                Appointment.status.in_(OPEN_APPOINTMENTS),
                Appointment.end_at >= now,
            )
            .order_by(Appointment.start_at, Appointment.id)
            .limit(LIST_LIMIT)
        )
    ]
    pop["tasks"] = [
        {
            "id": t.id,
            "kind": t.kind.value,
            "title": t.title,
            "due_at": t.due_at.isoformat(),
            "owner_id": t.owner_id,
            "priority": t.priority,
        }
        for t in session.scalars(
            select(Task)
            .where(Task.customer_id == customer.id, Task.status == TaskStatus.OPEN)
            .order_by(Task.due_at, Task.id)
            .limit(LIST_LIMIT)
        )
    ]
    return pop


def _customer(session: Session, call: Call | None, phone: str | None, region: str):
    """The call's customer, else whoever owns the caller's number; erased ones are unknown."""
    query = select(Customer).options(selectinload(Customer.phones))
    if call is not None and call.customer_id is not None:
        query = query.where(Customer.id == call.customer_id)
    elif phone:
        try:
            e164 = normalize_phone(phone, region=region)
        except InvalidInput:  # a client identity or a withheld number: nobody to look up
            return None
        query = query.join(CustomerPhone, CustomerPhone.customer_id == Customer.id).where(
            CustomerPhone.e164 == e164
        )
    else:
        return None
    customer = session.scalars(query).one_or_none()
    return customer if customer is not None and customer.erased_at is None else None


def _lead(session: Session, customer_id: int, call_lead_id: int | None) -> Lead | None:
    """The call's own lead if it is still open, else the customer's newest open lead."""
    leads = list(
        session.scalars(
            select(Lead)
            .where(Lead.customer_id == customer_id, Lead.stage.in_(OPEN_STAGES))
            .order_by(Lead.created_at.desc(), Lead.id.desc())
            .limit(LIST_LIMIT)
        )
    )
    own = [x for x in leads if x.id == call_lead_id]
    return own[0] if own else (leads[0] if leads else None)


def _lead_dict(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.id,
        "stage": lead.stage.value,
        "temperature": lead.temperature,
        "source_type": lead.source_type.value,
        "source_name": lead.source_name,
        "campaign": lead.campaign,
        "created_at": lead.created_at.isoformat(),
        "notes": lead.notes,
        "assigned_agent_id": lead.assigned_agent_id,
    }


def _vehicles(session: Session, customer_id: int, lead_id: int | None) -> dict[str, list]:
    """The vehicles of interest and trade-ins on file: the lead's first, then the rest."""
    found = session.scalars(
        select(Vehicle)
        .where(
            Vehicle.customer_id == customer_id,
            Vehicle.relation.in_((VehicleRelation.INTEREST, VehicleRelation.TRADE_IN)),
        )
        .order_by(Vehicle.id.desc())
        .limit(LIST_LIMIT * 2)
    )
    out: dict[str, list] = {"interest": [], "trade_in": []}
    for v in sorted(found, key=lambda v: v.lead_id != lead_id if lead_id else False):
        out[v.relation.value].append(
            {
                "id": v.id,
                "lead_id": v.lead_id,
                "year": v.year,
                "make": v.make,
                "model": v.model,
                "trim": v.trim,
                "vin": v.vin,
                "condition": v.condition.value if v.condition else None,
                "odometer": v.odometer,
                "price": float(v.price) if v.price is not None else None,
                "trade_value": float(v.trade_value) if v.trade_value is not None else None,
                "trade_payoff": float(v.trade_payoff) if v.trade_payoff is not None else None,
            }
        )
    return out


def _waited(router, entry: dict, call: Call | None, now_iso: str) -> tuple[int | None, str | None]:
    """(seconds the caller waited, when it first joined a queue): from the router's entry
    (its original enqueue time, kept across moves, to the answer or now), else the row."""
    if entry.get("t0") is not None:
        start = router.when(entry["t0"])
        end = (
            router.when(entry["answered"])
            if entry.get("answered")
            else datetime.fromisoformat(now_iso)
        )
        return max(0, round((end - start) / timedelta(seconds=1))), start.isoformat()
    if call is not None:
        return call.wait_seconds, None
    return None, None


# ------------------------------------------------------------------ the desk, rebuilt


@bp.get("/api/agents/me/desk")
@require_role(*ANY)
def my_desk():
    """Everything a desk needs to stand again after a reload, in one answer: the agent's
    state document, the pop of the call (null without one), the call's controls as they
    are (muted, on hold, consulting, and the agent's softphone leg to take back) and where
    the script was (``{"script", "step"}``, null if it never moved)."""
    from console.call_script import current_call, script_position
    from console.incall import controls_of

    router, settings = need(Router), need(Settings)
    me = g.principal.id
    state = state_document(router, me)
    body: dict[str, Any] = {"state": state, "pop": None, "controls": None, "script": None}
    with need(Database).read_session_factory() as session:
        if state.get("offer") or state.get("connected") or state.get("wrap_call_sid"):
            body["pop"] = build_pop(
                session,
                router,
                state,
                region=settings.default_region,
                default_zone=settings.default_time_zone,
            )
        current = current_call(session, router, me)
        if current is not None and current.stage != "offer":
            body["script"] = script_position(session, current.call_sid)
    if state.get("call"):
        entry = router.entry(state["call"])
        if entry is not None and entry.get("state") == "connected":
            body["controls"] = controls_of(entry, me)
    return body


# ----------------------------------------------------------------------------- the feed


@bp.get("/api/agents/me/stream")
@require_role(*ANY)
def my_stream():
    """The signed-in agent's state, live (text/event-stream); see the module docstring."""
    settings = need(Settings)
    feed = _feed(
        need(Router),
        current_app.extensions[EXTENSION],
        g.principal.id,
        request.headers.get("Last-Event-ID", "").strip(),
        block=float(settings.acd_stream_block_seconds),
        limit=float(settings.acd_stream_max_seconds),
    )
    return Response(feed, mimetype="text/event-stream", headers=HEADERS)


def _feed(router, feeds, agent_id: int, last_id: str, *, block: float, limit: float):
    """The response body, on the wallboard's loop (console/stream.py ``follow``): the
    state first unless resumed, then again whenever an event concerns this agent."""
    yield f"retry: {RETRY_MS}\n\n"
    state: dict[str, Any] = {}
    for tick in follow(feeds, last_id, block=block, limit=limit):
        if tick.entries is None:
            state = state_document(router, agent_id)  # what to watch; sent when it changes
            if not tick.resumed:
                yield _state(tick.last_id, state)
        elif not tick.entries:
            yield KEEP_ALIVE
        else:
            watched = {x["entry"] for x in (state.get("offer"), state.get("connected")) if x}
            for event_id, raw in tick.entries:  # Redis lost its data: post your presence
                if b'"reannounce"' in raw:
                    yield sse("reannounce", event_id, raw.decode())
            if any(_concerns(raw, agent_id, watched) for _, raw in tick.entries):
                state = state_document(router, agent_id)
                yield _state(tick.last_id, state)


def _state(event_id: str, state: dict[str, Any]) -> str:
    return sse("state", event_id, json.dumps(state, separators=(",", ":")))


def _concerns(raw: bytes, agent_id: int, watched: set[str]) -> bool:
    """Does this router event change what the agent sees: it names the agent, or the call
    the agent is offered or connected with (a caller hanging up while ringing names only
    the call)."""
    try:
        event = json.loads(raw)
    except ValueError:
        return False
    if str(event.get("agent")) == str(agent_id):
        return True
    return bool(event.get("entry")) and event["entry"] in watched
