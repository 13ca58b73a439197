"""The router's rules, script by script, on a real Redis and the injected clock."""

from __future__ import annotations

import pytest

from crm_core.acd_schemas import QueueStrategy
from routing.errors import IllegalTransition
from routing.service import AgentState, Priority
from tests.routing.conftest import agent, queue

ANA = agent(1, sales=8, spanish=7)
LUIS = agent(2, sales=6)
MAYA = agent(3, sales=5, service=5)


def offers(outcome):
    return [(a.entry_id, a.agent_id) for a in outcome.actions if a.kind == "offer"]


def test_a_caller_waits_until_an_agent_is_available_and_is_offered_at_once(router, clock):
    assert router.enqueue("CA1", "sales", call_sid="CA1").state == "waiting"
    outcome = router.set_presence(ANA, "available")
    assert outcome.state == "reserved" and offers(outcome) == [("CA1", 1)]
    action = outcome.actions[0]
    assert (action.identity, action.call_sid) == ("agent_1", "CA1")
    assert router.agent(1)["offer"] == "CA1" and router.entry("CA1")["state"] == "offered"


def test_an_available_agent_takes_a_new_caller_at_once(router):
    router.set_presence(ANA, "available")
    assert offers(router.enqueue("CA1", "sales")) == [("CA1", 1)]


def test_an_agent_holds_at_most_one_offer(router):
    router.set_presence(ANA, "available")
    router.enqueue("CA1", "sales")
    assert router.enqueue("CA2", "sales").state == "waiting"
    assert router.agent(1)["offer"] == "CA1"


def test_longest_idle_agent_first(router, clock):
    router.set_presence(LUIS, "available")
    clock.advance(5)
    router.set_presence(ANA, "available")
    assert offers(router.enqueue("CA1", "sales")) == [("CA1", 2)]
    assert offers(router.enqueue("CA2", "sales")) == [("CA2", 1)]


def test_priority_then_original_time(router, clock):
    router.enqueue("normal-early", "sales")
    clock.advance(1)
    router.enqueue("vip", "sales", priority=Priority.VIP)
    clock.advance(1)
    router.enqueue("emergency", "sales", priority=Priority.EMERGENCY)
    first = router.set_presence(ANA, "available")
    assert offers(first) == [("emergency", 1)]


def test_accept_connects_and_counts(router, clock):
    router.enqueue("CA1", "sales", call_sid="CA1")
    clock.advance(12)
    router.set_presence(ANA, "available")
    outcome = router.accept(1, "CA1")
    assert outcome.state == "connected" and outcome.detail["waited_ms"] == 12_000
    assert router.agent(1)["state"] == "busy" and router.entry("CA1")["state"] == "connected"
    day = clock.now().astimezone(router.zone).date().isoformat()
    stats = router.redis.hgetall(router.keys.stats(day))
    assert stats[b"sales|answered"] == b"1" and stats[b"sales|answered_in_sl"] == b"1"


def test_accepting_an_offer_that_is_gone(router):
    router.enqueue("CA1", "sales")
    router.set_presence(ANA, "available")
    router.caller_gone("CA1")
    assert router.accept(1, "CA1").state == "gone"
    assert router.agent(1)["state"] == "available"  # freed at once, not left ringing


def test_caller_hanging_up_during_the_offer_cancels_the_agents_leg(router):
    router.enqueue("CA1", "sales")
    router.set_presence(ANA, "available")
    outcome = router.caller_gone("CA1")
    assert [(a.kind, a.agent_id) for a in outcome.actions] == [("cancel", 1)]
    assert router.entry("CA1") is None and router.agent(1)["state"] == "available"


def test_freed_agent_takes_the_next_caller(router):
    router.enqueue("CA1", "sales")
    router.enqueue("CA2", "sales")
    router.set_presence(ANA, "available")
    outcome = router.caller_gone("CA1")
    assert offers(outcome) == [("CA2", 1)]


def test_reject_puts_the_caller_back_at_the_head_and_offers_another_agent(router, clock):
    router.enqueue("CA1", "sales")
    clock.advance(1)
    router.enqueue("CA2", "sales")
    router.set_presence(ANA, "available")  # takes CA1
    router.set_presence(agent(4, sales=3), "available")  # takes CA2
    router.caller_gone("CA2")  # agent 4 free again
    outcome = router.release(1, "CA1", "rejected")
    assert offers(outcome) == [("CA1", 4)]
    entry = router.entry("CA1")
    assert entry["declined"] == [1] and entry["t0"] < router.entry("CA1")["qt"] + 1


