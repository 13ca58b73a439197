"""The ACD's configuration API under /api: queues, agents' skills, and why a call went where
it went. Each view: parse → service → render; the rules are in crm_core.acd."""

from __future__ import annotations

from flask import Blueprint

from console.api import ADMIN, LEADS, _body
from console.auth import require_role
from crm_core import acd
from crm_core.acd_schemas import QueueIn, QueueUpdate, SkillsIn
from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.schemas import parse
from crm_core.serialize import row
from crm_core.users import get_user
from telephony.context import need

bp = Blueprint("acd_api", __name__)


@bp.get("/queues")
@require_role(*LEADS)
def list_queues():
    with need(Database).read_session_factory() as session:
        return {"queues": [acd.queue_config(q).to_dict() for q in acd.list_queues(session)]}


@bp.post("/queues")
@require_role(*ADMIN)
def create_queue():
    data = parse(QueueIn, _body())
    with need(Database).session_factory.begin() as session:
        return acd.queue_config(acd.create_queue(session, data, need(Clock))).to_dict(), 201


@bp.patch("/queues/<name>")
@require_role(*ADMIN)
def update_queue(name: str):
    data = parse(QueueUpdate, _body())
    with need(Database).session_factory.begin() as session:
        return acd.queue_config(acd.update_queue(session, name[:64], data, need(Clock))).to_dict()


@bp.get("/agents/<int:user_id>/skills")
@require_role(*LEADS)
def agent_skills(user_id: int):
    with need(Database).read_session_factory() as session:
        return acd.AgentInfo.of(get_user(session, user_id)).to_dict()


@bp.put("/agents/<int:user_id>/skills")
@require_role(*ADMIN)
def set_agent_skills(user_id: int):
    data = parse(SkillsIn, _body())
    with need(Database).session_factory.begin() as session:
        return acd.set_agent_skills(session, user_id, data.skills).to_dict()


@bp.get("/calls/<call_sid>/offers")
@require_role(*LEADS)
def call_offers(call_sid: str):
    """Why this agent got this call: every offer, its candidates and scores, the rule."""
    with need(Database).read_session_factory() as session:
        offers = acd.offers_for_call(session, call_sid[:64])
        return {"call_sid": call_sid[:64], "offers": [row(o) for o in offers]}
