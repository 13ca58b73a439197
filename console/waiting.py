"""The callers waiting in each queue, for the wallboard's tiles: ``GET /api/acd/waiting``.

The snapshots (routing/snapshot.py) count callers; a supervisor who moves one to another
queue (``POST /api/acd/callers/<entry>/move``, console/acd_live.py) needs to see which. Read
only, straight from the router's Redis: each queue's waiting sorted sets (one per skill
signature, scored by priority then original enqueue time, so the scores compare across
them) give the first ``LIMIT`` callers in the order the router serves them; one HMGET reads
their entries. Bounded by LIMIT per signature, whatever the queue's length.
"""

from __future__ import annotations

import heapq
import json
from typing import Any

from flask import Blueprint, current_app

from console.api import LEADS
from console.auth import require_role

bp = Blueprint("waiting", __name__)
LIMIT = 20  # callers shown per queue; the tile's count says how many there are in all


def waiting(router) -> dict[str, list[dict[str, Any]]]:
    now_ms, _ = router._now()
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
                    "kind": entry.get("kind") or "call",
                    "priority": int(entry.get("prio") or 0),
                    "waited_seconds": max(0, round((now_ms - int(entry["qt"])) / 1000)),
                }
            )
        out[name] = callers
    return out


@bp.get("/acd/waiting")
@require_role(*LEADS)
def waiting_view():
    """``{"queues": {name: [{entry, phone, kind, priority, waited_seconds}, ...]}}``, each
    list in the order the router will serve it, at most LIMIT long."""
    return {"queues": waiting(current_app.extensions["callcenter"].router), "limit": LIMIT}