def test_a_rejecting_agent_is_not_offered_the_same_caller_again(router):
    router.enqueue("CA1", "sales")
    router.set_presence(ANA, "available")
    outcome = router.release(1, "CA1", "rejected")
    assert offers(outcome) == []
    assert router.agent(1)["state"] == "available" and router.entry("CA1")["state"] == "waiting"
    router.enqueue("CA2", "sales")
    assert router.agent(1)["offer"] == "CA2"


def test_two_misses_in_a_row_put_the_agent_away(router, clock):
    for call in ("CA1", "CA2"):
        router.enqueue(call, "sales")
    router.set_presence(ANA, "available")
    router.release(1, "CA1", "timeout")
    assert router.agent(1)["offer"] == "CA2"
    outcome = router.release(1, "CA2", "timeout")
    assert outcome.state == "away" and router.agent(1)["reason"] == "missed_offers"


def test_offer_timeout_is_swept_by_the_ticker(router, clock):
    router.enqueue("CA1", "sales")
    router.set_presence(ANA, "available")
    clock.advance(14)
    assert router.tick() == []
    clock.advance(1)
    actions = router.tick()
    assert [(a.kind, a.agent_id) for a in actions] == [("cancel", 1)]
    assert router.entry("CA1")["state"] == "waiting" and router.agent(1)["misses"] == 1


def test_wrap_up_is_timed_and_can_end_early(router, clock):
    router.enqueue("CA1", "sales")
    router.set_presence(ANA, "available")
    router.accept(1, "CA1")
    clock.advance(120)
    ended = router.call_ended("CA1")
    assert ended.detail["talked_ms"] == 120_000 and ended.detail["agent_state"] == "wrap_up"
    router.enqueue("CA2", "sales")
    assert router.agent(1)["state"] == "wrap_up"  # wrap-up is enforced
    clock.advance(30)
    actions = router.tick()
    assert [(a.kind, a.entry_id) for a in actions] == [("offer", "CA2")]


def test_ending_wrap_up_early(router, clock):
    router.enqueue("CA1", "sales")
    router.set_presence(ANA, "available")
    router.accept(1, "CA1")
    router.call_ended("CA1")
    router.enqueue("CA2", "sales")
    assert offers(router.end_wrap_up(1)) == [("CA2", 1)]
    assert router.redis.zscore(router.keys.deadlines, "wrap|1") is None


def test_needed_skills_route_only_to_agents_who_have_them(router):
    router.set_presence(LUIS, "available")  # no spanish
    assert router.enqueue("CA1", "sales", needs={"spanish": 5}).state == "waiting"
    outcome = router.set_presence(ANA, "available")  # spanish 7
    assert offers(outcome) == [("CA1", 1)]
    assert router.agent(2)["state"] == "available"


def test_aging_relaxes_the_needed_level(connection, clock, queues):
    from routing.service import Router

    queues["sales"] = queue("sales", escalation_after_seconds=60, escalation_relax_levels=2)
    router = Router(connection, clock, lambda: queues)
    router.set_presence(agent(5, sales=5, spanish=2), "available")
    router.enqueue("CA1", "sales", needs={"spanish": 5})
    clock.advance(60)
    assert router.tick() == []  # spanish 2 still short of 5 - 2
    assert router.entry("CA1")["need"] == {"spanish": 3}
    clock.advance(60)
    assert [(a.kind, a.agent_id) for a in router.tick()] == [("offer", 5)]


