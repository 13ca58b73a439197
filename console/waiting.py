"""The callers waiting in each queue, for the wallboard's tiles: ``GET /api/acd/waiting``.

The snapshots (routing/snapshot.py) count callers; a supervisor who moves one to another
queue (``POST /api/acd/callers/<entry>/move``, console/acd_live.py) needs to see which:
the first ``LIMIT`` callers of each queue, in the order the router serves them, as the
router reads them (routing/snapshot.py ``waiting``), whatever the queue's length.

Each caller carries the customer's name found by caller ID (one query for every number
shown), and ``calls`` names the caller of every call an agent is on or is offered now, so
the agent table shows who is on the line rather than a CallSid.
"""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import select

from console.api import LEADS
from console.auth import require_role
from crm_core.db import Database
from crm_core.models import Customer, CustomerPhone
from routing.service import Router
from routing.snapshot import agents_calls, waiting
from telephony.context import need

bp = Blueprint("waiting", __name__)
LIMIT = 20  # callers shown per queue; the tile's count says how many there are in all


def names_by_phone(session, phones: set[str]) -> dict[str, str]:
    """The customers' names for these E.164 numbers (one query; unknown numbers, and
    customers erased on request, left out)."""
    phones = {p for p in phones if p}
    if not phones:
        return {}
    rows = session.execute(
        select(CustomerPhone.e164, Customer.first_name, Customer.last_name)
        .join(Customer, Customer.id == CustomerPhone.customer_id)
        .where(CustomerPhone.e164.in_(sorted(phones)), Customer.erased_at.is_(None))
    ).all()
    return {
        e164: name
        for e164, first, last in rows
        if (name := " ".join(p for p in (first, last) if p))
    }


@bp.get("/acd/waiting")
@require_role(*LEADS)
def waiting_view():
    """``{"queues": {name: [{entry, phone, name, kind, priority, waited_seconds}, ...]},
    "calls": {entry: {phone, name, kind, queue}}}``: each queue's list in the order the
    router will serve it, at most LIMIT long; ``calls`` the agents' current calls and
    offers. ``name`` is the customer's whose number it is, or null."""
    router = need(Router)
    queues = waiting(router, LIMIT)
    calls = agents_calls(router)
    phones = {c["phone"] for rows in queues.values() for c in rows}
    phones |= {c["phone"] for c in calls.values()}
    with need(Database).read_session_factory() as session:
        names = names_by_phone(session, phones)
    for row in [c for rows in queues.values() for c in rows] + list(calls.values()):
        row["name"] = names.get(row["phone"])
    return {"queues": queues, "calls": calls, "limit": LIMIT}
