"""Position in line and estimated wait, for the hold loop's announcements.

**Position** counts every caller in the queue ahead of this one: a higher priority, or the
same priority and an earlier original enqueue time (the same instant: a smaller id, as the
waiting zsets order them), whatever skills they need (one ZCOUNT per skill signature of the
queue).

**Wait.** The caller at position N is answered when the N-th agent frees up, counting every
agent who frees up from now on: the eligible agents logged in (the queue in their ``queues``,
the skills the caller needs) each free up

* available or pending: now;
* wrapping up: at ``wrap_until``;
* ringing (reserved): after one handle time (the call they are offered);
* on a call (busy since ``since``, the answer): after the rest of that call plus wrap-up;

and each of the N - 1 callers ahead takes the earliest free agent for one handle time. The
handle times are the queue's last 50 (talk plus wrap-up, ``keys.handle_times``).

What the rest of a call and a handle time are matters more than it seems. Replacing them by
their means (every busy agent frees at ``answered + mean``, every caller takes the mean) turns
the queue into clockwork and is badly wrong for real calls, whose lengths spread widely: with
seven agents on calls, the first caller in line waits for the *first* of seven to hang up,
about a seventh of a handle time when lengths are exponential, not the whole one clockwork
says; and a call already longer than the mean is not about to end (for exponential lengths
it has a full mean still to go). So the wait is simulated ``SIMULATIONS`` times with lengths
drawn from the recent handle times themselves (a bootstrap): the rest of a call that has
lasted ``e`` seconds is drawn from the recent handle times longer than ``e``, less ``e``
(their tail's mean residual when fewer than ``MIN_TAIL`` are that long). The estimate is the
**median** of the simulated waits: the value that minimises the mean absolute error, which is
what the accuracy report (``crm_core.acd_records.estimate_accuracy``) measures. With too few
handle times (< ``MIN_SAMPLES``), lengths are exponential with the mean known (or
``DEFAULT_HANDLE_SECONDS``): the least assuming choice.

Cost is bounded. A run simulates at most ``MAX_EVENTS`` departures, the rest at the long-run
rate (agents ÷ mean handle time); agents' documents are read only when the agents hash holds
at most ``AGENT_SCAN_LIMIT`` (one HVALS); beyond that the estimate uses the queue's live
counts of agents per state (``keys.counts``) and that long-run rate. The random draws are
seeded by the entry and the instant, so an estimate is reproducible. The hold loop asks for
an estimate every round of every caller, so what it reads of Redis, the caller's entry
included, is one round trip: a read-only script (``routing/lua/estimate_reads.lua``) given
the keys of every configured queue, the waiting sets those of the router's cached skill
signatures, checked against the signatures version it reads beside them; the announced
estimate's record is the one write after it.

No eligible agent logged in: the wait as if one agent were there (position times the mean handle
time) — the queue's empty behaviour decides what happens to such callers, not the estimate.

**Asterisk's estimate, logged beside ours.** Asterisk's app_queue keeps one number per queue,
updated whenever a caller is connected (``recalc_holdtime``, apps/app_queue.c)::

    oldvalue = qe->parent->holdtime;
    qe->parent->holdtime = (((oldvalue << 2) - oldvalue) + newholdtime) >> 2;

that is ``holdtime = (3·old + new) / 4`` in whole seconds, starting at 0, ``new`` the
caller's wait; it announces ``holdtime - (now - qe->start)`` (``say_position``). The same
number is kept here (``routing/lua/holdtime.lua``, ``note_answered``), and every estimate we
announce is appended to ``keys.offers`` as ``{kind: "estimate", entry, call_sid, queue,
position, waited_ms, estimate_seconds, asterisk_seconds, at}``, drained into the
``routing_wait_estimates`` table, where the answered caller's real wait settles it.
"""

from __future__ import annotations

import heapq
import json
import random
import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crm_core.errors import NotFound
from routing.scripts import ms

if TYPE_CHECKING:
    from routing.service import Router

DEFAULT_HANDLE_SECONDS = 300.0
LOGGED_IN = ("available", "pending", "reserved", "busy", "wrap_up")
PRIO = 10**12
SIMULATIONS = 64
MAX_EVENTS = 200
AGENT_SCAN_LIMIT = 200
MIN_SAMPLES = 5
MIN_TAIL = 3
READ_ATTEMPTS = 3  # signatures keep being added: the last read is estimate enough