def test_ring_all_offers_everyone_and_the_first_accept_wins(connection, clock, queues):
    from routing.service import Router

    queues["sales"] = queue("sales", strategy=QueueStrategy.RING_ALL)
    router = Router(connection, clock, lambda: queues)
    for profile in (ANA, LUIS, MAYA):
        router.set_presence(profile, "available")
    assert sorted(offers(router.enqueue("CA1", "sales"))) == [("CA1", 1), ("CA1", 2), ("CA1", 3)]
    outcome = router.accept(2, "CA1")
    assert sorted((a.kind, a.agent_id) for a in outcome.actions) == [
        ("withdraw", 1),
        ("withdraw", 3),
    ]
    assert [router.agent(i)["state"] for i in (1, 2, 3)] == ["available", "busy", "available"]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (QueueStrategy.FEWEST_CALLS, 2),
        (QueueStrategy.LEAST_TALK_TIME, 2),
        (QueueStrategy.SKILLS_WEIGHTED, 1),
        (QueueStrategy.ROUND_ROBIN, 2),
        (QueueStrategy.LONGEST_IDLE, 1),
    ],
)
def test_strategies(connection, clock, queues, strategy, expected):
    from routing.service import Router

    queues["sales"] = queue("sales", strategy=strategy, wrap_up_seconds=0)
    router = Router(connection, clock, lambda: queues)
    # Ana (sales 8) takes and finishes one long call; Luis (sales 6) has had none.
    router.set_presence(ANA, "available")
    router.enqueue("CA0", "sales")
    router.accept(1, "CA0")
    clock.advance(600)
    router.call_ended("CA0")  # Ana available again at once (no wrap-up), idle since now
    clock.advance(30)
    router.set_presence(LUIS, "available")  # Luis idle since 30 s after Ana
    assert offers(router.enqueue("CA1", "sales"))[0][1] == expected


def test_presence_transitions_are_checked(router):
    router.set_presence(ANA, "available")
    router.enqueue("CA1", "sales")
    with pytest.raises(IllegalTransition):
        router.set_presence(ANA, "away", "lunch")  # ringing: reject the offer first
    router.accept(1, "CA1")
    with pytest.raises(IllegalTransition):
        router.set_presence(ANA, "offline")


def test_empty_queue_is_reported_when_nobody_is_logged_in(router):
    assert router.enqueue("CA1", "service", empty_check=True).state == "empty"
    router.set_presence(MAYA, "away", "break")  # on shift, on a break: callers wait for her
    assert router.enqueue("CA1", "service", empty_check=True).state == "waiting"
    router.caller_gone("CA1")
    router.set_presence(MAYA, "available")
    router.enqueue("CA2", "sales")  # Maya busy ringing for sales
    assert router.enqueue("CA3", "service", empty_check=True).state == "waiting"


def test_enqueue_is_idempotent(router):
    router.enqueue("CA1", "sales")
    router.enqueue("CA1", "sales")
    assert router.redis.hget(router.keys.counts, "sales|waiting") == b"1"


def test_counts_follow_states(router):
    router.set_presence(ANA, "available")
    router.set_presence(LUIS, "away", "lunch")
    counts = {k.decode(): int(v) for k, v in router.redis.hgetall(router.keys.counts).items()}
    assert counts["sales|available"] == 1 and counts["sales|away"] == 1
    router.enqueue("CA1", "sales")
    counts = {k.decode(): int(v) for k, v in router.redis.hgetall(router.keys.counts).items()}
    assert counts["sales|available"] == 0 and counts["sales|reserved"] == 1


def test_agent_state_enum_names_the_states():
    assert {s.value for s in AgentState} >= {"offline", "available", "wrap_up", "away"}


def test_a_new_skill_combination_finds_the_ready_agent_who_has_it(router):
    router.set_presence(LUIS, "available")  # sales only
    router.set_presence(agent(7, sales=4, spanish=6, german=5), "available")
    # The first caller ever to need spanish:5 and german:5: its ready set is filled once.
    outcome = router.enqueue("CA1", "sales", needs={"spanish": 5, "german": 5})
    assert offers(outcome) == [("CA1", 7)]


def test_a_caller_needing_skills_nobody_ready_has_waits_without_a_scan(router):
    for i in range(40):
        router.set_presence(agent(100 + i, sales=5, spanish=6), "available")
    outcome = router.enqueue("CA1", "sales", needs={"spanish": 5, "german": 5})
    assert outcome.state == "waiting"
    router.enqueue("CA2", "sales", needs={"spanish": 5, "german": 5})  # no backfill again
    assert router.redis.zcard(router.keys.ready("sales", "german:5,spanish:5")) == 0
    taken = router.set_presence(agent(7, sales=4, spanish=6, german=5), "available")
    assert offers(taken) == [("CA1", 7)]
