"""What supervisors see: each queue's live figures and today's, every agent's state, the
callers waiting in each queue and the calls the agents are on or offered.

Read-only. The live counts (callers waiting, agents per state) are kept by the scripts as
states change (the ``counts`` hash); today's counters (``stats``) likewise; the longest wait
is the oldest head among the queue's waiting sets.
"""

from __future__ import annotations

import heapq
import json
from typing import Any

from routing.scripts import from_ms
from routing.service import AgentState, Router

STATES = [s.value for s in AgentState]


def queues(router: Router) -> list[dict[str, Any]]:
    now_ms, day = router.now()
    configs = list(router.queues().values())
    r, keys = router.redis, router.keys
    pipe = r.pipeline(transaction=False)
    pipe.hgetall(keys.counts)
    pipe.hgetall(keys.stats(day))
    for q in configs:
        pipe.smembers(keys.signatures(q.name))
    counts, stats, *sigs = pipe.execute()
    counts = {k.decode(): int(v) for k, v in counts.items()}
    stats = {k.decode(): int(v) for k, v in stats.items()}
    heads = r.pipeline(transaction=False)
    for q, members in zip(configs, sigs, strict=True):
        for sig in members:
            heads.zrange(keys.waiting(q.name, sig.decode()), 0, 0)
    head_ids = [ids[0].decode() for ids in heads.execute() if ids]
    oldest: dict[str, int] = {}
    for entry_id in head_ids:
        entry = router.entry(entry_id)
        if entry is not None and entry["state"] == "waiting":
            oldest[entry["queue"]] = min(oldest.get(entry["queue"], now_ms), int(entry["qt"]))
    out = []
    for q in configs:
        n = q.name
        answered = stats.get(f"{n}|answered", 0)
        abandoned = stats.get(f"{n}|abandoned", 0)
        within = stats.get(f"{n}|answered_in_sl", 0)
        out.append(
            {
                "queue": n,
                "display_name": q.display_name,
                "strategy": str(q.strategy),
                "waiting": max(0, counts.get(f"{n}|waiting", 0)),
                "longest_wait_seconds": round((now_ms - oldest[n]) / 1000) if n in oldest else 0,
                "agents": {s: max(0, counts.get(f"{n}|{s}", 0)) for s in STATES if s != "offline"},
                "today": {
                    "offered": stats.get(f"{n}|entered", 0),  # calls that entered the queue
                    "answered": answered,
                    "abandoned": abandoned,
                    "answered_within": within,  # the wallboard's totals row sums these
                    # Service level: answered within the threshold, of those answered or
                    # abandoned (abandons count against it, as Twilio's and Genesys' do).
                    "service_level": round(within / (answered + abandoned), 3)
                    if answered + abandoned
                    else None,
                    "service_level_seconds": q.service_level_seconds,
                    "asa_seconds": round(stats.get(f"{n}|wait_ms", 0) / answered / 1000, 1)
                    if answered
                    else None,
                },
            }
        )
    return out


def agents(router: Router) -> list[dict[str, Any]]:
    docs = [router.agent(k.decode()) for k in router.redis.hkeys(router.keys.agents)]
    out = []
    for doc in sorted(filter(None, docs), key=lambda d: int(d["id"])):
        out.append(
            {
                "id": int(doc["id"]),
                "name": doc.get("name"),
                "state": doc.get("state"),
                "reason": doc.get("reason") or None,
                # None: not heard from since the router was rebuilt (routing/recovery.py)
                "since": from_ms(doc["since"]).isoformat() if doc.get("since") else None,
                "queues": doc.get("queues") or [],
                "offer": doc.get("offer") or None,
                "call": doc.get("call") or None,
                "wrap_until": from_ms(doc["wrap_until"]).isoformat()
                if doc.get("state") == "wrap_up" and doc.get("wrap_until")
                else None,
                "calls_today": doc.get("calls") or 0,
                "talk_seconds_today": doc.get("talk") or 0,
                "misses": doc.get("misses") or 0,
                "offline_after_call": doc.get("after_call") == "offline",
            }
        )
    return out


def waiting(router: Router, limit: int) -> dict[str, list[dict[str, Any]]]:
    """The first ``limit`` callers waiting in each queue, in the order the router serves
    them: each queue's waiting sets (one per skill signature, scored by priority then
    original enqueue time, so the scores compare across them) read to ``limit``, merged,
    and their entries read with one HMGET. Bounded by ``limit`` per signature."""
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
            pipe.zrange(keys.waiting(name, sig), 0, limit - 1, withscores=True)
            plan.append(name)
    heads: dict[str, list[tuple[float, str]]] = {name: [] for name in names}
    for name, rows in zip(plan, pipe.execute(), strict=True):
        heads[name].extend((score, member.decode()) for member, score in rows)
    firsts = {name: heapq.nsmallest(limit, rows) for name, rows in heads.items()}
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
