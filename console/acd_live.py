"""The live ACD under /api: an agent's presence, offers and wrap-up; supervisors' view and
control. Each view: parse → the router → carry out its actions → render."""

from __future__ import annotations

from typing import Annotated

from flask import Blueprint, g
from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import select

from console.api import ANY, LEADS, _body
from console.auth import require_role
from crm_core.audit import audit
from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.errors import Conflict, NotFound
from crm_core.models import Call
from crm_core.schemas import parse
from crm_core.users import get_user
from routing import ending, snapshot
from routing.config import profile
from routing.lifecycle import CallParts
from routing.offers import Dispatcher
from routing.results import Left, Release, Result
from routing.service import AgentState, AwayReason, Router
from telephony.carrier import Carrier
from telephony.context import need

bp = Blueprint("acd_live", __name__)


class DispositionRequired(Conflict):
    """The agent's queue keeps them in wrap-up until the call's disposition is saved."""

    error_id = "disposition_required"


DISPOSITION_FIRST = "Save a disposition for this call before you go available."
DISPOSITION_FIRST_AWAY = "Save a disposition for this call before you change your status."


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: AgentState
    reason: AwayReason | None = None


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    queue: Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _parts() -> CallParts:
    sessions = need(Database).session_factory
    return CallParts(need(Router), need(Dispatcher), need(Carrier), sessions, need(Clock))


def entry_view(entry_id: str, entry: dict) -> dict:
    """A caller's ACD entry as the agent's pages show it (offered or connected)."""
    return {
        "entry": entry_id,
        "queue": entry.get("queue"),
        "kind": entry.get("kind"),
        "phone": entry.get("phone") or None,
        "call_sid": entry.get("call_sid") or None,
    }


def _agent_view(agent_id: int) -> dict:
    router = need(Router)
    doc = router.agent(agent_id)
    if doc is None:
        return {"id": agent_id, "state": "offline", "offer": None}
    offer = None
    if doc.get("offer"):
        offer = entry_view(doc["offer"], router.entry(doc["offer"]) or {})
    wrapping = doc["state"] == "wrap_up"
    found = router.wrap_up_call(agent_id) if wrapping else None
    return {
        "id": agent_id,
        "state": doc["state"],
        "reason": doc.get("reason") or None,
        "queues": doc.get("queues") or [],
        "offer": offer,
        "call": doc.get("call") or None,
        "wrap_until": router.when(doc["wrap_until"]).isoformat()
        if wrapping and doc.get("wrap_until")
        else None,
        # The call wrapped up is on a queue that needs its disposition saved first; past
        # wrap_until, the agent is held there ("overdue") until it is.
        "disposition_required": bool(found and found[1] and found[1].disposition_required),
        "wrap_overdue": router.wrap_overdue(doc),
        "offline_after_call": doc.get("after_call") == "offline",
    }


def _hold_for_disposition(user_id: int, state: AgentState) -> None:
    """The agent may not leave wrap-up by their own choice (available, away) while the
    call's disposition is required and not saved; signing out stays possible."""
    if state is AgentState.OFFLINE or not need(Router).disposition_pending(user_id):
        return
    message = DISPOSITION_FIRST if state is AgentState.AVAILABLE else DISPOSITION_FIRST_AWAY
    raise DispositionRequired(message, field="state")


def _set_presence(user_id: int, data: PresenceIn, *, supervisor: bool = False) -> dict:
    router = need(Router)
    with need(Database).read_session_factory() as session:
        agent = profile(get_user(session, user_id))
    wrapping = (router.agent(user_id) or {}).get("state") == AgentState.WRAP_UP
    if wrapping and not supervisor:
        _hold_for_disposition(user_id, data.state)
    if data.state is AgentState.AVAILABLE and wrapping:
        outcome = router.end_wrap_up(user_id)
    else:
        outcome = router.set_presence(agent, data.state, data.reason, supervisor=supervisor)
    need(Dispatcher).run(outcome.actions)
    return _agent_view(user_id)


# ------------------------------------------------------------------------- agents


@bp.get("/agents/me/state")
@require_role(*ANY)
def my_state():
    return _agent_view(g.principal.id)


@bp.post("/agents/me/presence")
@require_role(*ANY)
def my_presence():
    """available, away (with a reason code) or offline; available also ends wrap-up."""
    return _set_presence(g.principal.id, parse(PresenceIn, _body()))


@bp.post("/agents/me/offers/<entry>/accept")
@require_role(*ANY)
def accept(entry: str):
    """Accept from the screen; the softphone answering the ringing leg joins the caller."""
    outcome = need(Router).accept(g.principal.id, entry[:64])
    if outcome.state != Result.CONNECTED:
        raise NotFound("that call is no longer offered to you", field="entry")
    need(Dispatcher).run(outcome.actions)
    return _agent_view(g.principal.id)


