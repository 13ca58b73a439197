"""The live ACD under /api: an agent's presence, offers and wrap-up; supervisors' view and
control. Each view: parse → the router → carry out its actions → render."""

from __future__ import annotations

from typing import Annotated

from flask import Blueprint, current_app, g
from pydantic import BaseModel, ConfigDict, StringConstraints

from console.api import ANY, LEADS, _body
from console.auth import require_role
from crm_core.audit import audit
from crm_core.errors import NotFound
from crm_core.schemas import parse
from crm_core.users import get_user
from routing import snapshot
from routing.config import profile
from routing.service import AgentState, AwayReason

bp = Blueprint("acd_live", __name__)


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: AgentState
    reason: AwayReason | None = None


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    queue: Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _deps():
    return current_app.extensions["callcenter"]


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
    d = _deps()
    doc = d.router.agent(agent_id)
    if doc is None:
        return {"id": agent_id, "state": "offline", "offer": None}
    offer = None
    if doc.get("offer"):
        offer = entry_view(doc["offer"], d.router.entry(doc["offer"]) or {})
    return {
        "id": agent_id,
        "state": doc["state"],
        "reason": doc.get("reason") or None,
        "queues": doc.get("queues") or [],
        "offer": offer,
        "call": doc.get("call") or None,
        "wrap_until": d.router.when(doc["wrap_until"]).isoformat()
        if doc["state"] == "wrap_up" and doc.get("wrap_until")
        else None,
    }


def _set_presence(user_id: int, data: PresenceIn) -> dict:
    d = _deps()
    with d.read_session_factory() as session:
        agent = profile(get_user(session, user_id))
    if (
        data.state is AgentState.AVAILABLE
        and (d.router.agent(user_id) or {}).get("state") == AgentState.WRAP_UP
    ):
        outcome = d.router.end_wrap_up(user_id)
    else:
        outcome = d.router.set_presence(agent, data.state, data.reason)
    d.dispatcher.run(outcome.actions)
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
    d = _deps()
    outcome = d.router.accept(g.principal.id, entry[:64])
    if outcome.state != "connected":
        raise NotFound("that call is no longer offered to you", field="entry")
    d.dispatcher.run(outcome.actions)
    return _agent_view(g.principal.id)


@bp.post("/agents/me/offers/<entry>/reject")
@require_role(*ANY)
def reject(entry: str):
    d = _deps()
    outcome = d.router.release(g.principal.id, entry[:64], "rejected")
    if outcome.state == "noop":
        raise NotFound("that call is no longer offered to you", field="entry")
    d.dispatcher.stop_ringing(entry[:64], g.principal.id)
    d.dispatcher.run(outcome.actions)
    return _agent_view(g.principal.id)


@bp.post("/agents/me/wrap-up/end")
@require_role(*ANY)
def end_wrap_up():
    d = _deps()
    d.dispatcher.run(d.router.end_wrap_up(g.principal.id).actions)
    return _agent_view(g.principal.id)


# --------------------------------------------------------------------- supervisors


@bp.get("/acd/queues")
@require_role(*LEADS)
def queue_snapshot():
    return {"queues": snapshot.queues(_deps().router)}


@bp.get("/acd/agents")
@require_role(*LEADS)
def agent_snapshot():
    return {"agents": snapshot.agents(_deps().router)}


@bp.post("/acd/agents/<int:user_id>/presence")
@require_role(*LEADS)
def force_presence(user_id: int):
    """A supervisor sets an agent's presence (e.g. away when they left without logging out,
    or available to end a wrap-up). Written to the audit log."""
    data = parse(PresenceIn, _body())
    before = (_deps().router.agent(user_id) or {}).get("state")
    view = _set_presence(user_id, data)
    _audit(
        "agent.presence",
        f"agent:{user_id}",
        before=before,
        state=str(data.state),
        reason=str(data.reason) if data.reason else None,
    )
    return view


@bp.post("/acd/callers/<entry>/move")
@require_role(*LEADS)
def move_caller(entry: str):
    """Move a waiting caller to another queue, keeping its place in time."""
    d = _deps()
    data = parse(MoveIn, _body())
    outcome = d.router.move(entry[:64], data.queue)
    d.dispatcher.run(outcome.actions)
    _audit("caller.move", f"call:{entry[:64]}", queue=data.queue, outcome=outcome.state)
    return {"entry": entry[:64], "queue": data.queue, "state": outcome.state}


def _audit(action: str, target: str, **detail) -> None:
    d = _deps()
    with d.session_factory.begin() as session:
        audit(session, d.clock, actor_id=g.principal.id, action=action, target=target, **detail)
