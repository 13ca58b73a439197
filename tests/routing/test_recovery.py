"""A running ticker notices Redis losing its data within a second or two, whatever its
sweep is doing, and rebuilds: the holding callers back in line, ``reannounce`` on the
stream. Real threads (the ticker's), the simulator as the carrier, a real Redis."""

from __future__ import annotations

import threading
import time

import pytest

from routing.ticker import Ticker
from tests.e2e.test_acd import NUMBER, agents, app, run, sim  # noqa: F401  (fixtures)

NOTICED_WITHIN = 2.0


def wait_for(predicate, seconds: float) -> float | None:
    """Seconds until ``predicate()`` held, or None if it did not within ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.02)
    return None


@pytest.fixture
def waiting_caller(sim, deps, agents):  # noqa: F811
    deps.router.set_presence(agents["ana"], "away", "lunch")
    caller = sim.call("+13135550121", NUMBER).wait(300).hangup()
    run(sim, deps, 3)
    assert deps.router.entry(caller.call.sid)["state"] == "waiting"
    return caller


def reannounced(deps) -> bool:
    return any(b"reannounce" in f[b"e"] for _, f in deps.redis.xrange(deps.router.keys.events))


@pytest.mark.parametrize("drain_stalls", [False, True], ids=["idle", "stalled drain"])
def test_a_running_ticker_notices_a_flush_and_rebuilds(deps, waiting_caller, drain_stalls):
    """Stalled: a slow database holds the sweep loop in its drain (played by a drain that
    blocks); the epoch is looked at on a timer of its own all the same."""
    ticker = Ticker(deps, interval=0.05, drain_every=0.2)
    stall = threading.Event()
    if drain_stalls:
        ticker.drain = lambda count=500: stall.wait(60) and 0
    ticker.start()
    try:
        assert wait_for(lambda: deps.redis.exists(deps.router.keys.epoch), 5) is not None
        time.sleep(1.0)  # the ticker has swept and drained a few times
        for _ in range(2):  # noticed every time, not only the first
            deps.redis.flushall()
            took = wait_for(lambda: deps.router.entry(waiting_caller.call.sid), 5)
            assert took is not None and took < NOTICED_WITHIN, took
            assert deps.router.entry(waiting_caller.call.sid)["state"] == "waiting"
            assert wait_for(lambda: reannounced(deps), 1) is not None
    finally:
        stall.set()
        ticker.stop()
