"""Supervisors on live calls: listen, whisper (coach the agent) and barge, and the audit log.

A connected ACD call is a conference named after the caller's CallSid (routing/views.py),
so a supervisor joins it as one more participant, through the carrier's REST API, on their
own softphone (``client:<identity>``), as routing/control.py does it:

- ``listen``: muted, hears both sides;
- ``whisper``: heard by the agent only (Twilio's coaching, ``callSidToCoach`` = the agent's
  leg);
- ``barge``: a full participant everyone hears.

The mode can change during the call, and the supervisor can leave without ending it. Every
action, these and the ACD's (forcing an agent's state, moving a caller), is written to the
audit log (``crm_core.audit``), readable at ``GET /api/audit``. A supervisor may change or
end only a monitoring leg the log shows they started.
"""

from __future__ import annotations

from flask import Blueprint, g, request
from pydantic import BaseModel, ConfigDict

from console.api import LEADS, _body
from console.auth import require_role
from console.incall import audit_call
from crm_core.audit import AuditEntry, recent
from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.errors import NotFound
from crm_core.schemas import parse
from crm_core.users import get_user
from routing import control
from routing.control import Mode
from routing.lifecycle import CallParts
from routing.offers import Dispatcher
from routing.service import Router
from routing.why import explain, instants
from telephony.carrier import Carrier
from telephony.context import need

bp = Blueprint("supervise", __name__)
MONITOR = "call.monitor"


class MonitorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Mode


def _parts() -> CallParts:
    sessions = need(Database).session_factory
    return CallParts(need(Router), need(Dispatcher), need(Carrier), sessions, need(Clock))


@bp.post("/acd/calls/<entry_id>/monitor")
@require_role(*LEADS)
def monitor(entry_id: str):
    """Join a live call on the supervisor's softphone, in a mode."""
    data = parse(MonitorIn, _body())
    entry = control.connected(need(Router), entry_id[:64])
    with need(Database).read_session_factory() as session:
        identity = get_user(session, g.principal.id).softphone_identity
    participant = control.monitor(_parts(), entry, g.principal.id, identity, data.mode)
    audit_call(
        MONITOR,
        entry["id"],
        mode=data.mode,
        participant=participant,
        agent_id=int(entry["agent"]),
    )
    return {"entry": entry["id"], "mode": data.mode, "participant": participant}, 201


def _own_leg(entry_id: str, participant: str) -> None:
    """The supervisor started this monitoring leg (the audit log says so)."""
    with need(Database).read_session_factory() as session:
        mine = [
            e
            for e in recent(session, target=f"call:{entry_id[:64]}", limit=500)
            if e.action == MONITOR
            and e.actor_id == g.principal.id
            and e.detail.get("participant") == participant
        ]
    if not mine:
        raise NotFound("no monitoring leg of yours on this call", field="participant")


@bp.post("/acd/calls/<entry_id>/monitor/<participant>")
@require_role(*LEADS)
def change_mode(entry_id: str, participant: str):
    """Listen → whisper → barge (or back) without leaving the call."""
    data = parse(MonitorIn, _body())
    _own_leg(entry_id, participant)
    entry = control.connected(need(Router), entry_id[:64])
    control.change_mode(_parts(), entry, participant, data.mode)
    audit_call("call.monitor_mode", entry["id"], mode=data.mode, participant=participant)
    return {"entry": entry["id"], "mode": data.mode, "participant": participant}


@bp.post("/acd/calls/<entry_id>/monitor/<participant>/leave")
@require_role(*LEADS)
def leave(entry_id: str, participant: str):
    """The supervisor hangs up their leg; the call goes on."""
    _own_leg(entry_id, participant)
    left = control.leave(need(Carrier), entry_id[:64], participant)
    audit_call("call.monitor_leave", entry_id[:64], participant=participant)
    return {"entry": entry_id[:64], "participant": participant, "left": left}


@bp.get("/acd/calls/<entry_id>/why")
@require_role(*LEADS)
def why(entry_id: str):
    """Why the call's agent was offered it: the router's reasons at the instant of the
    offer (routing/why.py), kept two days."""
    router = need(Router)
    found = explain(router, entry_id[:64])
    if found is None:
        raise NotFound(f"no offer of call {entry_id[:64]!r} is known", field="entry")
    times = instants(router, entry_id[:64])
    found["reason_parts"] = [reason_parts(r, times) for r in found["reasons"]]
    return found


def reason_parts(reason: str, times: dict[str, str]) -> list[dict[str, str]]:
    """A reason as ``[{"text": …} | {"time": ISO}, …]``: its clock times set apart for the
    page to format (Fmt.time) in the viewer's zone; the text around them kept as it is."""
    parts: list[dict[str, str]] = []
    rest = reason
    while rest:
        hits = [(rest.find(clock), clock) for clock in times if clock in rest]
        if not hits:
            parts.append({"text": rest})
            break
        at, clock = min(hits)
        if at:
            parts.append({"text": rest[:at]})
        parts.append({"time": times[clock]})
        rest = rest[at + len(clock) :]
    return parts


def _entry_json(e: AuditEntry) -> dict:
    return {
        "id": e.id,
        "at": e.at.isoformat(),
        "actor_id": e.actor_id,
        "action": e.action,
        "target": e.target,
        "detail": e.detail,
    }


@bp.get("/audit")
@require_role(*LEADS)
def audit_log():
    """The newest entries first; ``target=call:CA…`` or ``agent:12`` narrows it."""
    raw = request.args.get("limit", "100")
    limit = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 5 else 100
    with need(Database).read_session_factory() as session:
        entries = recent(session, limit=limit, target=request.args.get("target") or None)
        return {"entries": [_entry_json(e) for e in entries]}
