"""Position and estimated wait (routing/estimates.py) on constructed states, Asterisk's
holdtime beside it, and the Erlang C arithmetic of bench/acd_day.py against known values."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest

from bench.acd_day import (
    average_speed_of_answer,
    erlang_b,
    erlang_c,
    erlang_median,
    service_level,
)
from routing.estimates import DEFAULT_HANDLE_SECONDS, estimate, note_answered
from routing.service import Priority
from tests.routing.conftest import agent

# The conftest's queues wrap up for 30 s: a handle time of 100 s is 70 s of talk.
HANDLE, WRAP = 100.0, 30.0


def history(router, *times, queue="sales"):
    key = router.keys.handle_times(queue)
    router.redis.delete(key)
    router.redis.rpush(key, *[f"{t:.3f}" for t in times])


def on_a_call(router, agent_id, entry, **skills):
    """Agent ``agent_id`` logs in, takes ``entry`` and answers it now."""
    router.set_presence(agent(agent_id, sales=5, **skills), "available")
    router.enqueue(entry, "sales", call_sid=entry)
    assert router.accept(agent_id, entry).state == "connected"


def logged(router):
    return [
        json.loads(fields[b"e"])
        for _, fields in router.redis.xrange(router.keys.offers)
        if json.loads(fields[b"e"]).get("kind") == "estimate"
    ]


# ------------------------------------------------------------------ position


def test_position_counts_priority_then_time_across_signatures(router, clock):
    router.enqueue("normal-1", "sales")
    clock.advance(1)
    router.enqueue("spanish", "sales", needs={"spanish": 5})  # another signature
    clock.advance(1)
    router.enqueue("normal-2", "sales")
    clock.advance(1)
    router.enqueue("vip", "sales", priority=Priority.VIP)
    clock.advance(1)
    router.enqueue("emergency", "sales", priority=Priority.EMERGENCY)
    router.enqueue("service", "service")  # another queue: never ahead
    positions = {e: estimate(router, e)[0] for e in ("emergency", "vip", "normal-1")}
    assert positions == {"emergency": 1, "vip": 2, "normal-1": 3}
    assert estimate(router, "spanish")[0] == 4
    assert estimate(router, "normal-2")[0] == 5
    assert estimate(router, "service")[0] == 1


def test_a_caller_not_waiting_has_no_estimate(router):
    assert estimate(router, "nobody") is None
    on_a_call(router, 1, "CA1")
    assert estimate(router, "CA1") is None  # connected
    router.set_presence(agent(2, sales=5), "available")
    router.enqueue("CA2", "sales")
    assert estimate(router, "CA2") == (1, 0.0)  # ringing an agent


# ------------------------------------------------------------------ agents


def test_no_agent_logged_in_waits_as_if_one_were(router):
    router.enqueue("CA1", "sales")
    router.enqueue("CA2", "sales")
    assert estimate(router, "CA2") == (2, 2 * DEFAULT_HANDLE_SECONDS)
    history(router, 60, 60, 60)
    assert estimate(router, "CA2") == (2, 120.0)


def test_busy_agents_free_up_after_the_rest_of_their_calls(router, clock):
    history(router, *[HANDLE] * 20)  # every call 100 s: the simulation is exact
    on_a_call(router, 1, "CA1")
    clock.advance(20)
    on_a_call(router, 2, "CA2")
    clock.advance(20)  # agent 1 talked 40 s (60 s to go), agent 2 20 s (80 s to go)
    for entry in ("W1", "W2", "W3", "W4"):
        router.enqueue(entry, "sales")
    assert estimate(router, "W1") == (1, 60.0)
    assert estimate(router, "W2") == (2, 80.0)
    assert estimate(router, "W3") == (3, 160.0)  # agent 1 again, after W1's call
    assert estimate(router, "W4") == (4, 180.0)


def test_wrap_up_ends_at_wrap_until_and_a_ringing_agent_after_a_whole_call(router, clock):
    history(router, *[HANDLE] * 20)
    on_a_call(router, 1, "CA1")
    clock.advance(50)
    router.call_ended("CA1")
    assert router.agent(1)["state"] == "wrap_up"
    clock.advance(10)  # 20 s of wrap-up left
    router.enqueue("W1", "sales")
    router.enqueue("W2", "sales")
    assert estimate(router, "W1") == (1, 20.0)
    assert estimate(router, "W2") == (2, 120.0)
    router.set_presence(agent(2, sales=5), "available")  # rings for W1
    assert router.agent(2)["state"] == "reserved"
    assert estimate(router, "W2") == (1, 20.0)
    router.enqueue("W3", "sales")
    assert estimate(router, "W3") == (2, HANDLE)  # the ringing agent, after W1's call


def test_an_available_agent_means_no_wait_and_ineligible_agents_do_not_count(router):
    history(router, *[HANDLE] * 20)
    router.set_presence(agent(1, sales=5), "available")  # no Spanish
    router.enqueue("W1", "sales", needs={"spanish": 5})
    assert router.entry("W1")["state"] == "waiting"
    assert estimate(router, "W1") == (1, HANDLE)  # nobody can take it: as if one agent
    router.set_presence(agent(2, sales=5, spanish=3), "available")
    assert estimate(router, "W1") == (1, HANDLE)  # Spanish, but not well enough
    router.set_presence(agent(3, sales=5), "away")  # away agents do not count
    assert estimate(router, "W1") == (1, HANDLE)


def test_a_call_longer_than_the_history_is_nearly_over(router, clock):
    history(router, *[HANDLE] * 20)
    on_a_call(router, 1, "CA1")
    clock.advance(90)  # talked 90 s; no call has talked more than 70
    router.enqueue("W1", "sales")
    _, seconds = estimate(router, "W1")
    assert WRAP <= seconds <= WRAP + 5


def test_spread_out_calls_are_not_clockwork(router):
    """Seven agents who all just answered: the first of them hangs up after about a seventh
    of a handle time when lengths are exponential, not after a whole one."""
    mean = 360.0
    history(router, *[-mean * math.log(1 - (i + 0.5) / 50) for i in range(50)])
    for i in range(7):
        on_a_call(router, i + 1, f"CA{i}")
    router.enqueue("W1", "sales")
    _, seconds = estimate(router, "W1")
    assert 0.4 * mean / 7 < seconds < 2 * mean / 7


def test_estimates_are_reproducible(router, clock):
    history(router, *[10.0 * i for i in range(1, 40)])
    for i in range(3):
        on_a_call(router, i + 1, f"CA{i}")
    clock.advance(15)
    router.enqueue("W1", "sales")
    assert estimate(router, "W1") == estimate(router, "W1")


# ------------------------------------------------------------------ logging, Asterisk


def test_every_estimate_is_logged_with_asterisks(router, clock):
    router.enqueue("W1", "sales", call_sid="CAW1")
    estimate(router, "W1")
    first = logged(router)[-1]
    assert first["kind"] == "estimate" and first["asterisk_seconds"] is None
    assert (first["entry"], first["call_sid"], first["queue"], first["position"]) == (
        "W1",
        "CAW1",
        "sales",
        1,
    )
    assert note_answered(router, "sales", 40_900) == 10  # (3·0 + 40) / 4
    assert note_answered(router, "sales", 20_000) == 12  # (3·10 + 20) / 4 = 12.5 → 12
    clock.advance(5)
    _, seconds = estimate(router, "W1")
    record = logged(router)[-1]
    assert record["asterisk_seconds"] == 12 - 5 and record["waited_ms"] == 5000
    assert record["estimate_seconds"] == round(seconds, 1)
    estimate(router, "W1", log=False)
    assert len(logged(router)) == 2


# ------------------------------------------------------------------ Erlang C


def exact_erlang_c(c: int, a: int) -> Fraction:
    """Erlang C straight from its definition, in exact rationals."""
    top = Fraction(a**c, math.factorial(c)) * Fraction(c, c - a)
    return top / (sum(Fraction(a**k, math.factorial(k)) for k in range(c)) + top)


def test_erlang_b_table_values():
    assert erlang_b(10, 5.0) == pytest.approx(0.018385, abs=1e-6)  # the classic table
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(0, 3.0) == 1.0


@pytest.mark.parametrize(("c", "a"), [(2, 1), (7, 6), (10, 6), (30, 25), (1000, 950)])
def test_erlang_c_against_its_definition(c, a):
    assert erlang_c(c, a) == pytest.approx(float(exact_erlang_c(c, a)), rel=1e-9)


def test_erlang_c_closed_forms_and_edges():
    assert erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1: P(wait) = load
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # A² / (2 + A) for two agents
    assert erlang_c(5, 5.0) == 1.0 and erlang_c(5, 0.0) == 0.0
    assert service_level(5, 6.0, 360, 20) == 0.0
    assert average_speed_of_answer(5, 6.0, 360) == math.inf


def test_service_level_and_asa_for_the_benchmark():
    c, a, h = 7, 6.0, 360.0
    p = erlang_c(c, a)
    assert p == pytest.approx(0.6138, abs=1e-4)
    assert service_level(c, a, h, 20) == pytest.approx(1 - p * math.exp(-(c - a) * 20 / h))
    assert average_speed_of_answer(c, a, h) == pytest.approx(p * h / (c - a))


def test_erlang_median():
    assert erlang_median(1, 0.5) == pytest.approx(math.log(2) / 0.5, rel=1e-9)
    assert erlang_median(2, 1.0) == pytest.approx(1.678347, rel=1e-5)
