"""The agent's in-call controls: mute, hold, cold transfer to a queue, consult a colleague.

A connected ACD call is a conference named after the caller's CallSid (routing/views.py):
the caller and the agent's softphone leg (``client:<identity>``, the leg the Dispatcher
placed) are its participants. Every control here acts on the call the signed-in user is
connected to now, as the router says (``router.agent(me)["call"]``): no call is 409, and a
body naming another agent's call (``"call": "CA…"``, optional, so a stale page cannot act
on the wrong call) is 404. Every action is written to the audit log (``crm_core.audit``).

- mute: the agent's own leg, muted or not (the agent still hears the caller);
- hold: the caller on conference hold, hearing the carrier's default hold music (no
  ``HoldUrl``: Twilio plays its classical bucket, the simulator a stand-in); the time on
  hold is added to the Call row's ``hold_seconds`` when the caller comes back (or is
  transferred). When the hold began is read back from the audit log, so it survives a
  restart and any worker can end it;
- transfer to a queue (cold): the agent's part ends as if the call had (the agent wraps up,
  the Call row gets the first agent's queue, wait and talk), the caller joins the new queue
  at their ORIGINAL enqueue time (the router's entry is made here, with ``t0``; the caller's
  leg is then redirected to ``/twilio/acd/enqueue``, whose enqueue of an entry already
  there changes nothing) and is not counted as abandoned. The Call row ends with the last
  queue and agent; the first agent's part is in the audit log and the offers log;
- consult (warm): the colleague's softphone is added to the conference while the caller is
  on hold; an available colleague is made away ("meeting") for the consult so the router
  offers them nothing else, and is made available again on cancel. Cancel hangs up the
  colleague's leg and takes the caller off hold.

Not here (see the report in the commit): consult/complete and cold transfer to an agent
(the agent's leg joins with ``endConferenceOnExit``, so the first agent cannot leave
without ending the call, and the router has no transition handing an entry to another
agent), and the keypad (DTMF to the caller needs a participant ``AnnounceUrl`` with
``<Play digits>``, which neither the Carrier nor the simulator offers).
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, g
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt
from sqlalchemy import func, update

from console.api import _body
from console.auth import require_role
from console.supervise import CarrierFailed
from crm_core.audit import audit, recent
from crm_core.calls import record_routing
from crm_core.errors import Conflict, NotFound
from crm_core.models import Call
from crm_core.schemas import parse
from routing.model import AgentState, AwayReason, Priority
from routing.offers import PREFIX
from telephony.carrier import CarrierError

bp = Blueprint("incall", __name__)
ENQUEUE = f"{PREFIX}/enqueue"
HOLD_ACTIONS = ("call.hold", "call.consult", "call.consult_cancel", "call.transfer")
CONSULT_ACTIONS = ("call.consult", "call.consult_cancel")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call: str | None = Field(default=None, max_length=64)  # the call the page shows


class MuteIn(_In):
    muted: StrictBool


class HoldIn(_In):
    hold: StrictBool


class TransferIn(_In):
    queue: str = Field(min_length=1, max_length=64)


class ConsultIn(_In):
    agent_id: StrictInt = Field(ge=1)


def _deps():
    return current_app.extensions["callcenter"]


def _carrier(operation, *args, **kwargs):
    try:
        return operation(*args, **kwargs)
    except CarrierError as exc:
        raise CarrierFailed(f"the carrier refused: {exc}") from exc


def _my_call(named: str | None) -> dict:
    """The ACD entry the signed-in agent is connected to now."""
    router, me = _deps().router, g.principal.id
    agent = router.agent(me) or {}
    current = agent.get("call") or None
    if named and named != current:
        raise NotFound(f"you are not on call {named!r}", field="call")
    entry = router.entry(str(current)) if current else None
    if entry is None or entry.get("state") != "connected" or str(entry.get("agent")) != str(me):
        raise Conflict("you are not connected to a call now", field="call")
    return entry


def _conference(entry: dict) -> str:
    sid = _carrier(_deps().carrier.find_conference, entry["id"])
    if sid is None:
        raise Conflict("the call's conference has ended", field="call")
    return sid


def _caller_leg(entry: dict) -> str:
    if entry.get("kind") == "callback" or not entry.get("call_sid"):
        raise Conflict("a callback placed from the agent's leg has no conference", field="call")
    return entry["call_sid"]


def _log(action: str, entry: dict, **detail) -> None:
    d = _deps()
    with d.session_factory.begin() as session:
        audit(
            session,
            d.clock,
            actor_id=g.principal.id,
            action=action,
            target=f"call:{entry['id']}",
            **detail,
        )


def _held_since(entry_id: str) -> datetime | None:
    """When the caller was put on hold, if they are on hold now (the audit log says)."""
    with _deps().read_session_factory() as session:
        for e in recent(session, target=f"call:{entry_id}", limit=500):
            if e.action in HOLD_ACTIONS and "caller_hold" in e.detail:
                return e.at if e.detail["caller_hold"] else None
    return None


def _add_hold_time(call_sid: str, since: datetime | None) -> int:
    """The hold that began at ``since`` is over: its seconds go to the Call row."""
    if since is None:
        return 0
    d = _deps()
    seconds = max(0, round((d.clock.now() - since).total_seconds()))
    with d.session_factory.begin() as session:
        session.execute(
            update(Call)
            .where(Call.call_sid == call_sid[:64])
            .values(hold_seconds=func.coalesce(Call.hold_seconds, 0) + seconds)
        )
    return seconds


def _set_caller_hold(entry: dict, conference: str, hold: bool) -> int:
    """Hold or resume the caller; the seconds just spent on hold (on resume)."""
    caller = _caller_leg(entry)
    since = _held_since(entry["id"])
    _carrier(_deps().carrier.hold, conference, caller, hold)
    return 0 if hold else _add_hold_time(caller, since)


@bp.post("/agents/me/call/mute")
@require_role()
def mute():
    """The agent's own leg muted (or not) in the conference."""
    d = _deps()
    data = parse(MuteIn, _body())
    entry = _my_call(data.call)
    leg = d.dispatcher.leg(entry["id"], g.principal.id)
    if leg is None:
        raise Conflict("your leg of this call is not known", field="call")
    _carrier(d.carrier.mute, _conference(entry), leg, data.muted)
    _log("call.mute", entry, muted=data.muted, participant=leg)
    return {"call": entry["id"], "muted": data.muted}


