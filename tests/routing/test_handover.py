"""Transfers on the router (handover.lua) and why an agent was offered a call (routing/why.py),
on a real Redis and the injected clock."""

from __future__ import annotations

import pytest

from crm_core.acd_schemas import QueueStrategy
from crm_core.errors import Conflict
from routing.why import explain
from tests.routing.conftest import agent, queue

ANA = agent(1, sales=8, spanish=7)
LUIS = agent(2, sales=6)
MAYA = agent(3, sales=5)


def offers(outcome):
    return [(a.entry_id, a.agent_id) for a in outcome.actions if a.kind == "offer"]


def stats(router, clock):
    day = clock.now().astimezone(router.zone).date().isoformat()
    return {k.decode(): int(v) for k, v in router.redis.hgetall(router.keys.stats(day)).items()}


@pytest.fixture
def talking(router, clock):
    """CA1 waited 5 s, then Ana answered and talked 20 s; Luis is available."""
    router.enqueue("CA1", "sales", call_sid="CA1")
    clock.advance(5)
    router.set_presence(ANA, "available")
    router.accept(1, "CA1")
    router.set_presence(LUIS, "available")
    clock.advance(20)
    return "CA1"


def test_a_warm_transfer_hands_the_call_over_in_place(router, clock, talking):
    router.set_presence(LUIS, "away", "meeting")  # as a consult makes them
    done = router.handover("CA1", 1, 2, mode="connect", conference="CF1")
    assert done.state == "connected" and done.detail["talked_ms"] == 20_000
    assert done.detail["agent_state"] == "wrap_up" and offers(done) == []
    entry = router.entry("CA1")
    assert entry["agent"] == 2 and entry["state"] == "connected" and entry["conference"] == "CF1"
    assert router.agent(2)["state"] == "busy" and router.agent(2)["call"] == "CA1"
    ana = router.agent(1)
    assert ana["state"] == "wrap_up" and ana["calls"] == 1 and ana["talk"] == 20
    clock.advance(40)
    ended = router.call_ended("CA1")
    assert ended.detail["agent_id"] == 2 and ended.detail["talked_ms"] == 60_000
    assert ended.detail["waited_ms"] == 5_000
    assert router.agent(2)["talk"] == 40 and router.agent(2)["calls"] == 1
    counted = stats(router, clock)
    assert counted["sales|answered"] == 1 and counted["sales|talk_ms"] == 60_000


def test_a_cold_transfer_rings_the_colleague_and_their_accept_is_no_second_answer(
    router, clock, talking
):
    done = router.handover("CA1", 1, 2, mode="offer")
    assert offers(done) == [("CA1", 2)]
    assert router.entry("CA1")["state"] == "offered" and router.agent(2)["state"] == "reserved"
    assert router.agent(1)["state"] == "wrap_up" and router.agent(1)["call"] is False
    clock.advance(3)
    took = router.accept(2, "CA1")
    assert took.state == "connected" and took.detail["waited_ms"] == 5_000
    counted = stats(router, clock)
    assert counted["sales|answered"] == 1 and counted["sales|wait_ms"] == 5_000
    clock.advance(10)
    assert router.call_ended("CA1").detail["talked_ms"] == 30_000


def test_an_unanswered_cold_transfer_puts_the_caller_back_at_its_place(router, clock, talking):
    router.set_presence(MAYA, "away", "break")
    router.handover("CA1", 1, 2, mode="offer")
    router.enqueue("CA2", "sales", call_sid="CA2")  # came later; waits (nobody free)
    clock.advance(16)
    router.tick()  # Luis's offer timed out; he takes CA2 (he declined CA1)
    assert router.entry("CA1")["state"] == "waiting"
    assert router.agent(2)["misses"] == 1 and router.agent(2)["offer"] == "CA2"
    taken = router.set_presence(MAYA, "available")
    assert offers(taken) == [("CA1", 3)]  # before CA2: its original enqueue time


@pytest.mark.parametrize("mode", ["connect", "offer"])
def test_handover_needs_the_call_and_a_free_colleague(router, clock, talking, mode):
    with pytest.raises(Conflict) as not_mine:
        router.handover("CA1", 2, 3, mode=mode)
    assert not_mine.value.field == "call"
    with pytest.raises(Conflict) as offline:
        router.handover("CA1", 1, 3, mode=mode)  # Maya never logged in
    assert offline.value.field == "agent" and "signed out" in offline.value.message
    router.enqueue("CA2", "sales", call_sid="CA2")  # Luis is ringing for it now
    with pytest.raises(Conflict) as ringing:
        router.handover("CA1", 1, 2, mode=mode)
    assert "ringing for your colleague" in ringing.value.message  # a sentence, no state
    assert router.entry("CA1")["agent"] == 1 and router.agent(1)["state"] == "busy"


def test_why_explains_the_offer_with_the_values_at_that_instant(router, clock):
    router.set_presence(LUIS, "available")
    clock.advance(90)
    router.set_presence(ANA, "available")
    clock.advance(10)
    router.enqueue("CA1", "sales", call_sid="CA1", needs={"spanish": 5})
    why = explain(router, "CA1")
    assert why["agent_id"] == 1 and why["agent"] == "Agent 1" and why["queue"] == "sales"
    assert why["strategy"] == "longest_idle" and why["eligible"] == 1  # only Ana speaks it
    text = " ".join(why["reasons"])
    assert "idle since" in text and "(10s before the offer)" in text
    assert "spanish 7 (needs 5)" in text and "sales 8 (needs 1)" in text
    router.enqueue("CA2", "sales", call_sid="CA2")
    assert explain(router, "CA2")["agent_id"] == 2
    # The count is the ready index's size, O(1) on the hot path: Ana, ringing for CA1 now,
    # leaves the index lazily (the next pick that meets her), so she is still counted.
    assert explain(router, "CA2")["eligible"] == 2
    assert explain(router, "nope") is None


@pytest.mark.parametrize(
    ("strategy", "words"),
    [
        (QueueStrategy.FEWEST_CALLS, "had taken 0 calls today"),
        (QueueStrategy.LEAST_TALK_TIME, "had talked 0s today"),
        (QueueStrategy.SKILLS_WEIGHTED, "skill score was 8 (sales 8)"),
        (QueueStrategy.ROUND_ROBIN, "last been offered a call of this queue not yet"),
    ],
)
def test_why_names_what_the_strategy_ranks_by(connection, clock, strategy, words):
    from routing.service import Router

    queues = {"sales": queue("sales", strategy=strategy)}
    router = Router(connection, clock, lambda: queues)
    router.set_presence(LUIS, "available")
    router.set_presence(ANA, "available")
    router.enqueue("CA1", "sales", call_sid="CA1")
    why = explain(router, "CA1")
    assert why["strategy"] == str(strategy) and why["eligible"] == 2
    assert any(words in line for line in why["reasons"]), why["reasons"]


def test_why_after_a_transfer_and_after_the_call(router, clock, talking):
    router.set_presence(LUIS, "away", "meeting")
    router.handover("CA1", 1, 2, mode="connect", conference="CF1")
    why = explain(router, "CA1")
    assert why["agent_id"] == 2 and "Agent 1 transferred the call to Agent 2" in why["reasons"][0]
    router.call_ended("CA1")
    assert explain(router, "CA1")["agent_id"] == 2  # kept after the call