def estimate(
    router: Router, entry_id: str, *, log: bool = True, entry: dict[str, Any] | None = None
) -> tuple[int, float] | None:
    """(position in line, estimated seconds still to wait) for a waiting caller; (1, 0.0)
    while an agent's phone rings for it; None for anyone else. ``log``: append the estimate
    (and Asterisk's) to the offers stream, as for an announcement. ``entry``: the caller's
    entry as just read, if it was (the queue it waits in is then known)."""
    return where(router, entry_id, log=log, entry=entry)[1]


def where(
    router: Router, entry_id: str, *, log: bool = True, entry: dict[str, Any] | None = None
) -> tuple[dict[str, Any] | None, tuple[int, float] | None]:
    """The caller's entry (None if the router has none) and its estimate, as ``estimate``
    says: what the hold loop announces, its reads in one round trip (the entry among them,
    unless ``entry`` is given)."""
    if entry is not None and entry["state"] != "waiting":
        return entry, ((1, 0.0) if entry["state"] == "offered" else None)
    now = ms(router.clock.now())
    queues = [entry["queue"]] if entry is not None else list(router.queues())
    entry, reads = _reads(router, entry_id, queues, now)
    if entry is not None and entry["state"] == "waiting" and reads is None:
        # a queue the router's configuration does not know (any more): its keys, now
        entry, reads = _reads(router, entry_id, [entry["queue"]], now)
    if entry is None or entry["state"] not in ("waiting", "offered"):
        return entry, None
    if entry["state"] == "offered":
        return entry, (1, 0.0)
    if reads is None:  # moved to another queue in that very instant
        return entry, None
    handle_times, holdtime, docs, counts, *ahead = reads
    queue = entry["queue"]
    mine = entry_id.encode()
    position = 1 + sum(ahead[0::2]) + sum(m < mine for tied in ahead[1::2] for m in tied)
    samples = [float(t) for t in handle_times]
    try:
        wrap = float(router.queue(queue).wrap_up_seconds)
    except NotFound:
        wrap = 0.0
    model = Lengths(samples, wrap, random.Random(f"{entry_id}|{now}"))
    if docs is not None:
        agents = (json.loads(raw) for raw in docs)
        frees = [f for f in (free_at(d, entry, now) for d in agents) if f is not None]
        seconds = simulate(position, frees, model)
    else:
        by_state = dict(zip(LOGGED_IN, (int(c or 0) for c in counts), strict=True))
        seconds = from_counts(position, by_state, model.mean)
    if log:
        waited = max(0, now - int(entry.get("qt") or now))
        asterisk = None if holdtime is None else max(0, int(holdtime) - waited // 1000)
        record = {
            "kind": "estimate",
            "entry": entry_id,
            "call_sid": entry.get("call_sid") or False,
            "queue": queue,
            "position": position,
            "waited_ms": waited,
            "estimate_seconds": round(seconds, 1),
            "asterisk_seconds": asterisk,
            "at": now,
        }
        offers = router.keys.offers
        router.redis.xadd(offers, {"e": json.dumps(record)}, maxlen=100_000, approximate=True)
    return entry, (position, seconds)


def _reads(
    router: Router, entry_id: str, queues: list[str], now: int
) -> tuple[dict[str, Any] | None, list | None]:
    """The entry, and what the estimate reads of its queue if it waits in one of ``queues``,
    in one round trip (routing/lua/estimate_reads.lua): its handle times, holdtime, the
    agents' documents (None beyond ``AGENT_SCAN_LIMIT``), the queue's live counts per
    logged-in state, then per waiting set of the queue the count ahead of the caller and the
    members tied with it. The waiting sets are those of the router's cached signatures;
    when the signatures version read beside them is not the one they were cached at, a
    queue may have gained a signature since: read again."""
    keys, seen = router.keys, None
    for _ in range(READ_ATTEMPTS):
        version, sigs = router.signatures(queues, seen=seen)
        blocks, queue_keys = {}, []
        for queue in queues:
            blocks[queue] = [5 + len(queue_keys), len(sigs[queue])]
            queue_keys += [keys.handle_times(queue), keys.holdtime(queue)]
            queue_keys += [keys.waiting(queue, sig) for sig in sigs[queue]]
        reply = router.scripts(
            "estimate_reads",
            [keys.signatures_version, keys.agents, keys.counts, keys.entries, *queue_keys],
            [now, entry_id, AGENT_SCAN_LIMIT, blocks, *LOGGED_IN],
        )
        seen = reply[0] or "0"
        if seen == version:
            break
    if not reply[1]:
        return None, None
    entry = json.loads(reply[1])
    entry["need"] = entry.get("need") or {}  # as Router.entry reads it
    return entry, (reply[2:] or None)


def note_answered(router: Router, queue: str, waited_ms: int) -> int:
    """A caller of ``queue`` was connected after ``waited_ms``: Asterisk's holdtime moves
    (one script, routing/lua/holdtime.lua). Returns the new holdtime (whole seconds)."""
    now = ms(router.clock.now())
    return int(router.scripts("holdtime", [router.keys.holdtime(queue)], [now, int(waited_ms)]))


# ---------------------------------------------------------------------- the model


class Lengths:
    """Handle times and the rest of calls in progress, drawn from the recent handle times
    (or exponential with their mean while there are too few of them)."""

    def __init__(self, samples: list[float], wrap: float, rng: random.Random) -> None:
        self.samples = sorted(s for s in samples if s >= 0)
        self.wrap = wrap
        self.rng = rng
        self.mean = statistics.fmean(self.samples) if self.samples else DEFAULT_HANDLE_SECONDS
        self.bootstrap = len(self.samples) >= MIN_SAMPLES
        if self.bootstrap:  # the tail's mean residual: the rest of a call longer than most
            q3 = self.samples[(3 * len(self.samples)) // 4]
            tail = [s - q3 for s in self.samples if s > q3]
            self.tail_residual = max(statistics.fmean(tail) if tail else 0.0, 1.0)
        else:
            self.tail_residual = self.mean

    def handle(self) -> float:
        if self.bootstrap:
            return self.rng.choice(self.samples)
        return self.rng.expovariate(1 / self.mean) if self.mean > 0 else 0.0

    def handles(self, k: int) -> list[float]:
        if self.bootstrap:
            return self.rng.choices(self.samples, k=k)
        return [self.handle() for _ in range(k)]

    def rest(self, elapsed: float) -> Callable[[], float]:
        """A draw of the time still to come (talk left plus wrap-up) of a call answered
        ``elapsed`` seconds ago."""
        if not self.bootstrap:
            return self.handle
        longer = [s - elapsed for s in self.samples if s - self.wrap > elapsed]
        if len(longer) >= MIN_TAIL:
            return lambda: self.rng.choice(longer)
        tail, wrap = self.tail_residual, self.wrap
        return lambda: wrap + self.rng.expovariate(1 / tail)


def free_at(agent: dict[str, Any], entry: dict[str, Any], now: int) -> tuple | None:
    """When an agent can next take a caller: ("at", seconds from now), ("handle",) after a
    whole call, ("busy", seconds on the call so far); None if it cannot take this caller."""
    state = agent.get("state")
    if state not in LOGGED_IN or entry["queue"] not in (agent.get("queues") or []):
        return None
    skills = agent.get("skills") or {}
    if any(int(skills.get(s, 0)) < int(level) for s, level in (entry.get("need") or {}).items()):
        return None
    if state in ("available", "pending"):
        return ("at", 0.0)
    if state == "wrap_up":
        return ("at", max(0.0, (int(agent.get("wrap_until") or now) - now) / 1000))
    if state == "reserved":
        return ("handle",)
    return ("busy", max(0.0, (now - int(agent.get("since") or now)) / 1000))


def simulate(position: int, frees: list[tuple], model: Lengths) -> float:
    """The median over SIMULATIONS runs of when the agent who takes the caller at
    ``position`` frees up, each caller ahead taking the earliest free agent."""
    if not frees:
        return position * model.mean
    fixed = [f[1] for f in frees if f[0] == "at"]
    draws = [model.handle if f[0] == "handle" else model.rest(f[1]) for f in frees if f[0] != "at"]
    events = min(position, MAX_EVENTS)
    beyond = (position - events) * model.mean / len(frees)
    waits = []
    for _ in range(SIMULATIONS):
        heap = fixed + [draw() for draw in draws]
        heapq.heapify(heap)
        for handle in model.handles(events - 1):
            heapq.heapreplace(heap, heap[0] + handle)
        waits.append(heap[0] + beyond)
    return statistics.median(waits)


def from_counts(position: int, by_state: dict[str, int], mean: float) -> float:
    """For a very large pool: the agents free now take the first callers, the rest are
    answered at the long-run rate of every logged-in agent (agents ÷ mean handle time)."""
    agents = sum(by_state.values())
    if agents <= 0:
        return position * mean
    free = by_state.get("available", 0) + by_state.get("pending", 0)
    return max(0, position - free) * mean / agents
