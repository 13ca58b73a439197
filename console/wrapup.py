"""Wrap-up that never throws a disposition away: the agent's draft of a call's outcome, kept
on the server as the form is filled, and the supervisors' list of calls left without one.

    PUT /api/agents/me/call/draft          {"call_sid", "disposition"?, "notes"?, …}
                                           → {"call_sid", "saved_at"}
    GET /api/agents/me/call/draft?call_sid=…
                                           → {"call_sid", "draft", "saved_at", "outcome"}
    GET /api/calls/missing-disposition?days=1..31   (supervisor, admin)
                                           → {"calls": [...]}, newest first

A draft belongs to the agent who is on the call, wrapping it up, or whose call it is (the
Call row's agent). What happens to a draft when wrap-up ends first is crm_core/drafts.py's.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request
from sqlalchemy import select

from console.api import ANY, LEADS, _body
from console.auth import require_role
from crm_core import drafts
from crm_core.acd import RoutingQueue
from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.errors import Forbidden, InvalidInput
from crm_core.models import Call
from crm_core.settings import Settings
from routing.offers import Dispatcher
from routing.service import Router
from telephony.context import need

bp = Blueprint("wrapup", __name__)
MAX_DAYS = 31


def _call_sid(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("Say which call the draft is for (call_sid).", field="call_sid")
    if len(raw) > 64:
        raise InvalidInput("That call reference is too long to be one of ours.", field="call_sid")
    return raw.strip()


def _live_calls(agent_id: int) -> set[str]:
    """The CallSids the agent is on or wrapping up, as the router knows them now."""
    router = need(Router)
    doc = router.agent(agent_id) or {}
    sids = {doc.get("last_call")} if doc.get("state") == "wrap_up" else set()
    if doc.get("call"):
        entry = router.entry(str(doc["call"])) or {}
        sids |= {str(doc["call"]), entry.get("call_sid")}
    return {s for s in sids if s}


def _own(call: Call, agent_id: int) -> None:
    if call.agent_id == agent_id or call.call_sid in _live_calls(agent_id):
        return
    raise Forbidden("That call is not one of yours, so you cannot keep a draft for it.")


@bp.put("/agents/me/call/draft")
@require_role(*ANY)
def save_draft():
    """The wrap-up form as it is now; never refused for being incomplete."""
    body = _body()
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object.")
    call_sid = _call_sid(body.get("call_sid"))
    fields = {k: v for k, v in body.items() if k != "call_sid"}
    with need(Database).session_factory.begin() as session:
        call = drafts.find_call(session, call_sid)
        _own(call, g.principal.id)
        drafts.save_draft(session, call, fields, need(Clock))
        return {"call_sid": call.call_sid, "saved_at": call.outcome_draft_at.isoformat()}


@bp.get("/agents/me/call/draft")
@require_role(*ANY)
def get_draft():
    """What a reloaded desk restores: the draft, or the outcome already saved."""
    call_sid = _call_sid(request.args.get("call_sid"))
    with need(Database).session_factory() as session:
        call = drafts.find_call(session, call_sid)
        _own(call, g.principal.id)
        return drafts.draft_view(call)


def _days() -> int:
    raw = request.args.get("days", "1")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise InvalidInput(f"days is a whole number from 1 to {MAX_DAYS}.", field="days")
    return int(raw)


@bp.get("/calls/missing-disposition")
@require_role(*LEADS)
def missing_disposition():
    """Answered calls with an agent and no saved outcome (none, or an incomplete one), from
    local midnight ``days - 1`` days ago (default: today) in the call center's time zone."""
    since = drafts.day_start(need(Clock), need(Settings).default_time_zone, _days())
    with need(Database).read_session_factory() as session:
        names = dict(session.execute(select(RoutingQueue.name, RoutingQueue.display_name)).all())
        calls = drafts.missing_disposition(session, since)
        return {"calls": [drafts.missing_view(session, c, names) for c in calls]}


def outcome_saved(agent_id: int | None, call_sid: str) -> None:
    """The call's outcome was just saved (and committed): an agent held in wrap-up past its
    time for it (a queue with ``disposition_required``) is released now."""
    if agent_id is None:
        return
    router = need(Router)
    doc = router.agent(agent_id)
    if doc is None or doc.get("last_call") != call_sid or not router.wrap_overdue(doc):
        return
    need(Dispatcher).run(router.end_wrap_up(agent_id).actions)