@bp.post("/agents/me/call/hold")
@require_role()
def hold():
    """The caller on hold with music, or back; the time on hold goes to the Call row."""
    data = parse(HoldIn, _body())
    entry = _my_call(data.call)
    conference = _conference(entry)
    if (_held_since(entry["id"]) is not None) == data.hold:  # already so: nothing to do
        return {"call": entry["id"], "hold": data.hold, "held_seconds": 0}
    seconds = _set_caller_hold(entry, conference, data.hold)
    _log("call.hold", entry, caller_hold=data.hold, held_seconds=seconds or None)
    return {"call": entry["id"], "hold": data.hold, "held_seconds": seconds}


@bp.post("/agents/me/call/transfer")
@require_role()
def transfer():
    """Cold transfer to a queue, keeping the caller's place in time (see the module doc)."""
    d = _deps()
    data = parse(TransferIn, _body())
    entry = _my_call(data.call)
    target = d.router.queue(data.queue)  # 404 naming "queue" if not an active queue
    caller = _caller_leg(entry)
    held = _add_hold_time(caller, _held_since(entry["id"]))
    ended = d.router.call_ended(entry["id"])  # the agent wraps up; nobody abandoned
    if ended.state != "ended":
        raise Conflict("the call ended in the meantime", field="call")
    d.dispatcher.run(ended.actions)
    d.dispatcher.forget_leg(entry["id"], g.principal.id)
    with d.session_factory.begin() as session:
        record_routing(
            session,
            caller,
            queue=entry["queue"],
            agent_id=g.principal.id,
            wait_seconds=round(ended.detail["waited_ms"] / 1000),
            talk_seconds=round(ended.detail["talked_ms"] / 1000),
        )
    joined = d.router.enqueue(
        entry["id"],
        target.name,
        call_sid=caller,
        priority=Priority(entry.get("prio", 0)),
        needs=entry.get("need") or {},
        enqueued_at=d.router.when(entry["t0"]),
        kind=entry.get("kind", "call"),
        phone=entry.get("phone") or None,
        language=entry.get("lang") or "en-US",
        empty_check=False,
    )
    url = d.dispatcher.url(ENQUEUE, queue=target.name, lang=entry.get("lang") or None)
    try:
        d.carrier.redirect_call(caller, url)
    except CarrierError as exc:  # the caller hung up in that instant
        d.dispatcher.run(d.router.caller_gone(entry["id"], "abandoned").actions)
        _log("call.transfer", entry, queue=target.name, failed=str(exc)[:200], caller_hold=False)
        raise Conflict("the caller hung up before the transfer", field="call") from exc
    d.dispatcher.run(joined.actions)
    _log(
        "call.transfer",
        entry,
        queue=target.name,
        from_queue=entry["queue"],
        caller_hold=False,
        held_seconds=held or None,
    )
    return {
        "call": entry["id"],
        "queue": target.name,
        "state": joined.state,
        "agent_state": ended.detail["agent_state"],
    }


