"""Supervisors on live calls: listen, whisper (coach the agent) and barge, and the audit log.

A connected ACD call is a conference named after the caller's CallSid (routing/views.py),
so a supervisor joins it as one more participant, through the carrier's REST API, on their
own softphone (``client:<identity>``):

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

from typing import Literal

from flask import Blueprint, current_app, g, request
from pydantic import BaseModel, ConfigDict

from console.api import LEADS, _body
from console.auth import require_role
from crm_core.audit import AuditEntry, audit, recent
from crm_core.errors import CallCenterError, Conflict, NotFound
from crm_core.schemas import parse
from crm_core.users import get_user
from routing.scripts import from_ms
from routing.why import _clock, _record, explain
from telephony.carrier import CarrierError

bp = Blueprint("supervise", __name__)
MONITOR = "call.monitor"


class MonitorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["listen", "whisper", "barge"]


class CarrierFailed(CallCenterError):
    status = 502
    error_id = "carrier-failed"


def _deps():
    return current_app.extensions["callcenter"]


def _connected(entry_id: str) -> dict:
    """The ACD entry of a call an agent is on now; 409 otherwise."""
    entry = _deps().router.entry(entry_id[:64])
    if entry is None:
        raise NotFound("That call is no longer going on.", field="entry")
    if entry.get("state") != "connected" or not entry.get("agent"):
        raise Conflict("That call is not connected to an agent now.", field="entry")
    return entry


def _agent_leg(entry: dict) -> str:
    leg = _deps().dispatcher.leg(entry["id"], int(entry["agent"]))
    if leg is None:
        raise Conflict("the agent's leg of this call is not known", field="entry")
    return leg


def _carrier(operation, *args, **kwargs):
    try:
        return operation(*args, **kwargs)
    except CarrierError as exc:
        raise CarrierFailed(f"the carrier refused: {exc}") from exc


def _settings(mode: str, entry: dict) -> tuple[bool, str | None]:
    """(muted, the CallSid to coach) for a mode."""
    if mode == "listen":
        return True, None
    if mode == "whisper":
        return False, _agent_leg(entry)
    return False, None


@bp.post("/acd/calls/<entry_id>/monitor")
@require_role(*LEADS)
def monitor(entry_id: str):
    """Join a live call on the supervisor's softphone, in a mode."""
    d = _deps()
    data = parse(MonitorIn, _body())
    entry = _connected(entry_id)
    muted, coach = _settings(data.mode, entry)
    with d.read_session_factory() as session:
        identity = get_user(session, g.principal.id).softphone_identity
    participant = _carrier(
        d.carrier.add_participant,
        entry["id"],
        f"client:{identity}",
        d.dispatcher.caller_id,
        muted=muted,
        coach_call_sid=coach,
        label=f"supervisor-{g.principal.id}",
    )
    with d.session_factory.begin() as session:
        audit(
            session,
            d.clock,
            actor_id=g.principal.id,
            action=MONITOR,
            target=f"call:{entry['id']}",
            mode=data.mode,
            participant=participant,
            agent_id=int(entry["agent"]),
        )
    return {"entry": entry["id"], "mode": data.mode, "participant": participant}, 201


def _own_leg(entry_id: str, participant: str) -> None:
    """The supervisor started this monitoring leg (the audit log says so)."""
    with _deps().read_session_factory() as session:
        mine = [
            e
            for e in recent(session, target=f"call:{entry_id[:64]}", limit=500)
            if e.action == MONITOR
            and e.actor_id == g.principal.id
            and e.detail.get("participant") == participant
        ]
    if not mine:
        raise NotFound("no monitoring leg of yours on this call", field="participant")


def _conference(entry_id: str) -> str:
    sid = _carrier(_deps().carrier.find_conference, entry_id[:64])
    if sid is None:
        raise Conflict("the call's conference has ended", field="entry")
    return sid


@bp.post("/acd/calls/<entry_id>/monitor/<participant>")
@require_role(*LEADS)
def change_mode(entry_id: str, participant: str):
    """Listen → whisper → barge (or back) without leaving the call."""
    d = _deps()
    data = parse(MonitorIn, _body())
    _own_leg(entry_id, participant)
    entry = _connected(entry_id)
    muted, coach = _settings(data.mode, entry)
    conference = _conference(entry["id"])
    _carrier(d.carrier.coach, conference, participant, coach)
    _carrier(d.carrier.mute, conference, participant, muted)
    with d.session_factory.begin() as session:
        audit(
            session,
            d.clock,
            actor_id=g.principal.id,
            action="call.monitor_mode",
            target=f"call:{entry['id']}",
            mode=data.mode,
            participant=participant,
        )
    return {"entry": entry["id"], "mode": data.mode, "participant": participant}


@bp.post("/acd/calls/<entry_id>/monitor/<participant>/leave")
@require_role(*LEADS)
def leave(entry_id: str, participant: str):
    """The supervisor hangs up their leg; the call goes on."""
    d = _deps()
    _own_leg(entry_id, participant)
    conference = _carrier(d.carrier.find_conference, entry_id[:64])
    left = bool(conference) and _carrier(d.carrier.remove_participant, conference, participant)
    with d.session_factory.begin() as session:
        audit(
            session,
            d.clock,
            actor_id=g.principal.id,
            action="call.monitor_leave",
            target=f"call:{entry_id[:64]}",
            participant=participant,
        )
    return {"entry": entry_id[:64], "participant": participant, "left": left}


@bp.get("/acd/calls/<entry_id>/why")
@require_role(*LEADS)
def why(entry_id: str):
    """Why the call's agent was offered it: the router's reasons at the instant of the
    offer (routing/why.py), kept two days."""
    router = _deps().router
    found = explain(router, entry_id[:64])
    if found is None:
        raise NotFound(f"no offer of call {entry_id[:64]!r} is known", field="entry")
    record = _record(router, entry_id[:64]) or {}
    found["reason_parts"] = [reason_parts(r, _times(router, record)) for r in found["reasons"]]
    return found


def _times(router, record: dict) -> dict[str, str]:
    """The router-zone clock text (``09:30:05``) of each instant the reasons name → its ISO
    time, so the page can show it in the viewer's own zone."""
    out = {}
    for key in ("idle_since", "last_offered", "at"):
        if record.get(key):
            when = from_ms(record[key])
            out[_clock(router, when)] = when.isoformat()
    return out


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
    with _deps().read_session_factory() as session:
        entries = recent(session, limit=limit, target=request.args.get("target") or None)
        return {"entries": [_entry_json(e) for e in entries]}
