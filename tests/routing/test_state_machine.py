"""The router as a state machine: random presence, callers, offers, calls and time, with the
ACD's promises checked from Redis after every step.

Hypothesis drives the Router on the real test Redis and a ManualClock, over four queues (one
of each kind that matters: longest-idle with max wait and overflow, ring-all, skills-weighted
with aging, round-robin open to everyone) and five agents with overlapping skills. After each
step, ``check`` reads the two hashes and the indexes and asserts what must hold whatever the
history: an agent holds at most one offer and is reserved iff it holds one; offers, calls and
their deadlines agree on both sides; no caller waits while an agent who could take it is
available; the live counts equal a recount; every waiting caller is in its waiting index at
its place and every available agent in its ready indexes. The concurrency test reuses it.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import timedelta

import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from crm_core.acd import QueueConfig
from crm_core.acd_schemas import OverflowAction, QueueStrategy
from crm_core.clock import ManualClock
from crm_core.errors import Conflict
from routing.errors import IllegalTransition
from routing.keys import Keys
from routing.service import Action, Priority, Router, parse_signature
from tests.conftest import START
from tests.routing.conftest import agent, queue

AGENTS = {
    1: agent(1, sales=8, spanish=7, billing=3),
    2: agent(2, sales=6, support=4),
    3: agent(3, support=5, billing=6, spanish=3),
    4: agent(4, sales=3, billing=2, support=2),
    5: agent(5, spanish=9, billing=8),
}
QUEUES = {
    "sales": queue(
        "sales",
        max_wait_seconds=300,
        overflow_action=OverflowAction.QUEUE,
        overflow_queue="general",
    ),
    "support": queue(
        "support", strategy=QueueStrategy.RING_ALL, max_agents_ring_all=3, wrap_up_seconds=0
    ),
    "billing": queue(
        "billing",
        strategy=QueueStrategy.SKILLS_WEIGHTED,
        wrap_up_seconds=10,
        escalation_after_seconds=60,
        escalation_relax_levels=2,
    ),
    "general": queue(
        "general", required_skills={}, strategy=QueueStrategy.ROUND_ROBIN, wrap_up_seconds=0
    ),
}
NEEDS = st.one_of(
    st.just({}),
    st.dictionaries(
        st.sampled_from(["spanish", "billing", "sales"]), st.integers(1, 9), max_size=2
    ),
)
STATES = {"offline", "available", "reserved", "pending", "busy", "wrap_up", "away"}
ENTRY_STATES = {"waiting", "offered", "connected", "scheduled"}


# ---------------------------------------------------------------------------- the invariants
def _json_hash(connection: redis.Redis, key: str) -> dict[str, dict]:
    return {k.decode(): json.loads(v) for k, v in connection.hgetall(key).items()}


def in_queue(skills: Mapping[str, int], config: QueueConfig) -> bool:
    return config.active and all(
        int(skills.get(s, 0)) >= lvl for s, lvl in config.required_skills.items()
    )


def eligible(agent_doc: dict, entry: dict, queues: Mapping[str, QueueConfig]) -> bool:
    """Could this agent take this caller: in the caller's queue, with every needed skill at
    its level, and not one who declined it already."""
    skills = agent_doc.get("skills") or {}
    config = queues.get(entry["queue"])
    return (
        config is not None
        and in_queue(skills, config)
        and all(int(skills.get(s, 0)) >= int(lvl) for s, lvl in (entry.get("need") or {}).items())
        and str(agent_doc["id"]) not in {str(d) for d in entry.get("declined") or []}
    )


def score(entry: dict) -> int:
    return (2 - int(entry["prio"])) * 10**12 + int(entry["t0"])


def check(
    connection: redis.Redis,
    keys: Keys,
    queues: Mapping[str, QueueConfig],
    *,
    settled: bool = True,
) -> tuple[dict[str, dict], dict[str, dict]]:
    """Assert the router's invariants on what is in Redis now; give back (agents, entries).
    ``settled``: no follow-up is under way (no agent may be left 'pending')."""
    agents = _json_hash(connection, keys.agents)
    entries = _json_hash(connection, keys.entries)
    deadlines = {
        m.decode(): s for m, s in connection.zrange(keys.deadlines, 0, -1, withscores=True)
    }

    for aid, a in agents.items():
        assert a["state"] in STATES, a
        assert sorted(a.get("queues") or []) == sorted(
            q.name for q in queues.values() if in_queue(a.get("skills") or {}, q)
        ), a
        # reserved iff holding an offer (so at most one: it is one field)
        assert bool(a.get("offer")) == (a["state"] == "reserved"), a
        assert bool(a.get("call")) == (a["state"] == "busy"), a
        if settled:
            assert a["state"] != "pending", f"agent {aid} left pending: {a}"
        if a["state"] == "reserved":
            e = entries.get(str(a["offer"]))
            assert e is not None, f"agent {aid} rings for a caller who is gone: {a}"
            assert e["state"] == "offered" and str(aid) in map(str, e["offered"]), (a, e)
        if a["state"] == "busy":
            e = entries.get(str(a["call"]))
            assert e is not None and e["state"] == "connected", (a, e)
            assert str(e["agent"]) == aid, (a, e)
        if a["state"] == "wrap_up":
            assert deadlines.get(f"wrap|{aid}") == a["wrap_until"], (a, deadlines)

    offers_of: Counter[str] = Counter()
    for eid, e in entries.items():
        assert e["state"] in ENTRY_STATES, e
        offered = [str(x) for x in e.get("offered") or []]
        if e["state"] == "offered":
            assert offered, e
            if str(queues[e["queue"]].strategy) == "ring_all":
                assert len(offered) <= queues[e["queue"]].max_agents_ring_all, e
            else:
                assert len(offered) == 1, f"caller offered to several agents: {e}"
            assert len(set(offered)) == len(offered), e
            for aid in offered:
                offers_of[aid] += 1
                a = agents[aid]
                assert a["state"] == "reserved" and str(a["offer"]) == eid, (e, a)
                assert eligible(a, e, queues), (e, a)
                assert f"offer|{eid}|{aid}" in deadlines, (e, deadlines)
        if e["state"] == "connected":
            a = agents[str(e["agent"])]
            assert a["state"] == "busy" and str(a["call"]) == eid, (e, a)
        if e["state"] == "scheduled":
            assert f"callback|{eid}" in deadlines, (e, deadlines)
        if e["state"] == "waiting":
            # No caller waits while an agent who could take it is available.
            for aid, a in agents.items():
                assert not (a["state"] == "available" and eligible(a, e, queues)), (
                    f"caller {eid} waits while agent {aid} is available for it",
                    e,
                    a,
                )
    assert max(offers_of.values(), default=0) <= 1, offers_of

    # Every waiting caller is in the waiting index of its queue and skills, at its place
    # (priority, then original enqueue time), and that index is known to the queue.
    waiting = [e for e in entries.values() if e["state"] == "waiting"]
    pipe = connection.pipeline(transaction=False)
    for e in waiting:
        pipe.zscore(keys.waiting(e["queue"], e["sig"]), e["id"])
        pipe.sismember(keys.signatures(e["queue"]), e["sig"])
    found = pipe.execute()
    for e, place, known in zip(waiting, found[::2], found[1::2], strict=True):
        assert place == score(e) and known, (e, place, known)

    # Every outstanding offer and wrap-up has its deadline, and no deadline outlives them.
    for member in deadlines:
        kind, _, rest = member.partition("|")
        if kind == "offer":
            eid, _, aid = rest.rpartition("|")
            assert str((agents.get(aid) or {}).get("offer")) == eid, f"stale deadline {member}"
        elif kind == "wrap":
            assert agents[rest]["state"] == "wrap_up", f"stale deadline {member}"
        # (a "callback|" left by a caller moved or gone is harmless: the next scheduling of
        # the same entry overwrites it, and a due one finds nothing scheduled to wake)

    # The live counts equal a recount from the hashes.
    recount: Counter[str] = Counter()
    for a in agents.values():
        for q in a.get("queues") or []:
            recount[f"{q}|{a['state']}"] += 1
    for e in entries.values():
        if e["state"] == "waiting":
            recount[f"{e['queue']}|waiting"] += 1
    counts = {k.decode(): int(v) for k, v in connection.hgetall(keys.counts).items()}
    assert {k: v for k, v in counts.items() if v} == +recount, (counts, recount)

    # Every available agent is in each ready index it belongs to: its queues', and those of
    # the skill signatures the queue has seen that it has the skills for.
    pipe = connection.pipeline(transaction=False)
    for q in queues:
        pipe.smembers(keys.signatures(q))
    seen = pipe.execute()
    sigs = {q: sorted(m.decode() for m in found) for q, found in zip(queues, seen, strict=True)}
    wanted = []
    for aid, a in agents.items():
        if a["state"] != "available":
            continue
        for q in a["queues"]:
            wanted.append((keys.ready(q), aid))
            for sig in sigs[q]:
                needs = parse_signature(sig)
                if sig and all(int(a["skills"].get(s, 0)) >= lvl for s, lvl in needs.items()):
                    wanted.append((keys.ready(q, sig), aid))
    for key, aid in wanted:
        pipe.zscore(key, aid)
    missing = [w for w, found in zip(wanted, pipe.execute(), strict=True) if found is None]
    assert not missing, f"available agents missing from ready indexes: {missing}"
    return agents, entries


def check_actions(connection: redis.Redis, keys: Keys, actions: Iterable[Action]) -> None:
    """Ring and stop-ringing actions agree with the state they leave: the last word on each
    (caller, agent) pair is what Redis says."""
    last: dict[tuple[str, int], str] = {}
    for action in actions:
        if action.kind in ("offer", "cancel", "withdraw"):
            last[(action.entry_id, action.agent_id)] = action.kind
    agents = _json_hash(connection, keys.agents)
    for (eid, aid), kind in last.items():
        holds = str((agents.get(str(aid)) or {}).get("offer")) == eid
        assert holds == (kind == "offer"), (eid, aid, kind, agents.get(str(aid)))


# The errors the router logs instead of raising (a deadline whose handling failed).
FAILED = logging.handlers.BufferingHandler(10_000)
FAILED.setLevel(logging.ERROR)


# ---------------------------------------------------------------------------- the machine
class RouterMachine(RuleBasedStateMachine):
    """One example: an empty Redis, a fresh clock, the agents offline, nobody waiting."""

    connection: redis.Redis  # set by the test, from the redis_url fixture

    def __init__(self) -> None:
        super().__init__()
        self.connection.flushdb()
        self.clock = ManualClock(START)
        self.keys = Keys("sm")
        self.router = Router(self.connection, self.clock, lambda: QUEUES, keys=self.keys)
        self.live: set[str] = set()  # the callers the router must still know
        self.serial = 0
        # What Redis held after the last step (the invariant reads it): for preconditions.
        self.seen: tuple[dict[str, dict], dict[str, dict]] = ({}, {})

    # -- reading
    def agents(self) -> dict[str, dict]:
        return _json_hash(self.connection, self.keys.agents)

    def entries(self) -> dict[str, dict]:
        return _json_hash(self.connection, self.keys.entries)

    def offers(self) -> list[tuple[int, str]]:
        return sorted((int(aid), str(a["offer"])) for aid, a in self.seen[0].items() if a["offer"])

    def in_state(self, *states: str) -> list[str]:
        return sorted(eid for eid, e in self.seen[1].items() if e["state"] in states)

    def agents_in(self, state: str) -> list[int]:
        return sorted(int(aid) for aid, a in self.seen[0].items() if a["state"] == state)

    def run(self, actions: list[Action]) -> None:
        check_actions(self.connection, self.keys, actions)

    # -- agents
    @initialize(first=st.sampled_from(sorted(AGENTS)))
    def someone_logs_in(self, first):
        self.run(self.router.set_presence(AGENTS[first], "available").actions)

    @rule(
        agent_id=st.sampled_from(sorted(AGENTS)),
        state=st.sampled_from(["available", "available", "away", "offline"]),
        reason=st.sampled_from(["break", "lunch", "meeting"]),
    )
    def presence(self, agent_id, state, reason):
        before = self.router.agent(agent_id)
        old = before["state"] if before else "offline"
        if old in ("reserved", "busy"):  # ringing or on a call: the offer or call ends first
            with pytest.raises(IllegalTransition) as refused:
                self.router.set_presence(AGENTS[agent_id], state, reason)
            assert self.router.agent(agent_id) == before
            # Said as a sentence: no arrow, no state, no id (it once read "agent 1: busy ->
            # available").
            message = refused.value.message
            words = {w.strip(".,;:").lower() for w in message.split()}
            assert "->" not in message and not words & STATES, message
            assert not any(ch.isdigit() for ch in message), message
            assert refused.value.error_id in ("call_ringing", "on_a_call"), refused.value
            return
        waiting = [
            e
            for e in self.entries().values()
            if e["state"] == "waiting"
            and eligible(
                {**(before or {}), "id": agent_id, "skills": AGENTS[agent_id].skills}, e, QUEUES
            )
        ]
        outcome = self.router.set_presence(AGENTS[agent_id], state, reason)
        self.run(outcome.actions)
        after = self.router.agent(agent_id)
        if state != "available":
            assert after["state"] == state
            assert (after["reason"] or None) == (reason if state == "away" else None)
        elif waiting:  # takes the best call it can: highest priority, then longest waiting
            assert after["state"] == "reserved", (after, waiting)
            taken = self.router.entry(after["offer"])
            assert score(taken) == min(score(e) for e in waiting), (taken, waiting)
        else:
            assert after["state"] == "available", after

    @rule(agent_id=st.sampled_from(sorted(AGENTS)))
    def supervisor_signs_out(self, agent_id):
        """Whatever the agent's state: out now, or (on a call) when it ends."""
        before = self.router.agent(agent_id)
        old = before["state"] if before else "offline"
        outcome = self.router.force_offline(AGENTS[agent_id])
        self.run(outcome.actions)
        after = self.router.agent(agent_id)
        if old == "busy":
            assert outcome.state == "offline_after_call", outcome
            assert after["state"] == "busy" and after["after_call"] == "offline", after
        else:
            assert after["state"] == "offline" and not after.get("after_call"), (old, after)
            if old == "reserved":
                assert after["misses"] == before["misses"], "a withdrawn offer is no miss"

    @precondition(lambda self: self.agents_in("wrap_up"))
    @rule(data=st.data())
    def end_wrap_up(self, data):
        agent_id = data.draw(st.sampled_from(self.agents_in("wrap_up")))
        self.run(self.router.end_wrap_up(agent_id).actions)
        assert self.router.agent(agent_id)["state"] in ("available", "reserved")

    # -- callers
    @rule(
        queue_name=st.sampled_from(sorted(QUEUES)),
        priority=st.sampled_from(list(Priority)),
        needs=NEEDS,
    )
    def enqueue(self, queue_name, priority, needs):
        self.serial += 1
        entry_id = f"CA{self.serial}"
        outcome = self.router.enqueue(
            entry_id, queue_name, call_sid=entry_id, priority=priority, needs=needs
        )
        assert outcome.state in ("waiting", "offered")
        self.live.add(entry_id)
        self.run(outcome.actions)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def caller_hangs_up(self, data):
        entry_id = data.draw(st.sampled_from(sorted(self.live)))
        entry = self.router.entry(entry_id)
        if entry["state"] == "connected":  # on the call: the call ends
            outcome = self.router.call_ended(entry_id, callback_status="completed")
            assert outcome.state == "ended"
            self.live.discard(entry_id)
        else:
            outcome = self.router.caller_gone(entry_id)
            if entry["kind"] == "callback":  # asked to be called back: keeps the place
                assert outcome.state == "noop" and self.router.entry(entry_id) is not None
            else:
                assert outcome.state == "gone" and self.router.entry(entry_id) is None
                self.live.discard(entry_id)
        self.run(outcome.actions)

    @precondition(lambda self: self.in_state("connected"))
    @rule(data=st.data(), status=st.sampled_from(["completed", "no-answer"]))
    def call_ends(self, data, status):
        entry_id = data.draw(st.sampled_from(self.in_state("connected")))
        entry = self.router.entry(entry_id)
        signed_out = self.router.agent(entry["agent"]).get("after_call") == "offline"
        outcome = self.router.call_ended(entry_id, callback_status=status)
        assert outcome.state == "ended"
        wrap = QUEUES[entry["queue"]].wrap_up_seconds
        state = self.router.agent(entry["agent"])["state"]
        if signed_out:  # a supervisor signed the agent out during the call
            assert state == "offline"
        else:
            assert state == "wrap_up" if wrap else state in ("available", "reserved")
        if outcome.detail["retry"]:
            assert self.router.entry(entry_id)["state"] == "scheduled"
        else:
            assert self.router.entry(entry_id) is None
            self.live.discard(entry_id)
        self.run(outcome.actions)

    @precondition(lambda self: self.in_state("waiting"))
    @rule(data=st.data())
    def keep_place(self, data):
        entry_id = data.draw(st.sampled_from(self.in_state("waiting")))
        kind = self.router.entry(entry_id)["kind"]
        assert self.router.keep_place(entry_id, "+15555550100") == (kind == "call")
        assert self.router.entry(entry_id)["kind"] == "callback"

    @precondition(lambda self: self.live)
    @rule(data=st.data(), to=st.sampled_from(sorted(QUEUES)))
    def move(self, data, to):
        entry_id = data.draw(st.sampled_from(sorted(self.live)))
        before = self.router.entry(entry_id)
        if before["state"] == "connected":
            with pytest.raises(Conflict):
                self.router.move(entry_id, to)
            assert self.router.entry(entry_id) == before
            return
        outcome = self.router.move(entry_id, to)
        self.run(outcome.actions)
        after = self.router.entry(entry_id)
        assert after["queue"] == to and after["state"] in ("waiting", "offered")
        assert (after["t0"], after["prio"], after["need"]) == (
            before["t0"],
            before["prio"],
            before["need"],
        )

    # -- offers
    @precondition(lambda self: self.offers())
    @rule(data=st.data())
    def accept(self, data):
        agent_id, entry_id = data.draw(st.sampled_from(self.offers()))
        ringing = [int(a) for a in self.router.entry(entry_id)["offered"]]
        outcome = self.router.accept(agent_id, entry_id)
        assert outcome.state == "connected"
        withdrawn = sorted(a.agent_id for a in outcome.actions if a.kind == "withdraw")
        assert withdrawn == sorted(a for a in ringing if a != agent_id)
        self.run(outcome.actions)
        assert self.router.agent(agent_id)["state"] == "busy"
        assert self.router.entry(entry_id)["agent"] == agent_id
        # Accepted twice (the screen, then the softphone): the same answer, no change.
        before = (self.agents(), self.entries())
        assert self.router.accept(agent_id, entry_id).state == "connected"
        assert (self.agents(), self.entries()) == before

    @rule(agent_id=st.sampled_from(sorted(AGENTS)), data=st.data())
    def accept_what_is_not_offered(self, agent_id, data):
        """A late click, a stale page: nothing changes."""
        doc = self.router.agent(agent_id) or {}
        choices = sorted({*self.live, "CA0"} - {doc.get("offer"), doc.get("call")})
        entry_id = data.draw(st.sampled_from(choices))
        before = (self.agents(), self.entries())
        assert self.router.accept(agent_id, entry_id).state == "gone"
        assert (self.agents(), self.entries()) == before

    @precondition(lambda self: self.offers())
    @rule(data=st.data(), why=st.sampled_from(["rejected", "timeout", "failed", "deferred"]))
    def release(self, data, why):
        agent_id, entry_id = data.draw(st.sampled_from(self.offers()))
        entry = self.router.entry(entry_id)
        if why == "deferred" and entry["kind"] != "callback":
            why = "rejected"
        misses = self.router.agent(agent_id).get("misses") or 0
        defer = self.clock.now() + timedelta(minutes=10) if why == "deferred" else None
        outcome = self.router.release(agent_id, entry_id, why, defer_until=defer)
        self.run(outcome.actions)
        after = self.router.agent(agent_id)
        assert after.get("offer") != entry_id
        if why == "deferred":
            assert after["misses"] == misses
        else:
            assert agent_id in self.router.entry(entry_id)["declined"]
            if misses + 1 >= self.router.max_misses:
                assert (after["state"], after["reason"]) == ("away", "missed_offers")
            else:
                assert after["state"] in ("available", "reserved")

    # -- time
    @rule(seconds=st.sampled_from([1, 5, 10, 15, 30, 61, 300, 600]))
    def time_passes(self, seconds):
        self.clock.advance(seconds)
        actions = self.router.tick()
        for action in list(actions):
            if action.kind == "overflow":  # max wait: to the overflow queue (routing/offers.py)
                entry = self.router.entry(action.entry_id)
                if entry and entry["state"] in ("waiting", "scheduled"):
                    target = QUEUES[entry["queue"]].overflow_queue
                    actions.extend(self.router.move(action.entry_id, target).actions)
        self.run(actions)
        now = self.router.now()[0]
        due = self.connection.zrangebyscore(self.keys.deadlines, "-inf", now)
        assert due == [], f"deadlines left unswept: {due}"

    @invariant()
    def router_invariants(self):
        assert not FAILED.buffer, [r.getMessage() for r in FAILED.buffer]
        self.seen = check(self.connection, self.keys, QUEUES)
        assert set(self.seen[1]) == self.live, "a caller was lost or one was made up"


def test_router_state_machine(redis_url):
    """About 30 s on two cores; SM_EXAMPLES and SM_STEPS set a longer hunt."""
    connection = redis.Redis.from_url(redis_url)
    RouterMachine.connection = connection
    logger = logging.getLogger("callcenter.routing")
    FAILED.buffer.clear()
    logger.addHandler(FAILED)
    try:
        run_state_machine_as_test(
            RouterMachine,
            settings=settings(
                max_examples=int(os.environ.get("SM_EXAMPLES", 120)),
                stateful_step_count=int(os.environ.get("SM_STEPS", 40)),
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        logger.removeHandler(FAILED)
        connection.flushdb()
        connection.close()
