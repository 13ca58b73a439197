"""The ticker writes each caller's wait, with how it ended, into routing_waits (what the
wallboard's service level is counted from): from the router's real records on a real Redis,
drained into the real database, on the injected clock."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm_core.acd import create_queue
from crm_core.acd_records import WaitRecord, epoch_ms
from crm_core.acd_schemas import QueueIn
from crm_core.schemas import UserIn, parse
from crm_core.users import create_user
from routing.config import profile
from routing.ticker import drain, write
from tests.conftest import START


@pytest.fixture
def agents(deps, clock):
    """The sales and service queues (no skills needed, no wrap-up); Ana and Luis."""
    with deps.session_factory.begin() as s:
        for name in ("sales", "service"):
            queue = {"name": name, "empty_action": "wait", "wrap_up_seconds": 0}
            create_queue(s, parse(QueueIn, queue), clock)
        users = [
            create_user(s, parse(UserIn, {"username": n, "password": "x" * 12}), clock)
            for n in ("ana", "luis")
        ]
        return {u.username: profile(u) for u in users}


def waits(deps) -> list[tuple]:
    """(queue, entry, outcome, waited ms, entered, ended) of every wait, after a drain."""
    drain(deps, "test")
    with deps.session_factory() as s:
        rows = s.scalars(select(WaitRecord).order_by(WaitRecord.ended_ms, WaitRecord.id))
        return [
            (w.queue_name, w.entry_id, str(w.outcome), w.waited_ms, w.entered_at, w.ended_at)
            for w in rows
        ]


def test_an_answer_is_written_with_its_wait_as_it_happens(deps, clock, agents):
    router = deps.router
    router.enqueue("E1", "sales", call_sid="CA1")
    clock.advance(30)
    router.set_presence(agents["ana"], "available")  # rings Ana
    clock.advance(4)
    assert router.accept(agents["ana"].id, "E1").state == "connected"
    ended = START + timedelta(seconds=34)
    assert waits(deps) == [("sales", "E1", "answered", 34_000, START, ended)]
    with deps.session_factory() as s:
        row = s.scalars(select(WaitRecord)).one()
        assert row.call_sid == "CA1" and row.ended_ms == epoch_ms(ended)
        assert row.ended_at.tzinfo is not None  # stored UTC, read back aware


def test_hanging_up_while_the_first_agent_rings_is_an_abandon(deps, clock, agents):
    """The caller never heard an estimate (no announced-estimate row): the wait is known."""
    router = deps.router
    router.set_presence(agents["ana"], "available")
    router.enqueue("E1", "sales", call_sid="CA1")  # offered to Ana at once
    assert router.entry("E1")["state"] == "offered"
    clock.advance(6)
    router.caller_gone("E1", "abandoned")
    assert waits(deps) == [("sales", "E1", "abandoned", 6_000, START, START + timedelta(seconds=6))]


def test_a_caller_moved_to_another_queue_overflowed_there_and_waits_anew(deps, clock, agents):
    router = deps.router
    router.enqueue("E1", "sales", call_sid="CA1")
    clock.advance(10)
    router.move("E1", "service")
    clock.advance(5)
    router.set_presence(agents["ana"], "available")
    router.accept(agents["ana"].id, "E1")
    moved, answered = START + timedelta(seconds=10), START + timedelta(seconds=15)
    assert waits(deps) == [
        ("sales", "E1", "overflowed", 10_000, START, moved),
        ("service", "E1", "answered", 5_000, moved, answered),
    ]


def test_a_kept_place_called_back_is_a_callback_not_an_answer(deps, clock, agents):
    router = deps.router
    router.enqueue("E1", "sales", call_sid="CA1", phone="+15551230001")
    clock.advance(20)
    assert router.keep_place("E1", "+15551230001")
    clock.advance(100)
    router.set_presence(agents["ana"], "available")
    router.accept(agents["ana"].id, "E1")
    assert [(w[2], w[3]) for w in waits(deps)] == [("callback", 120_000)]


@pytest.mark.parametrize("mode", ["connect", "offer"])
def test_a_handover_is_no_second_answer(deps, clock, agents, mode):
    router = deps.router
    ana, luis = agents["ana"], agents["luis"]
    router.enqueue("E1", "sales", call_sid="CA1")
    clock.advance(5)
    router.set_presence(ana, "available")
    router.accept(ana.id, "E1")
    router.set_presence(luis, "available")
    clock.advance(60)
    router.handover("E1", ana.id, luis.id, mode=mode, conference="CF1")
    if mode == "offer":  # the colleague's phone rings, they answer
        clock.advance(3)
        assert router.accept(luis.id, "E1").state == "connected"
    assert waits(deps) == [("sales", "E1", "answered", 5_000, START, START + timedelta(seconds=5))]


def test_a_caller_hanging_up_during_a_cold_handover_is_no_abandon(deps, clock, agents):
    router = deps.router
    ana, luis = agents["ana"], agents["luis"]
    router.enqueue("E1", "sales", call_sid="CA1")
    router.set_presence(ana, "available")
    router.accept(ana.id, "E1")
    router.set_presence(luis, "available")
    clock.advance(60)
    router.handover("E1", ana.id, luis.id, mode="offer")
    clock.advance(4)
    assert router.caller_gone("E1", "abandoned").state == "gone"  # while Luis's phone rang
    assert [(w[1], w[2]) for w in waits(deps)] == [("E1", "answered")]
    # Nor on the live tile: the day's counters have the one answer and no abandon.
    day = clock.now().astimezone(router.zone).date().isoformat()
    counted = {k.decode(): int(v) for k, v in router.redis.hgetall(router.keys.stats(day)).items()}
    assert counted["sales|answered"] == 1 and "sales|abandoned" not in counted


def test_each_wait_is_written_once_though_its_record_is_read_again(deps, clock, agents):
    """A batch written but not acknowledged is read again; a callback is taken again."""
    at = 10_000_000
    records = [
        {"kind": "outcome", "outcome": "accepted", "entry": "E1", "queue": "sales", "at": at,
         "waited_ms": 7_000, "call_sid": "CA1", "entry_kind": "call", "agent": None},
        {"kind": "outcome", "outcome": "accepted", "entry": "E2", "queue": "sales", "at": at,
         "waited_ms": 9_000, "call_sid": "CA2", "entry_kind": "callback", "agent": None},
    ]  # fmt: skip
    again = {**records[1], "at": at + 600_000, "waited_ms": 609_000}  # the same wait
    for batch in (records, records, [again]):
        with deps.session_factory.begin() as s:
            write(s, batch)
    with deps.session_factory() as s:
        rows = s.execute(select(WaitRecord.entry_id, WaitRecord.waited_ms)).all()
    assert sorted(rows) == [("E1", 7_000), ("E2", 9_000)]


def test_an_unreadable_wait_is_logged_and_holds_back_no_other(deps, agents, caplog):
    good = {"kind": "wait_end", "outcome": "abandoned", "entry": "E1", "queue": "sales",
            "at": 5_000_000, "waited_ms": 3_000, "call_sid": "CA1"}  # fmt: skip
    bad = [{**good, "entry": "E2", "waited_ms": "3s"}, {**good, "entry": "E3", "queue": None}]
    bad.append({**good, "entry": "E4", "waited_ms": float("nan")})
    log = caplog.at_level(logging.WARNING, "callcenter.routing.ticker")
    with log, deps.session_factory.begin() as s:
        write(s, [*bad, good])
    with deps.session_factory() as s:
        assert s.scalars(select(WaitRecord.entry_id)).all() == ["E1"]
    assert sum("no readable wait" in r.message for r in caplog.records) == 3
