"""What supervisors see: each queue's live figures and today's, and every agent's state.

Read-only. The live counts (callers waiting, agents per state) are kept by the scripts as
states change (the ``counts`` hash); today's counters (``stats``) likewise; the longest wait
is the oldest head among the queue's waiting sets.
"""

from __future__ import annotations

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
