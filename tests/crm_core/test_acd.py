"""The ACD's durable configuration and records: queues, skills, offers, wait estimates."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from crm_core import acd
from crm_core.acd import (
    EmptyAction,
    OfferOutcome,
    OverflowAction,
    QueueConfig,
    QueueIn,
    QueueStrategy,
    QueueUpdate,
    RoutingQueue,
    WaitOutcome,
)
from crm_core.demo import seed
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.models import Role
from crm_core.schemas import UserIn, parse
from crm_core.users import create_user


def make(session, clock, name="sales", **fields):
    q = acd.create_queue(session, parse(QueueIn, {"name": name, **fields}), clock)
    session.commit()
    return q


def change(session, clock, name, **fields):
    q = acd.update_queue(session, name, parse(QueueUpdate, fields), clock)
    session.commit()
    return q


def user(session, clock, username="ana", role=Role.AGENT, **extra):
    u = create_user(
        session, UserIn(username=username, role=role, password="pw-123456", **extra), clock
    )
    session.commit()
    return u


def test_defaults(session, clock):
    config = acd.queue_config(make(session, clock, required_skills="sales:1"))
    assert config.display_name == "sales" and config.required_skills == {"sales": 1}
    assert config.strategy is QueueStrategy.LONGEST_IDLE
    assert (config.offer_timeout_seconds, config.wrap_up_seconds) == (15, 30)
    assert config.service_level_seconds == 20 and config.max_wait_seconds is None
    assert config.overflow_action is None and config.overflow_queue is None
    assert config.empty_action is EmptyAction.VOICEMAIL
    assert (config.escalation_after_seconds, config.escalation_relax_levels) == (None, 0)
    assert (config.max_agents_ring_all, config.callback_attempts) == (20, 2)
    assert config.callback_retry_minutes == 10 and config.hold_script is None
    assert config.active and config.created_at == config.updated_at == clock.now()
    assert config.disposition_required is False


def test_disposition_required_is_set_kept_and_round_trips(session, clock):
    q = make(session, clock, required_skills="sales:1", disposition_required=True)
    assert acd.queue_config(q).disposition_required is True
    config = acd.queue_config(q)
    assert acd.QueueConfig.from_dict(config.to_dict()) == config
    off = acd.update_queue(
        session, "sales", parse(QueueUpdate, {"disposition_required": False}), clock
    )
    assert acd.queue_config(off).disposition_required is False


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "Sales"}, "name"),
        ({"name": "sales queue"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "s" * 65}, "name"),
        ({"display_name": ""}, "display_name"),
        ({"display_name": "x" * 81}, "display_name"),
        ({"required_skills": {"Sales": 1}}, "required_skills"),
        ({"required_skills": {"sales": 0}}, "required_skills"),
        ({"required_skills": {"sales": 11}}, "required_skills"),
        ({"required_skills": {"sales": True}}, "required_skills"),
        ({"required_skills": "sales=1"}, "required_skills"),
        ({"strategy": "random"}, "strategy"),
        ({"offer_timeout_seconds": 4}, "offer_timeout_seconds"),
        ({"offer_timeout_seconds": 121}, "offer_timeout_seconds"),
        ({"offer_timeout_seconds": "15"}, "offer_timeout_seconds"),
        ({"offer_timeout_seconds": True}, "offer_timeout_seconds"),
        ({"wrap_up_seconds": -1}, "wrap_up_seconds"),
        ({"wrap_up_seconds": 1801}, "wrap_up_seconds"),
        ({"service_level_seconds": 0}, "service_level_seconds"),
        ({"max_wait_seconds": 0, "overflow_action": "voicemail"}, "max_wait_seconds"),
        ({"overflow_action": "hangup"}, "overflow_action"),
        ({"empty_action": "ring"}, "empty_action"),
        ({"escalation_relax_levels": 10}, "escalation_relax_levels"),
        ({"max_agents_ring_all": 0}, "max_agents_ring_all"),
        ({"hold_script": "../../etc/passwd"}, "hold_script"),
        ({"callback_attempts": 11}, "callback_attempts"),
        ({"callback_retry_minutes": 0}, "callback_retry_minutes"),
        ({"active": "yes"}, "active"),
        ({"disposition_required": "yes"}, "disposition_required"),
        ({"time_zone": "0" * 300}, "time_zone"),  # was an OSError from the zone database
        ({"time_zone": {"0": None}}, "time_zone"),
        ({"disposition_required": 1}, "disposition_required"),
        ({"colour": "red"}, "colour"),
        # rules between fields
        ({"max_wait_seconds": 60}, "overflow_action"),
        ({"empty_action": "overflow"}, "overflow_action"),
        ({"overflow_action": "queue"}, "overflow_queue"),
        ({"overflow_action": "voicemail", "overflow_queue": "service"}, "overflow_queue"),
        ({"overflow_queue": "service"}, "overflow_queue"),
        ({"overflow_action": "queue", "overflow_queue": "sales"}, "overflow_queue"),
        ({"escalation_after_seconds": 60}, "escalation_relax_levels"),
        ({"escalation_relax_levels": 2}, "escalation_relax_levels"),
    ],
)
def test_each_bad_field_is_named(fields, field):
    with pytest.raises(InvalidInput) as err:
        parse(QueueIn, {"name": "sales"} | fields)
    assert err.value.field == field, err.value.message


def test_duplicate_name_is_a_conflict(session, clock):
    make(session, clock)
    with pytest.raises(Conflict) as err:
        make(session, clock)
    assert err.value.field == "name" and err.value.status == 409


def test_overflow_to_another_queue(session, clock):
    make(session, clock, "sales")
    spanish = make(
        session,
        clock,
        "spanish-sales",
        required_skills={"sales": 1, "spanish": 5},
        max_wait_seconds=120,
        overflow_action="queue",
        overflow_queue="sales",
    )
    config = acd.queue_config(spanish)
    assert config.overflow_action is OverflowAction.QUEUE and config.overflow_queue == "sales"
    assert config.overflow_queue_id == acd.get_queue(session, "sales").id


def test_overflow_target_must_exist_and_not_loop(session, clock):
    with pytest.raises(InvalidInput) as err:
        make(session, clock, "a", overflow_action="queue", overflow_queue="nowhere")
    assert err.value.field == "overflow_queue" and "nowhere" in err.value.message
    session.rollback()
    make(session, clock, "a")
    make(session, clock, "b", overflow_action="queue", overflow_queue="a")
    make(session, clock, "c", overflow_action="queue", overflow_queue="b")
    with pytest.raises(InvalidInput) as loop:
        change(session, clock, "a", overflow_action="queue", overflow_queue="c")
    assert loop.value.field == "overflow_queue" and "a → c → b → a" in loop.value.message
    with pytest.raises(InvalidInput) as itself:
        change(session, clock, "a", overflow_action="queue", overflow_queue="a")
    assert itself.value.field == "overflow_queue"


def test_database_refuses_what_the_inputs_refuse(session, clock):
    """The CHECK constraints hold even for code that bypasses the services."""
    sales = make(session, clock)
    for bad in (
        {"offer_timeout_seconds": 200},
        {"overflow_action": OverflowAction.QUEUE},  # no target
        {"overflow_queue_id": sales.id},  # a target without the action
        {"overflow_queue_id": "itself", "overflow_action": OverflowAction.QUEUE},
        {"max_wait_seconds": 60},  # no overflow action
    ):
        other = make(session, clock, "other")
        for key, value in bad.items():
            setattr(other, key, other.id if value == "itself" else value)
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.delete(session.get(RoutingQueue, other.id))
        session.commit()


def test_update_changes_only_what_is_given(session, clock):
    make(session, clock, "service")
    make(session, clock, "sales", required_skills="sales:2", wrap_up_seconds=45)
    clock.advance(minutes=5)
    q = change(session, clock, "sales", strategy="ring_all", max_agents_ring_all=5)
    config = acd.queue_config(q)
    assert config.strategy is QueueStrategy.RING_ALL and config.max_agents_ring_all == 5
    assert config.wrap_up_seconds == 45 and config.required_skills == {"sales": 2}
    assert config.updated_at == clock.now() != config.created_at
    overflow = {"overflow_action": "queue", "overflow_queue": "service"}
    q = change(session, clock, "sales", max_wait_seconds=90, **overflow)
    assert acd.queue_config(q).overflow_queue == "service"
    # leaving queue overflow drops the target; clearing max wait keeps the action
    q = change(session, clock, "sales", overflow_action="callback")
    assert (q.overflow_action, q.overflow_queue_id) == (OverflowAction.CALLBACK, None)
    q = change(session, clock, "sales", max_wait_seconds=None)
    assert q.max_wait_seconds is None and q.overflow_action is OverflowAction.CALLBACK
    # the merged queue is checked as a whole
    with pytest.raises(InvalidInput) as err:
        change(session, clock, "sales", overflow_action=None, max_wait_seconds=60)
    assert err.value.field == "overflow_action"
    session.rollback()
    with pytest.raises(InvalidInput) as err:
        parse(QueueUpdate, {"name": "x"})
    assert err.value.field == "name"  # a queue's name is its key: not changeable
    by_id = acd.update_queue(session, q.id, QueueUpdate(active=False), clock)
    assert by_id.active is False
    assert [x.name for x in acd.list_queues(session, active_only=True)] == ["service"]
    with pytest.raises(NotFound):
        acd.update_queue(session, "nope", QueueUpdate(), clock)
    with pytest.raises(NotFound):
        acd.update_queue(session, 10**6, QueueUpdate(), clock)


def test_queue_config_round_trip(session, clock):
    make(session, clock, "sales")
    q = make(
        session,
        clock,
        "spanish-sales",
        display_name="Ventas",
        required_skills={"sales": 3, "spanish": 6},
        strategy="skills_weighted",
        max_wait_seconds=120,
        overflow_action="queue",
        overflow_queue="sales",
        empty_action="overflow",
        escalation_after_seconds=30,
        escalation_relax_levels=2,
        hold_script="hold-es",
    )
    config = acd.queue_config(q)
    session.close()  # the config needs no session
    data = config.to_dict()
    assert data["strategy"] == "skills_weighted" and data["overflow_queue"] == "sales"
    assert QueueConfig.from_dict(data) == config
    again = parse(QueueIn, {k: data[k] for k in QueueIn.model_fields})
    assert again.model_dump()["overflow_queue"] == "sales"
    with pytest.raises(AttributeError):
        config.name = "x"  # frozen


def test_aging_relaxes_skill_minimums_to_a_floor_of_one(session, clock):
    config = acd.queue_config(
        make(
            session,
            clock,
            required_skills={"sales": 5, "spanish": 2},
            escalation_after_seconds=30,
            escalation_relax_levels=2,
        )
    )
    assert config.minimums_after(0) == {"sales": 5, "spanish": 2}
    assert config.minimums_after(29.9) == {"sales": 5, "spanish": 2}
    assert config.minimums_after(30) == {"sales": 3, "spanish": 1}
    assert config.minimums_after(95) == {"sales": 1, "spanish": 1}
    assert config.minimums_after(30, {"finance": 9}) == {"finance": 7}
    plain = acd.queue_config(make(session, clock, "plain", required_skills="sales:5"))
    assert plain.minimums_after(3600) == {"sales": 5}


def test_agent_skills_and_list(session, clock):
    ana = user(session, clock, "ana", skills={"sales": 8})
    user(session, clock, "sam", Role.SUPERVISOR)
    user(session, clock, "root", Role.ADMIN)
    gone = user(session, clock, "old")
    gone.active = False
    info = acd.set_agent_skills(session, ana.id, {"sales": 8, "spanish": 7})
    assert info.skills == {"sales": 8, "spanish": 7}
    assert acd.set_agent_skills(session, ana.id, "service:5").skills == {"service": 5}
    session.commit()
    agents = acd.list_agents(session)
    assert [(a.username, a.role) for a in agents] == [
        ("ana", Role.AGENT),
        ("sam", Role.SUPERVISOR),
    ]
    assert agents[0].softphone_identity == "agent_ana"
    assert agents[0].to_dict()["role"] == "agent"
    for bad in ({"Sales": 1}, {"sales": 0}, {"sales": 11}, "sales"):
        with pytest.raises(InvalidInput) as err:
            acd.set_agent_skills(session, ana.id, bad)
        assert err.value.field == "skills"
    with pytest.raises(NotFound):
        acd.set_agent_skills(session, 10**6, {})


T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def offer(**fields):
    return {
        "offered_at": T0,
        "queue_name": "sales",
        "call_sid": "CA1",
        "entry_id": "e1",
        "agent_id": None,
        "strategy": "longest_idle",
        "rule": "longest idle of 2 eligible",
        "candidates": [{"agent_id": 1, "score": 40.0, "eligible_reason": "sales 8 >= 1"}],
    } | fields


def test_offers_are_recorded_and_settled_once(session, clock):
    ana, luis = user(session, clock, "ana"), user(session, clock, "luis")
    stream_strings = offer(
        offered_at=str(T0.timestamp() + 20),
        agent_id=str(luis.id),
        candidates='[{"agent_id": 2, "score": 1, "eligible_reason": "sales 6 >= 1"}]',
        outcome_at="",
    )
    assert acd.record_offers(session, [offer(agent_id=ana.id), stream_strings]) == 2
    assert acd.record_offers(session, []) == 0
    assert acd.set_offer_outcome(session, "e1", ana.id, "timeout", T0 + timedelta(seconds=15)) == 1
    assert acd.set_offer_outcome(session, "e1", ana.id, "accepted", T0) == 0  # already settled
    assert acd.set_offer_outcome(session, "e1", None, OfferOutcome.ACCEPTED, T0) == 1
    session.commit()
    offers = acd.offers_for_call(session, "CA1")
    assert [(o.agent_id, o.outcome) for o in offers] == [
        (ana.id, OfferOutcome.TIMEOUT),
        (luis.id, OfferOutcome.ACCEPTED),
    ]
    assert offers[1].offered_at == T0 + timedelta(seconds=20)
    assert offers[1].candidates[0]["eligible_reason"] == "sales 6 >= 1"
    assert acd.offers_for_call(session, "CA2") == []
    session.delete(luis)  # the explanation outlives the agent's account
    session.commit()
    session.expire_all()
    assert acd.offers_for_call(session, "CA1")[1].agent_id is None


def test_bad_offer_rows_name_the_row_and_field(session):
    for row, field in [
        (offer(strategy="coin_flip"), "rows.1.strategy"),
        (offer(offered_at="2026-01-05T15:00:00"), "rows.1.offered_at"),  # naive
        (offer(candidates="not json"), "rows.1.candidates"),
        (offer(call_sid=None), "rows.1.call_sid"),
        ({k: v for k, v in offer().items() if k != "rule"}, "rows.1.rule"),
    ]:
        with pytest.raises(InvalidInput) as err:
            acd.record_offers(session, [offer(), row])
        assert err.value.field == field, err.value.message
    with pytest.raises(InvalidInput) as err:
        acd.set_offer_outcome(session, "e1", None, "offered", T0)
    assert err.value.field == "outcome"
    with pytest.raises(InvalidInput):
        acd.set_offer_outcome(session, "e1", None, "lost", T0)


def estimate(call_sid, waited, ours, asterisk, queue="sales", at=T0):
    return {
        "call_sid": call_sid,
        "queue_name": queue,
        "announced_at": at + timedelta(seconds=waited),
        "position": 1,
        "waited_seconds": waited,
        "estimate_seconds": ours,
        "asterisk_estimate_seconds": asterisk,
    }


def test_estimate_accuracy_arithmetic(session):
    assert acd.estimate_accuracy(session) == {
        "count": 0,
        "mean_absolute_error_seconds": None,
        "mean_absolute_error_asterisk_seconds": None,
    }
    rows = [
        # CA1 waits 100 s: announced at 0 s (100 to come) and at 60 s (40 to come)
        estimate("CA1", 0, 90, 150),  # errors 10 and 50
        estimate("CA1", 60, 45, 150),  # errors 5 and 110
        # CA2 waits 30 s
        estimate("CA2", 0, 30, ""),  # error 0; Asterisk said nothing (no history yet)
        # CA3 hangs up: censored, not counted
        estimate("CA3", 0, 10, 10),
        # another queue
        estimate("CA4", 0, 100, 0, queue="service", at=T0 + timedelta(hours=1)),
        # still waiting: not counted
        estimate("CA5", 0, 5, 5),
    ]
    assert acd.record_estimates(session, rows) == 6
    assert acd.set_actual_wait(session, "CA1", 100, WaitOutcome.ANSWERED) == 2
    assert acd.set_actual_wait(session, "CA1", 999, "answered") == 0  # already measured
    acd.set_actual_wait(session, "CA2", 30, "answered")
    acd.set_actual_wait(session, "CA3", 300, "abandoned")
    acd.set_actual_wait(session, "CA4", 40, "answered")
    session.commit()
    sales = acd.estimate_accuracy(session, "sales")
    assert sales == {
        "count": 3,
        "mean_absolute_error_seconds": 5.0,  # (10 + 5 + 0) / 3
        "mean_absolute_error_asterisk_seconds": 80.0,  # (50 + 110) / 2
    }
    everything = acd.estimate_accuracy(session)
    assert everything["count"] == 4
    assert everything["mean_absolute_error_seconds"] == 18.75  # (10 + 5 + 0 + 60) / 4
    later = acd.estimate_accuracy(session, since=T0 + timedelta(minutes=30))
    assert later["count"] == 1 and later["mean_absolute_error_asterisk_seconds"] == 40.0
    with pytest.raises(InvalidInput) as err:
        acd.set_actual_wait(session, "CA5", -1, "answered")
    assert err.value.field == "actual_wait_seconds"
    with pytest.raises(InvalidInput) as err:
        acd.record_estimates(session, [estimate("CA6", 0, -5, None)])
    assert err.value.field == "rows.0.estimate_seconds"


def test_demo_seed_gives_skills_and_queues_once(session, clock):
    assert seed(session, clock) is True
    session.commit()
    names = {q.name: acd.queue_config(q) for q in acd.list_queues(session)}
    assert set(names) == {"sales", "service", "finance", "spanish-sales"}
    spanish = names["spanish-sales"]
    assert spanish.required_skills == {"sales": 1, "spanish": 5}
    assert (spanish.max_wait_seconds, spanish.overflow_queue) == (120, "sales")
    skills = {a.username: a.skills for a in acd.list_agents(session)}
    assert skills["ana"] == {"sales": 8, "service": 5, "spanish": 7}
    assert skills["luis"] == {"sales": 6, "finance": 7}
    ana_id = next(a.id for a in acd.list_agents(session) if a.username == "ana")
    acd.set_agent_skills(session, ana_id, {"sales": 9})
    session.commit()
    assert seed(session, clock) is False
    session.commit()
    assert len(acd.list_queues(session)) == 4
    assert next(a for a in acd.list_agents(session) if a.username == "ana").skills == {"sales": 9}
