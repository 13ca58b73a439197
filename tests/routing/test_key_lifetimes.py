"""Every key the router writes has an end: removed with the call, swept by the ticker, or
(the day's counters and explanations) kept two days. A day of traffic (answered calls,
callers who give up while waiting or while an agent's phone rings) leaves the router's
keys where they were in the morning: the same keys, no field left of any call (the day's
counters and explanations grow with the day, and end). Keys are found with SCAN on the
router's hash tag only."""

from __future__ import annotations

import random

from routing.ticker import Ticker
from tests.e2e.test_acd import NUMBER, agents, app, run, sim  # noqa: F401  (fixtures)

SIZED = {b"hash": "hlen", b"zset": "zcard", b"set": "scard", b"list": "llen"}


def routing_keys(deps) -> dict[str, int]:
    """Each key of the router (its hash tag), with its size (streams: not sized, capped)."""
    r = deps.redis
    out = {}
    for key in r.scan_iter(match=f"{deps.router.keys.tag}*", count=500):
        kind = r.type(key)
        out[key.decode()] = getattr(r, SIZED[kind])(key) if kind in SIZED else -1
    return out


def settle(simulator, deps, ticker, seconds=120):
    run(simulator, deps, seconds)  # every call over, every wrap-up ended
    ticker.drain()  # the records into SQL, the legs of ended calls swept
    ticker.drain()


def test_a_day_of_traffic_leaves_the_router_keys_where_they_started(sim, deps, agents):  # noqa: F811
    rng = random.Random(16)
    ticker = Ticker(deps)
    sim.phone("client:agent_ana", answer_after=3)
    sim.phone("client:agent_luis", answer_after=2)
    for agent in agents.values():
        deps.dispatcher.run(deps.router.set_presence(agent, "available").actions)
    # The first call of the day makes the day's keys (counters, explanations).
    sim.call("+13135550130", NUMBER).wait(30).hangup()
    settle(sim, deps, ticker)
    morning = routing_keys(deps)

    callers = []
    for n in range(40):
        talk = rng.choice([1, 4, 20, 45, 90, 240])  # 1 and 4: gone before an agent answers
        callers.append(sim.call(f"+1313555{1000 + n:04d}", NUMBER).wait(talk).hangup())
        run(sim, deps, rng.choice([5, 20, 60]))
    settle(sim, deps, ticker, 600)

    assert all(c.call.ended for c in callers)
    evening = routing_keys(deps)
    assert sorted(evening) == sorted(morning)  # no key per call, per leg, per caller
    keys = deps.router.keys
    for per_call in (keys.legs, keys.entries, keys.deadlines):  # nothing left of any call
        assert evening.get(per_call, 0) == morning.get(per_call, 0) == 0, per_call
    assert evening[keys.handle_times("sales")] <= 50  # the recent handle times, capped
    _, day = deps.router.now()
    for key in (deps.router.keys.stats(day), deps.router.keys.why(day)):
        assert 0 < deps.redis.ttl(key) <= 2 * 86400, key  # the day's keys end too