def _open_consult(entry_id: str) -> dict | None:
    """The detail of the signed-in agent's consult on this call still going, if any."""
    with _deps().read_session_factory() as session:
        for e in recent(session, target=f"call:{entry_id}", limit=500):
            if e.action in CONSULT_ACTIONS and e.actor_id == g.principal.id:
                return dict(e.detail) if e.action == "call.consult" else None
    return None


@bp.post("/agents/me/call/consult")
@require_role()
def consult():
    """A colleague's softphone joins the call while the caller holds (warm transfer)."""
    d = _deps()
    data = parse(ConsultIn, _body())
    entry = _my_call(data.call)
    if data.agent_id == g.principal.id:
        raise Conflict("you cannot consult yourself", field="agent_id")
    if _open_consult(entry["id"]) is not None:
        raise Conflict("a consult on this call is already going", field="agent_id")
    other = d.router._profile(data.agent_id)
    state = (d.router.agent(data.agent_id) or {}).get("state")
    if other is None or not other.identity:
        raise NotFound(f"agent {data.agent_id} is not logged in", field="agent_id")
    if state not in (AgentState.AVAILABLE, AgentState.AWAY):
        raise Conflict(f"agent {data.agent_id} is {state} now", field="agent_id")
    conference = _conference(entry)
    made_away = False
    if state == AgentState.AVAILABLE:  # no offers while consulted
        d.router.set_presence(other, "away", AwayReason.MEETING, expect=("available",))
        made_away = (d.router.agent(data.agent_id) or {}).get("state") == AgentState.AWAY
        if not made_away:
            raise Conflict(f"agent {data.agent_id} just took another call", field="agent_id")
    try:
        participant = d.carrier.add_participant(
            conference,
            f"client:{other.identity}",
            d.dispatcher.caller_id,
            label=f"consult-{data.agent_id}",
        )
    except CarrierError as exc:
        if made_away:
            _restore(data.agent_id)
        raise CarrierFailed(f"the carrier refused: {exc}") from exc
    if _held_since(entry["id"]) is None:
        _carrier(d.carrier.hold, conference, _caller_leg(entry), True)
    _log(
        "call.consult",
        entry,
        agent_id=data.agent_id,
        participant=participant,
        made_away=made_away,
        caller_hold=True,
    )
    return {"call": entry["id"], "agent_id": data.agent_id, "participant": participant}, 201


def _restore(agent_id: int) -> None:
    d = _deps()
    profile = d.router._profile(agent_id)
    if profile is not None:
        d.dispatcher.run(d.router.set_presence(profile, "available", expect=("away",)).actions)


@bp.post("/agents/me/call/consult/cancel")
@require_role()
def cancel_consult():
    """The colleague's leg is hung up; the caller comes off hold."""
    d = _deps()
    data = parse(_In, _body())
    entry = _my_call(data.call)
    going = _open_consult(entry["id"])
    if going is None:
        raise Conflict("no consult of yours is going on this call", field="call")
    conference = _conference(entry)
    left = _carrier(d.carrier.remove_participant, conference, going["participant"])
    seconds = _set_caller_hold(entry, conference, False)
    if going.get("made_away"):
        _restore(int(going["agent_id"]))
    _log(
        "call.consult_cancel",
        entry,
        agent_id=going["agent_id"],
        participant=going["participant"],
        caller_hold=False,
        held_seconds=seconds or None,
    )
    return {
        "call": entry["id"],
        "agent_id": going["agent_id"],
        "left": left,
        "held_seconds": seconds,
    }
