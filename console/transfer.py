"""Transfers and consults: the rest of the agent's in-call controls (console/incall.py says
how a control finds the agent's call, and what 409 and 404 mean). These views check who may
do what, account the caller's hold and write the audit log; the moves themselves (router,
carrier, Call row) are routing's (routing/transfers.py).

- transfer, cold, to a queue (``{"queue": …}``): the agent's part ends as if the call had
  (the agent wraps up, the Call row gets the first agent's queue, wait and talk), the
  caller joins the new queue at their ORIGINAL enqueue time (the router's entry is made
  here, with ``t0``; the caller's leg is then redirected to ``/twilio/acd/enqueue``, whose
  enqueue of an entry already there changes nothing) and is not counted as abandoned;
- transfer, cold, to an agent (``{"agent": <user id>}``, who must be available): the router
  hands the entry over (routing/handover.py): the first agent wraps up, the colleague's
  softphone rings like any offer, with the queue's offer timeout, while the caller holds
  in the queue (redirected to ``/twilio/acd/enqueue`` as above: the caller leaving ends the
  old conference and with it the first agent's leg). Answered, the caller is bridged to
  the colleague as for any offer; declined or unanswered, the caller waits in the original
  queue at the original enqueue time. The call was answered once: the queue's counts do
  not move again;
- consult (warm): the colleague's softphone is added to the conference while the caller is
  on hold; an available colleague is made away ("meeting") for the consult so the router
  offers them nothing else, and is made available again on cancel. Cancel hangs up the
  colleague's leg and takes the caller off hold;
- consult/complete: the colleague takes the call over in place. The router hands the entry
  to them (busy with it; the first agent wraps up), the colleague's leg becomes the one
  whose exit ends the conference and the first agent's leg stops being it
  (``endConferenceOnExit`` on the participants), the caller comes off hold, and the first
  agent's leg is taken out of the conference;
- transfer-targets: the active queues, and the agents who are available (transfer) or away
  (consult only), without oneself.
"""

from __future__ import annotations

from flask import g
from pydantic import Field, StrictInt

from console.api import _body
from console.auth import require_role
from console.incall import (
    _add_hold_time,
    _caller_leg,
    _conference,
    _held_since,
    _In,
    _log,
    _my_call,
    _parts,
    _set_caller_hold,
    bp,
)
from crm_core.audit import recent
from crm_core.db import Database
from crm_core.errors import Conflict, InvalidInput
from crm_core.schemas import parse
from routing import transfers
from routing.model import AgentState
from routing.service import Router
from telephony.context import need

CONSULT_ACTIONS = ("call.consult", "call.consult_cancel", "call.consult_complete")


class TransferIn(_In):
    queue: str | None = Field(default=None, min_length=1, max_length=64)
    agent: StrictInt | None = Field(default=None, ge=1)


class ConsultIn(_In):
    agent_id: StrictInt = Field(ge=1)


def _colleague(agent_id: int, *, states: tuple[str, ...], field: str):
    return transfers.colleague(need(Router), g.principal.id, agent_id, states=states, field=field)


@bp.post("/agents/me/call/transfer")
@require_role()
def transfer():
    """Cold transfer to a queue or to an agent, keeping the caller's place in time."""
    data = parse(TransferIn, _body())
    if (data.queue is None) == (data.agent is None):
        raise InvalidInput("name a queue or an agent to transfer to", field="queue")
    entry = _my_call(data.call)
    if _open_consult(entry["id"]) is not None:
        raise Conflict("complete or cancel your consult first", field="call")
    if data.agent is not None:
        return _to_agent(entry, data.agent)
    return _to_queue(entry, data.queue)


def _to_queue(entry: dict, queue: str):
    target = need(Router).queue(queue)  # 404 naming "queue" if not an active queue
    caller = _caller_leg(entry)
    held = _add_hold_time(caller, _held_since(entry["id"]))
    moved = _transferring(entry, transfers.to_queue, g.principal.id, target.name, queue=target.name)
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
        "queue": moved["queue"],
        "state": moved["state"],
        "agent_state": moved["agent_state"],
    }


