"""Four processes race one router: enqueues, presence changes, accepts, rejects, hang-ups,
call ends and tickers, all at once on the same Redis and keys.

Each process builds its own Router (as each gunicorn worker and the ticker do) and logs what
it did with monotonic timestamps (system-wide on Linux, so comparable across processes).
Afterwards the logs, the events stream (the order the scripts really ran in) and Redis itself
must agree that nobody was double-booked and no caller was lost, and every invariant of the
state-machine test holds on the state the race left behind.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import multiprocessing
import os
import queue as queue_module
import random
import time
import traceback
from collections import defaultdict
from itertools import pairwise

from crm_core.acd_schemas import QueueStrategy
from routing.keys import Keys
from tests.routing.conftest import agent, queue

PROCESSES = 4
STEPS = 400  # per process, at most
SECONDS = 4.0  # per process, at most
KEYS = Keys("race")
QUEUES = {
    "sales": queue("sales", offer_timeout_seconds=2, wrap_up_seconds=1),
    "support": queue(
        "support", strategy=QueueStrategy.RING_ALL, max_agents_ring_all=3, wrap_up_seconds=0
    ),
    "general": queue(
        "general", required_skills={}, strategy=QueueStrategy.FEWEST_CALLS, wrap_up_seconds=0
    ),
}
AGENTS = [
    agent(1, sales=8, spanish=7),
    agent(2, sales=6, support=4),
    agent(3, support=5, spanish=3),
    agent(4, sales=3, support=2),
    agent(5, spanish=9),
    agent(6, sales=5, support=5, spanish=5),
]
OPS = {
    "enqueue": 3,
    "presence": 4,
    "accept": 6,
    "release": 1,
    "hang_up": 2,
    "end_call": 5,
    "end_wrap_up": 1,
    "tick": 1,
}


def worker(url: str, index: int, seed: int, ready, go, results) -> None:
    """One process of the race; puts (index, log) on ``results``, or (index, traceback)."""
    import redis

    from crm_core.clock import SystemClock
    from routing.errors import IllegalTransition
    from routing.service import Priority, Router

    try:
        rng = random.Random(seed * 100 + index)
        connection = redis.Redis.from_url(url)
        router = Router(connection, SystemClock(), lambda: QUEUES, keys=KEYS)
        log = {
            "enqueued": [],
            "gone": [],
            "accepted": [],  # (entry, agent, before, after)
            "ended": [],  # (entry, agent, before, after)
            "lost_accepts": 0,
            "illegal": 0,
        }
        mine: list[str] = []
        failures = logging.handlers.BufferingHandler(10_000)  # what the router logs instead
        failures.setLevel(logging.ERROR)  # of raising (a deadline whose handling failed)
        logging.getLogger("callcenter.routing").addHandler(failures)
        ready.put(index)
        go.wait(60)
        stop = time.monotonic() + SECONDS
        ops, weights = list(OPS), list(OPS.values())
        for step in range(STEPS):
            if time.monotonic() > stop:
                break
            op = rng.choices(ops, weights)[0]
            if op == "enqueue":
                entry_id = f"P{index}-{step}"
                needs = rng.choice([{}, {}, {"spanish": rng.randint(1, 9)}])
                router.enqueue(
                    entry_id,
                    rng.choice(list(QUEUES)),
                    call_sid=entry_id,
                    priority=rng.choice(list(Priority)),
                    needs=needs,
                )
                log["enqueued"].append(entry_id)
                mine.append(entry_id)
            elif op == "presence":
                state = rng.choice(["available", "available", "away", "offline"])
                try:
                    router.set_presence(rng.choice(AGENTS), state, "break")
                except IllegalTransition:
                    log["illegal"] += 1
            elif op in ("accept", "release"):
                ringing = [
                    (int(aid), doc["offer"])
                    for aid, doc in (
                        (k.decode(), json.loads(v))
                        for k, v in connection.hgetall(KEYS.agents).items()
                    )
                    if doc["offer"]
                ]
                if not ringing:
                    continue
                agent_id, entry_id = rng.choice(ringing)
                if op == "release":
                    router.release(agent_id, entry_id, rng.choice(["rejected", "timeout"]))
                    continue
                before = time.monotonic()
                outcome = router.accept(agent_id, entry_id)
                after = time.monotonic()
                if outcome.state == "connected":
                    log["accepted"].append((entry_id, agent_id, before, after))
                else:
                    log["lost_accepts"] += 1
            elif op in ("hang_up", "end_call"):
                if op == "hang_up" and mine:
                    entry_id = rng.choice(mine)
                else:
                    connected = [
                        k.decode()
                        for k, v in connection.hgetall(KEYS.entries).items()
                        if json.loads(v)["state"] == "connected"
                    ]
                    if not connected:
                        continue
                    entry_id = rng.choice(connected)
                outcome = router.caller_gone(entry_id) if op == "hang_up" else None
                if outcome is not None and outcome.state == "gone":
                    log["gone"].append(entry_id)
                    mine.remove(entry_id)
                elif outcome is None or outcome.state == "connected":
                    before = time.monotonic()
                    ended = router.call_ended(entry_id)
                    if ended.state == "ended":
                        after = time.monotonic()
                        log["ended"].append((entry_id, ended.detail["agent_id"], before, after))
                        if entry_id in mine:
                            mine.remove(entry_id)
            elif op == "end_wrap_up":
                router.end_wrap_up(rng.choice(AGENTS).id)
            elif op == "tick":
                router.tick()
        connection.close()
        log["errors"] = [r.getMessage() for r in failures.buffer]
        results.put((index, log))
    except BaseException:
        results.put((index, traceback.format_exc()))


def test_four_processes_racing_never_double_book_nor_lose_a_caller(redis_url):
    import redis

    from tests.routing.test_state_machine import check

    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    seed = int(os.environ.get("RACE_SEED", random.randrange(10**6)))
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    processes = [
        context.Process(target=worker, args=(redis_url, i, seed, ready, go, results))
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    try:
        for _ in processes:  # every process imported and connected: start together
            ready.get(timeout=60)
        go.set()
        logs = {}
        for _ in processes:
            index, log = results.get(timeout=60)
            assert isinstance(log, dict), f"process {index} (RACE_SEED={seed}) failed:\n{log}"
            logs[index] = log
    except queue_module.Empty:
        raise AssertionError(f"a process hung (RACE_SEED={seed})") from None
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    try:
        _check_the_race(connection, logs, seed, check)
    finally:
        connection.flushdb()
        connection.close()


def _check_the_race(connection, logs, seed, check) -> None:
    where = f"(RACE_SEED={seed})"
    errors = {i: log["errors"] for i, log in logs.items() if log["errors"]}
    assert not errors, f"the router logged errors {where}: {errors}"
    enqueued = [e for log in logs.values() for e in log["enqueued"]]
    gone = {e for log in logs.values() for e in log["gone"]}
    accepted = [a for log in logs.values() for a in log["accepted"]]
    ended = {e[0]: e for log in logs.values() for e in log["ended"]}
    assert len(enqueued) == len(set(enqueued)) > 20, where
    assert len(accepted) > 5, f"too little happened to call it a race {where}"
    assert len(ended) == sum(len(log["ended"]) for log in logs.values()), (
        f"a call was ended twice {where}"
    )

    # No caller connected to two agents (accepting twice is idempotent: the same agent).
    agents_of = defaultdict(set)
    for entry_id, agent_id, _, _ in accepted:
        agents_of[entry_id].add(agent_id)
    doubled = {e: a for e, a in agents_of.items() if len(a) > 1}
    assert not doubled, f"callers connected to several agents {where}: {doubled}"

    # No agent on two calls at once. Each call is known to have lasted at least from the
    # return of its first successful accept to the start of the call_ended that ended it:
    # two such spans of one agent that overlap are two calls at the same moment.
    spans = defaultdict(dict)
    for entry_id, agent_id, _, after in sorted(accepted, key=lambda a: a[3]):
        end = ended[entry_id][2] if entry_id in ended else float("inf")
        spans[agent_id].setdefault(entry_id, (after, end))
    for agent_id, calls in spans.items():
        ordered = sorted((s, e, c) for c, (s, e) in calls.items() if s < e)
        for (_, e1, c1), (s2, _, c2) in pairwise(ordered):
            assert s2 >= e1, f"agent {agent_id} on {c1} and {c2} at once {where}"

    # The same, exactly, in the order the scripts ran: the events stream (never trimmed here).
    events = connection.xrange(KEYS.events)
    assert len(events) < 10_000, "the stream was trimmed: fewer steps, please"
    on_call: dict[int, str] = {}
    connected_once: set[str] = set()
    for _, fields in events:
        event = json.loads(fields[b"e"])
        if event["type"] == "connected":
            agent_id, entry_id = int(event["agent"]), event["entry"]
            assert agent_id not in on_call, f"agent {agent_id} double-booked {where}: {event}"
            assert entry_id not in connected_once, f"{entry_id} connected twice {where}"
            on_call[agent_id] = entry_id
            connected_once.add(entry_id)
        elif event["type"] == "ended":
            assert on_call.pop(int(event["agent"]), None) == event["entry"], (where, event)
    assert connected_once == set(agents_of), where

    # No caller lost: each is connected, ended, gone by hang-up, ringing or still waiting
    # (and then, by the invariants below, with no eligible agent available).
    entries = {k.decode(): json.loads(v) for k, v in connection.hgetall(KEYS.entries).items()}
    assert not gone & set(agents_of), f"a caller both hung up and connected {where}"
    assert set(ended) <= set(agents_of), where
    for entry_id in enqueued:
        if entry_id in gone or entry_id in ended:
            assert entry_id not in entries, (where, entries[entry_id])
        else:
            assert entry_id in entries, f"caller {entry_id} was lost {where}"
            assert entries[entry_id]["state"] in ("waiting", "offered", "connected"), where
            if entries[entry_id]["state"] == "connected":
                assert entries[entry_id]["agent"] in agents_of[entry_id], where
    assert set(entries) <= set(enqueued), where
    check(connection, KEYS, QUEUES)
