"""The callers waiting in each queue, for the wallboard's tiles: ``GET /api/acd/waiting``.

The snapshots (routing/snapshot.py) count callers; a supervisor who moves one to another
queue (``POST /api/acd/callers/<entry>/move``, console/acd_live.py) needs to see which. Read
only, straight from the router's Redis: each queue's waiting sorted sets (one per skill
signature, scored by priority then original enqueue time, so the scores compare across
them) give the first ``LIMIT`` callers in the order the router serves them; one HMGET reads
their entries. Bounded by LIMIT per signature, whatever the queue's length.

Each caller carries the customer's name found by caller ID (one query for every number
shown), and ``calls`` names the caller of every call an agent is on or is offered now, so
the agent table shows who is on the line rather than a CallSid.
"""

from __future__ import annotations

import heapq
import json
from typing import Any

from flask import Blueprint, current_app
from sqlalchemy import select

from console.api import LEADS
from console.auth import require_role
from crm_core.models import Customer, CustomerPhone

bp = Blueprint("waiting", __name__)
LIMIT = 20  # callers shown per queue; the tile's count says how many there are in all


def waiting(router) -> dict[str, list[dict[str, Any]]]:
    now_ms, _ = router.now()
    names = sorted(router.queues())
    r, keys = router.redis, router.keys
    pipe = r.pipeline(transaction=False)
    for name in names:
        pipe.smembers(keys.signatures(name))
    sigs = pipe.execute()
    pipe = r.pipeline(transaction=False)
    plan = []
    for name, members in zip(names, sigs, strict=True):
        for sig in sorted(m.decode() for m in members):
            pipe.zrange(keys.waiting(name, sig), 0, LIMIT - 1, withscores=True)
            plan.append(name)
    heads: dict[str, list[tuple[float, str]]] = {name: [] for name in names}
    for name, rows in zip(plan, pipe.execute(), strict=True):
        heads[name].extend((score, member.decode()) for member, score in rows)
    firsts = {name: heapq.nsmallest(LIMIT, rows) for name, rows in heads.items()}
    ids = [entry_id for rows in firsts.values() for _, entry_id in rows]
    docs = dict(zip(ids, r.hmget(keys.entries, ids), strict=True)) if ids else {}
    out: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        callers = []
        for _, entry_id in firsts[name]:
            raw = docs.get(entry_id)
            if not raw:
                continue  # gone between the two reads
            entry = json.loads(raw)
            if entry.get("state") != "waiting" or entry.get("queue") != name:
                continue
            callers.append(
                {
                    "entry": entry_id,
                    "phone": entry.get("phone") or None,
                    "name": None,
                    "kind": entry.get("kind") or "call",
                    "priority": int(entry.get("prio") or 0),
                    "waited_seconds": max(0, round((now_ms - int(entry["qt"])) / 1000)),
                }
            )
        out[name] = callers
    return out


def agents_calls(router) -> dict[str, dict[str, Any]]:
    """Every call an agent is on or is offered now: ``{entry: {phone, kind, queue}}``, from
    the agents' documents and one HMGET of their entries."""
    ids = set()
    for raw in router.redis.hvals(router.keys.agents):
        doc = json.loads(raw)
        ids.update(v for v in (doc.get("call"), doc.get("offer")) if v)
    ids = sorted(ids)
    raws = router.redis.hmget(router.keys.entries, ids) if ids else []
    out: dict[str, dict[str, Any]] = {}
    for entry_id, raw in zip(ids, raws, strict=True):
        entry = json.loads(raw) if raw else {}
        out[entry_id] = {
            "phone": entry.get("phone") or None,
            "name": None,
            "kind": entry.get("kind") or "call",
            "queue": entry.get("queue") or None,
        }
    return out


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
    deps = current_app.extensions["callcenter"]
    queues = waiting(deps.router)
    calls = agents_calls(deps.router)
    phones = {c["phone"] for rows in queues.values() for c in rows}
    phones |= {c["phone"] for c in calls.values()}
    with deps.read_session_factory() as session:
        names = names_by_phone(session, phones)
    for row in [c for rows in queues.values() for c in rows] + list(calls.values()):
        row["name"] = names.get(row["phone"])
    return {"queues": queues, "calls": calls, "limit": LIMIT}