@bp.post("/agents/me/offers/<entry>/reject")
@require_role(*ANY)
def reject(entry: str):
    dispatcher = need(Dispatcher)
    outcome = need(Router).release(g.principal.id, entry[:64], Release.REJECTED)
    if outcome.state == Result.NOOP:
        raise NotFound("that call is no longer offered to you", field="entry")
    dispatcher.stop_ringing(entry[:64], g.principal.id)
    dispatcher.run(outcome.actions)
    return _agent_view(g.principal.id)


@bp.post("/agents/me/wrap-up/end")
@require_role(*ANY)
def end_wrap_up():
    _hold_for_disposition(g.principal.id, AgentState.AVAILABLE)
    need(Dispatcher).run(need(Router).end_wrap_up(g.principal.id).actions)
    return _agent_view(g.principal.id)


# --------------------------------------------------------------------- supervisors


@bp.get("/acd/queues")
@require_role(*LEADS)
def queue_snapshot():
    return {"queues": snapshot.queues(need(Router))}


@bp.get("/acd/agents")
@require_role(*LEADS)
def agent_snapshot():
    return {"agents": snapshot.agents(need(Router))}


@bp.post("/acd/agents/<int:user_id>/presence")
@require_role(*LEADS)
def force_presence(user_id: int):
    """A supervisor sets an agent's presence (e.g. away when they left without logging out,
    or available to end a wrap-up, even one held for a disposition). Offline works in any
    state: ringing, the offer is withdrawn and the caller offered to the next agent; on a
    call, the agent goes offline when it ends (``offline_after_call``; if the agent's
    softphone is gone, end the call: POST /api/acd/calls/<call_sid>/end). Audited."""
    router = need(Router)
    data = parse(PresenceIn, _body())
    doc = router.agent(user_id) or {}
    before = doc.get("state")
    overridden = before == AgentState.WRAP_UP and router.disposition_pending(user_id)
    if data.state is AgentState.OFFLINE:
        view = _force_offline(user_id)
    else:
        view = _set_presence(user_id, data, supervisor=True)
    _audit(
        "agent.presence",
        f"agent:{user_id}",
        before=before,
        state=str(data.state),
        reason=str(data.reason) if data.reason else None,
        offline_after_call=view.get("offline_after_call") or None,
        disposition_overridden=overridden or None,
    )
    return view


def _force_offline(user_id: int) -> dict:
    router, dispatcher = need(Router), need(Dispatcher)
    with need(Database).read_session_factory() as session:
        agent = profile(get_user(session, user_id))
    outcome = router.force_offline(agent)
    if outcome.detail.get("entry"):  # the withdrawn offer's phone stops ringing
        dispatcher.stop_ringing(outcome.detail["entry"], user_id)
    dispatcher.run(outcome.actions)
    view = _agent_view(user_id)
    if outcome.state == "offline_after_call":
        doc = router.agent(user_id) or {}
        entry = router.entry(str(doc.get("call") or "")) or {}
        view |= {
            "offline_after_call": True,
            "call_sid": entry.get("call_sid") or doc.get("call") or None,
            "message": "The agent is on a call and will be signed out when it ends. "
            "If their phone is gone, end the call.",
        }
    return view


@bp.post("/acd/calls/<call_sid>/end")
@require_role(*LEADS)
def end_call(call_sid: str):
    """A supervisor ends a call: the caller is hung up at the carrier, the ACD forgets the
    call (a waiting caller is not counted as abandoned), the Call row says a supervisor
    ended it. Audited."""
    sid = call_sid[:64]
    in_acd = need(Router).entry(sid) is not None
    with need(Database).read_session_factory() as session:
        call = session.scalars(select(Call).where(Call.call_sid == sid)).one_or_none()
        live = call is not None and call.ended_at is None and call.ended_by is None
    if not in_acd and call is None:
        raise NotFound("There is no call with that reference.", field="call_sid")
    if not in_acd and not live:
        raise Conflict("That call has already ended.", field="call_sid")
    outcome = ending.end_call(_parts(), sid, Left.SUPERVISOR)
    was = {Result.GONE: "waiting", Result.ENDED: "connected"}.get(outcome.state, "not in a queue")
    _audit("call.end", f"call:{sid}", was=was)
    return {"call_sid": sid, "ended": True, "was": was}


@bp.post("/acd/callers/<entry>/move")
@require_role(*LEADS)
def move_caller(entry: str):
    """Move a waiting caller to another queue, keeping its place in time."""
    data = parse(MoveIn, _body())
    outcome = need(Router).move(entry[:64], data.queue)
    need(Dispatcher).run(outcome.actions)
    _audit("caller.move", f"call:{entry[:64]}", queue=data.queue, outcome=outcome.state)
    return {"entry": entry[:64], "queue": data.queue, "state": outcome.state}


def _audit(action: str, target: str, **detail) -> None:
    with need(Database).session_factory.begin() as session:
        audit(session, need(Clock), actor_id=g.principal.id, action=action, target=target, **detail)