def _to_agent(entry: dict, agent_id: int):
    _colleague(agent_id, states=(AgentState.AVAILABLE,), field="agent")
    caller = _caller_leg(entry)
    held = _add_hold_time(caller, _held_since(entry["id"]))
    audit = {"agent": agent_id, "queue": entry["queue"]}
    moved = _transferring(entry, transfers.to_agent, g.principal.id, agent_id, **audit)
    _log("call.transfer", entry, **audit, caller_hold=False, held_seconds=held or None)
    return {
        "call": entry["id"],
        "agent": agent_id,
        "queue": entry["queue"],
        "state": moved["state"],
        "agent_state": moved["agent_state"],
    }


def _transferring(entry: dict, move, *args, **audit) -> dict:
    """``move(parts, entry, *args)``; a caller who hung up in that instant is in the audit
    log as a failed transfer (then 409)."""
    try:
        return move(_parts(), entry, *args)
    except transfers.CallerHungUp as exc:
        _log("call.transfer", entry, failed=exc.reason, caller_hold=False, **audit)
        raise


def _open_consult(entry_id: str) -> dict | None:
    """The detail of the signed-in agent's consult on this call still going, if any."""
    with need(Database).read_session_factory() as session:
        for e in recent(session, target=f"call:{entry_id}", limit=500):
            if e.action in CONSULT_ACTIONS and e.actor_id == g.principal.id:
                return dict(e.detail) if e.action == "call.consult" else None
    return None


@bp.post("/agents/me/call/consult")
@require_role()
def consult():
    """A colleague's softphone joins the call while the caller holds (warm transfer)."""
    data = parse(ConsultIn, _body())
    entry = _my_call(data.call)
    if _open_consult(entry["id"]) is not None:
        raise Conflict("a consult on this call is already going", field="agent_id")
    states = (AgentState.AVAILABLE, AgentState.AWAY)
    other, state = _colleague(data.agent_id, states=states, field="agent_id")
    conference = _conference(entry)
    participant, made_away = transfers.consult(
        _parts(),
        entry,
        other,
        state,
        conference=conference,
        hold_caller=_held_since(entry["id"]) is None,
    )
    _log(
        "call.consult",
        entry,
        agent_id=data.agent_id,
        participant=participant,
        made_away=made_away,
        caller_hold=True,
    )
    return {"call": entry["id"], "agent_id": data.agent_id, "participant": participant}, 201


def _going(entry: dict) -> dict:
    going = _open_consult(entry["id"])
    if going is None:
        raise Conflict("no consult of yours is going on this call", field="call")
    return going


@bp.post("/agents/me/call/consult/cancel")
@require_role()
def cancel_consult():
    """The colleague's leg is hung up; the caller comes off hold."""
    entry = _my_call(parse(_In, _body()).call)
    going = _going(entry)
    conference = _conference(entry)
    left, seconds = transfers.cancel_consult(
        _parts(),
        conference,
        going["participant"],
        int(going["agent_id"]),
        made_away=bool(going.get("made_away")),
        caller_back=lambda: _set_caller_hold(entry, conference, False),
    )
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


@bp.post("/agents/me/call/consult/complete")
@require_role()
def complete_consult():
    """The consulted colleague takes the call over; the caller comes off hold and the
    first agent's leg leaves (it wraps up)."""
    entry = _my_call(parse(_In, _body()).call)
    going = _going(entry)
    other, leg = int(going["agent_id"]), going["participant"]
    conference = _conference(entry)
    handed, seconds = transfers.take_over(
        _parts(),
        entry,
        g.principal.id,
        other,
        conference=conference,
        leg=leg,
        caller_back=lambda: _set_caller_hold(entry, conference, False),
    )
    _log(
        "call.consult_complete",
        entry,
        agent_id=other,
        participant=leg,
        caller_hold=False,
        held_seconds=seconds or None,
        talked_seconds=round(handed.detail["talked_ms"] / 1000),
    )
    return {
        "call": entry["id"],
        "agent_id": other,
        "agent_state": handed.detail["agent_state"],
        "held_seconds": seconds,
    }


@bp.get("/agents/me/transfer-targets")
@require_role()
def transfer_targets():
    """Where a call can go: the active queues, and the colleagues logged in and free."""
    router = need(Router)
    queues = sorted(q.name for q in router.queues().values() if q.active)
    agents = transfers.colleagues(router, g.principal.id)
    return {"queues": [{"name": q} for q in queues], "agents": agents}
