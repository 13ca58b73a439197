"""The JSON API under /api: customers, leads, calls. Each view: parse → service → render."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from flask import Blueprint, g, request
from flask_wtf.csrf import generate_csrf

from console.auth import require_role
from crm_core import calls, customers, leads, privacy
from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.duplicates import find_duplicates, merge_customers
from crm_core.errors import Conflict, Forbidden, InvalidInput, NotFound
from crm_core.models import Call, LeadSource, LeadStage, Role
from crm_core.phones import normalize_phone
from crm_core.privacy import ErasureHooks
from crm_core.schemas import (
    ConsentIn,
    CustomerCreate,
    CustomerUpdate,
    LeadIn,
    OutcomeIn,
    StageChangeIn,
    parse,
)
from crm_core.serialize import call_dict, customer_detail, customer_summary, lead_dict, row
from crm_core.settings import Settings
from crm_core.timeline import activity_dict, timeline
from crm_core.users import get_user
from routing.service import Router
from telephony.context import need

bp = Blueprint("api", __name__)
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,12}")  # ASCII only: str.isdigit() accepts "¹"
ANY = ()
LEADS = (Role.SUPERVISOR, Role.ADMIN)
ADMIN = (Role.ADMIN,)


def _region() -> str:
    return need(Settings).default_region


def _body() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        raise InvalidInput("the body must be JSON (Content-Type: application/json)")
    return data


def _int_arg(name: str, default: int | None = None, lo: int = 0, hi: int = 2**31 - 1):
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    if not WHOLE_NUMBER.fullmatch(raw) or not lo <= int(raw) <= hi:
        raise InvalidInput(f"{name} must be a whole number from {lo} to {hi}", field=name)
    return int(raw)


def _enum_arg(name: str, enum: type[StrEnum]):
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        return enum(raw)
    except ValueError:
        choices = ", ".join(e.value for e in enum)
        raise InvalidInput(f"{name} must be one of {choices}", field=name) from None


def _time_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 time", field=name) from None
    if value.tzinfo is None:
        raise InvalidInput(f"{name} needs a UTC offset, e.g. 2026-01-05T09:00:00Z", field=name)
    return value


def _page() -> tuple[int, int]:
    return _int_arg("limit", 50, 1, 200), _int_arg("offset", 0, 0, 10**9)


# ------------------------------------------------------------------------------ me


@bp.get("/me")
@require_role(*ANY)
def me():
    p = g.principal
    return {
        "id": p.id,
        "username": p.username,
        "display_name": p.display_name,
        "role": p.role.value,
        "csrf_token": None if p.via_token else generate_csrf(),
    }


# ------------------------------------------------------------------------- customers


@bp.get("/customers")
@require_role(*ANY)
def list_customers():
    """``?phone=`` is the screen pop (one match or none); ``?q=`` searches names and e-mail."""
    phone, text = request.args.get("phone"), request.args.get("q")
    with need(Database).read_session_factory() as session:
        if phone is not None:
            found = customers.find_by_phone(session, phone, region=_region())
            return {"customers": [customer_summary(found)] if found else []}
        if text is not None:
            limit = _int_arg("limit", 25, 1, 100)
            return {
                "customers": [
                    customer_summary(c) for c in customers.search(session, text, limit=limit)
                ]
            }
    raise InvalidInput("give ?phone= or ?q=", field="phone")


@bp.post("/customers")
@require_role(*ANY)
def create_customer():
    """A new customer; ``call_sid`` links the call it is taken on (and adds its number)."""
    data = parse(CustomerCreate, _body(), region=_region())
    with need(Database).session_factory.begin() as session:
        customer = customers.create_customer(session, data, need(Clock), actor=g.principal)
        return customers.customer_card(session, customer), 201


@bp.get("/customers/<int:customer_id>")
@require_role(*ANY)
def get_customer(customer_id: int):
    with need(Database).read_session_factory() as session:
        customer = customers.load_detail(session, customer_id)
        body = customers.customer_card(session, customer)
        body["leads"] = [lead_dict(x) for x in leads.list_leads(session, customer_id=customer_id)]
        body["calls"] = [
            call_dict(c) for c in calls.list_calls(session, customer_id=customer_id, limit=20)
        ]
        body["timeline"] = [activity_dict(a) for a in timeline(session, customer_id, limit=50)]
        return body


@bp.patch("/customers/<int:customer_id>")
@require_role(*ANY)
def update_customer(customer_id: int):
    """Change some fields; the edit is one timeline entry saying who changed what."""
    data = parse(CustomerUpdate, _body(), region=_region())
    with need(Database).session_factory.begin() as session:
        customer = customers.update_customer(
            session, customer_id, data, need(Clock), actor=g.principal
        )
        return customers.customer_card(session, customer)


@bp.post("/customers/<int:customer_id>/phones")
@require_role(*ANY)
def add_phone(customer_id: int):
    body = _body()
    if not isinstance(body, dict) or "number" not in body:
        raise InvalidInput("give the number", field="number")
    with need(Database).session_factory.begin() as session:
        customers.add_phone(session, customer_id, body["number"], region=_region())
        return customer_detail(customers.get_customer(session, customer_id)), 201


@bp.get("/customers/<int:customer_id>/timeline")
@require_role(*ANY)
def customer_timeline(customer_id: int):
    limit, before = _int_arg("limit", 50, 1, 200), _int_arg("before_id")
    with need(Database).read_session_factory() as session:
        customers.get_customer(session, customer_id)
        items = timeline(session, customer_id, limit=limit, before_id=before)
        return {"timeline": [activity_dict(a) for a in items]}


@bp.post("/customers/<int:customer_id>/consent")
@require_role(*ANY)
def record_consent(customer_id: int):
    data = parse(ConsentIn, _body(), region=_region())
    with need(Database).session_factory.begin() as session:
        entry = customers.record_consent(
            session, customer_id, data, need(Clock), actor_id=g.principal.id
        )
        return row(entry), 201


@bp.get("/customers/<int:customer_id>/duplicates")
@require_role(*ANY)
def duplicates(customer_id: int):
    """Customers with the same phone or e-mail; ``?phone=``/``?email=`` check a value
    before it is saved."""
    phone, email = request.args.get("phone"), request.args.get("email")
    if phone not in (None, ""):
        phone = normalize_phone(phone, region=_region())
    if email not in (None, ""):
        email = parse(CustomerUpdate, {"email": email}).email
    with need(Database).read_session_factory() as session:
        found = find_duplicates(session, customer_id, phone=phone, email=email)
        return {"duplicates": found}


@bp.post("/customers/<int:customer_id>/merge")
@require_role(*LEADS)
def merge(customer_id: int):
    """Fold ``{"other_id": N}`` into this customer (supervisors and admins; an agent merges
    from their call: POST /api/calls/<CallSid>/customer/merge)."""
    other = _other_id(_body())
    with need(Database).session_factory.begin() as session:
        keep = merge_customers(session, customer_id, other, need(Clock), actor=g.principal)
        return customers.customer_card(session, keep)


def _other_id(body: Any) -> int:
    other = body.get("other_id", body.get("duplicate_id")) if isinstance(body, dict) else None
    if not isinstance(other, int) or isinstance(other, bool) or not 0 < other < 2**31:
        raise InvalidInput("other_id must be a customer id", field="other_id")
    return other


@bp.get("/customers/<int:customer_id>/export")
@require_role(*ADMIN)
def export(customer_id: int):
    with need(Database).read_session_factory() as session:
        return privacy.export_customer(session, customer_id)


@bp.post("/customers/<int:customer_id>/erase")
@require_role(*ADMIN)
def erase(customer_id: int):
    with need(Database).session_factory.begin() as session:
        privacy.erase_customer(
            session, customer_id, need(Clock), hooks=need(ErasureHooks), actor_id=g.principal.id
        )
    return "", 204


# ----------------------------------------------------------------------------- leads


@bp.post("/leads")
@require_role(*ANY)
def create_lead():
    data = parse(LeadIn, _body(), region=_region())
    settings = need(Settings)
    with need(Database).session_factory.begin() as session:
        lead = leads.create_lead(
            session,
            data,
            need(Clock),
            actor_id=g.principal.id,
            region=settings.default_region,
            default_time_zone=settings.default_time_zone,
        )
        return lead_dict(lead), 201


@bp.get("/leads")
@require_role(*ANY)
def list_leads():
    limit, offset = _page()
    with need(Database).read_session_factory() as session:
        found = leads.list_leads(
            session,
            stage=_enum_arg("stage", LeadStage),
            source_type=_enum_arg("source_type", LeadSource),
            assigned_agent_id=_int_arg("assigned_agent_id"),
            dealer_id=_int_arg("dealer_id"),
            customer_id=_int_arg("customer_id"),
            min_temperature=_int_arg("min_temperature", None, 0, 100),
            created_after=_time_arg("created_after"),
            limit=limit,
            offset=offset,
        )
        return {"leads": [lead_dict(x) for x in found], "limit": limit, "offset": offset}


@bp.get("/leads/<int:lead_id>")
@require_role(*ANY)
def get_lead(lead_id: int):
    with need(Database).read_session_factory() as session:
        lead = leads.get_lead(session, lead_id)
        return lead_dict(lead) | {"customer": customer_summary(lead.customer)}


@bp.post("/leads/<int:lead_id>/stage")
@require_role(*ANY)
def change_stage(lead_id: int):
    change = parse(StageChangeIn, _body())
    with need(Database).session_factory.begin() as session:
        lead = leads.change_stage(session, lead_id, change, need(Clock), actor_id=g.principal.id)
        return lead_dict(lead)


# ----------------------------------------------------------------------------- calls


@bp.get("/calls")
@require_role(*ANY)
def list_calls():
    limit, offset = _page()
    with need(Database).read_session_factory() as session:
        found = calls.list_calls(
            session,
            customer_id=_int_arg("customer_id"),
            agent_id=_int_arg("agent_id"),
            lead_id=_int_arg("lead_id"),
            since=_time_arg("since"),
            limit=limit,
            offset=offset,
        )
        return {"calls": [call_dict(c) for c in found], "limit": limit, "offset": offset}


@bp.get("/calls/<call_ref>")
@require_role(*ANY)
def get_call(call_ref: str):
    """A call by its CallSid (``CA…``) or its numeric id."""
    with need(Database).read_session_factory() as session:
        if WHOLE_NUMBER.fullmatch(call_ref):
            call = session.get(Call, int(call_ref))
            if call is None:
                raise NotFound(f"no call {call_ref}", field="call_sid")
        else:
            call = calls.get_call(session, call_ref[:64])
        return call_dict(call)


@bp.post("/calls/<call_sid>/customer/merge")
@require_role(*ANY)
def merge_into_call_customer(call_sid: str):
    """From the agent's desk: fold ``{"other_id": N}`` into the customer of this call.
    ``customer_id``, when sent, is the customer the card shows (409 if the call has another).
    An agent may do it only for the call they are connected with or wrapping up (404
    otherwise, as for anyone's offer); supervisors and admins for any call."""
    body = _body()
    other = _other_id(body)
    shown = body.get("customer_id") if isinstance(body, dict) else None
    if shown is not None and (not isinstance(shown, int) or isinstance(shown, bool)):
        raise InvalidInput("customer_id must be a customer id", field="customer_id")
    if g.principal.role is Role.AGENT and call_sid not in _my_live_calls():
        raise NotFound("you are not on that call now", field="call_sid")
    with need(Database).session_factory.begin() as session:
        call = calls.get_call(session, call_sid[:64])
        if call.customer_id is None:
            raise Conflict(
                "this call has no customer yet; save the caller's details first",
                field="call_sid",
            )
        if shown is not None and shown != call.customer_id:
            raise Conflict("this call belongs to another customer", field="customer_id")
        keep = merge_customers(session, call.customer_id, other, need(Clock), actor=g.principal)
        return customers.customer_card(session, keep)


def _my_live_calls() -> set[str]:
    """The CallSids of the call the signed-in agent is connected with or wrapping up."""
    router = need(Router)
    doc = router.agent(g.principal.id) or {}
    sids = set()
    if doc.get("call"):
        sids.add((router.entry(doc["call"]) or {}).get("call_sid"))
    if doc.get("state") == "wrap_up":
        sids.add(doc.get("last_call"))
    return {s for s in sids if s}


class NotYourCall(Forbidden):
    error_id = "not-your-call"


@bp.post("/calls/<call_sid>/outcome")
@require_role(*ANY)
def record_outcome(call_sid: str):
    """An agent writes the outcome of their own call only: the Call row names them, or the
    router has them on it or wrapping it up (the row may not have caught up yet). A call
    nobody took is not theirs to claim, nor is its recording; supervisors and admins write
    any call's outcome."""
    outcome = parse(OutcomeIn, _body(), region=_region())
    with need(Database).session_factory.begin() as session:
        actor = get_user(session, g.principal.id)
        if actor.role is Role.AGENT:
            owner = calls.get_call(session, call_sid[:64]).agent_id
            if owner != actor.id and (owner is not None or call_sid not in _my_live_calls()):
                raise NotYourCall(
                    "Only the agent who took this call, a supervisor or an admin may record "
                    "its outcome.",
                    field="call_sid",
                )
        call = calls.record_call_outcome(
            session, call_sid[:64], outcome, need(Clock), actor=actor, region=_region()
        )
        answer, agent_id, sid = call_dict(call), call.agent_id, call.call_sid
    from console.wrapup import outcome_saved  # (it imports this module)

    outcome_saved(agent_id, sid)  # an agent held in wrap-up for it goes on
    return answer
