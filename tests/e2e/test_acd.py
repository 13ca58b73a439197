"""Whole calls through the ACD: the simulator plays callers and agents' softphones, the app's
signed webhooks answer, and its Carrier (the real twilio-python client) talks to the
simulator's REST API in this thread (WsgiAdapter), as it would to Twilio's over HTTPS."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_core.acd import create_queue, offers_for_call, update_queue
from crm_core.acd_schemas import QueueIn, QueueUpdate
from crm_core.models import Call, Task, TaskKind, User
from crm_core.schemas import UserIn, parse
from crm_core.users import create_user
from routing.config import profile
from routing.ticker import drain
from telephony.simulator.engine import Simulator
from telephony.simulator.rest import make_rest_app
from telephony.simulator.transport import WsgiAdapter, WsgiTransport
from tests.telephony.conftest import PUBLIC, TOKEN, twilio_app

NUMBER = "+13135550100"
CALLER = "+13135550101"
API = "http://simulator.test"
ACCOUNT = "AC" + "0" * 32


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    yield from twilio_app(
        database_url, redis_url, clock, tmp_path, TWILIO_API_BASE_URL=API, TWILIO_CALLER_ID=NUMBER
    )


@pytest.fixture
def sim(app, deps, clock):
    sim = Simulator(
        clock=clock,
        transport=WsgiTransport(app),
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        api_base_url=API,
    )
    deps.carrier.http.session.mount(API, WsgiAdapter(make_rest_app(sim)))
    sim.add_number(NUMBER, f"{PUBLIC}/twilio/acd/enqueue?queue=sales")
    return sim


@pytest.fixture
def agents(deps, clock):
    """Ana and Luis, sales agents; the sales queue (15 s offers, 30 s wrap-up)."""
    with deps.session_factory.begin() as s:
        create_queue(s, parse(QueueIn, {"name": "sales", "required_skills": {"sales": 1}}), clock)
        for name, skills in (("ana", {"sales": 8, "spanish": 7}), ("luis", {"sales": 6})):
            create_user(
                s, parse(UserIn, {"username": name, "password": "x" * 12, "skills": skills}), clock
            )
    with deps.session_factory() as s:
        return {u.username: profile(u) for u in s.scalars(select(User))}


def run(sim, deps, seconds):
    """Simulated time passes; the ticker runs every second, as `callcenter ticker` does."""
    for _ in range(int(seconds)):
        sim.advance(1)
        deps.dispatcher.run(deps.router.tick())


def test_a_caller_is_answered_by_the_available_agent_and_the_call_row_has_the_timings(
    sim, deps, agents
):
    ana = sim.phone("client:agent_ana", answer_after=4)
    deps.router.set_presence(agents["ana"], "available")
    caller = sim.call(CALLER, NUMBER).wait(60).hangup()
    run(sim, deps, 40)
    assert caller.failures == [] and sim.errors == []
    assert len(ana.answered) == 1, sim.calls
    state = deps.router.agent(agents["ana"].id)
    assert state["state"] == "busy"
    run(sim, deps, 30)  # the caller hangs up at 60 s
    assert deps.router.agent(agents["ana"].id)["state"] == "wrap_up"
    with deps.session_factory() as s:
        call = s.scalars(select(Call).where(Call.call_sid == caller.call.sid)).one()
        assert call.queue == "sales" and call.agent_id == agents["ana"].id
        assert 3 <= call.wait_seconds <= 6 and 50 <= call.talk_seconds <= 58
    run(sim, deps, 31)
    assert deps.router.agent(agents["ana"].id)["state"] == "available"
    with deps.session_factory() as s:
        assert (
            s.scalars(select(Call.wrap_seconds).where(Call.call_sid == caller.call.sid)).one() == 30
        )
    # Why Ana got this call, kept for supervisors (the ticker drains the router's stream).
    assert drain(deps, "test") >= 2
    with deps.session_factory() as s:
        (offer,) = offers_for_call(s, caller.call.sid)
        assert offer.agent_id == agents["ana"].id and offer.outcome == "accepted"
        assert offer.strategy == "longest_idle" and "longest idle" in offer.rule


def test_the_caller_waits_until_an_agent_logs_in(sim, deps, agents):
    sim.phone("client:agent_luis", answer_after=2)
    caller = sim.call(CALLER, NUMBER).expect_say("place in line is 1").wait(90).hangup()
    deps.router.set_presence(agents["ana"], "away", "lunch")  # someone is logged in
    run(sim, deps, 30)
    assert deps.router.entry(caller.call.sid)["state"] == "waiting"
    deps.dispatcher.run(deps.router.set_presence(agents["luis"], "available").actions)
    run(sim, deps, 10)
    assert deps.router.agent(agents["luis"].id)["state"] == "busy"
    assert caller.failures == [], caller.transcript


def test_an_agent_who_never_answers_is_skipped_and_then_put_away(sim, deps, agents):
    sim.phone("client:agent_ana", answer_after=None)  # away from the desk
    luis = sim.phone("client:agent_luis", answer_after=3)
    deps.router.set_presence(agents["ana"], "available")
    sim.call(CALLER, NUMBER).wait(120).hangup()
    run(sim, deps, 17)  # Ana's offer times out after 15 s
    assert deps.router.agent(agents["ana"].id)["misses"] == 1
    deps.dispatcher.run(deps.router.set_presence(agents["luis"], "available").actions)
    run(sim, deps, 10)
    assert len(luis.answered) == 1
    assert deps.router.agent(agents["luis"].id)["state"] == "busy"
    assert not any(c.status == "ringing" for c in sim.calls.values()), "a leg still rings"


def test_caller_hanging_up_while_the_agent_rings_stops_the_ringing(sim, deps, agents):
    sim.phone("client:agent_ana", answer_after=10)
    deps.router.set_presence(agents["ana"], "available")
    sim.call(CALLER, NUMBER).wait(3).hangup()
    run(sim, deps, 5)
    legs = [c for c in sim.calls.values() if c.to == "client:agent_ana"]
    assert len(legs) == 1 and legs[0].status == "canceled"
    assert deps.router.agent(agents["ana"].id)["state"] == "available"


def test_rejecting_puts_the_caller_back_for_the_next_agent(sim, deps, agents):
    sim.phone("client:agent_ana", reject=True)
    luis = sim.phone("client:agent_luis", answer_after=2)
    deps.router.set_presence(agents["ana"], "available")
    caller = sim.call(CALLER, NUMBER).wait(60).hangup()
    run(sim, deps, 3)
    assert deps.router.entry(caller.call.sid)["declined"] == [agents["ana"].id]
    deps.dispatcher.run(deps.router.set_presence(agents["luis"], "available").actions)
    run(sim, deps, 5)
    assert len(luis.answered) == 1


def test_callback_in_queue_keeps_the_place_and_the_agent_calls_back(sim, deps, agents, clock):
    customer = sim.phone(CALLER, answer_after=3)
    sim.phone("client:agent_ana", answer_after=2)
    deps.router.set_presence(agents["ana"], "away", "break")
    caller = sim.call(CALLER, NUMBER).expect_say("press 1").press("1")
    run(sim, deps, 30)
    assert caller.call.ended and caller.failures == [], (caller.transcript, sim.notifications)
    entry = deps.router.entry(caller.call.sid)
    assert entry["kind"] == "callback" and entry["state"] == "waiting"
    deps.dispatcher.run(deps.router.set_presence(agents["ana"], "available").actions)
    run(sim, deps, 20)
    assert len(customer.answered) == 1  # the carrier dialed the customer from Ana's leg


def test_an_unanswered_callback_is_tried_again_then_given_to_a_person(sim, deps, agents):
    sim.phone(CALLER, answer_after=None)
    sim.phone("client:agent_ana", answer_after=1)
    deps.router.set_presence(agents["ana"], "away", "break")
    caller = sim.call(CALLER, NUMBER).expect_say("press 1").press("1")
    run(sim, deps, 30)
    assert deps.router.entry(caller.call.sid)["kind"] == "callback"
    deps.dispatcher.run(deps.router.set_presence(agents["ana"], "available").actions)
    run(sim, deps, 45)  # first attempt: 30 s of ringing
    entry = deps.router.entry(caller.call.sid)
    assert entry["state"] == "scheduled" and entry["attempts"] == 1
    run(sim, deps, 10 * 60 + 60)  # ten minutes later, the second and last attempt
    assert deps.router.entry(caller.call.sid) is None
    with deps.session_factory() as s:
        task = s.scalars(select(Task)).one()
        assert task.kind is TaskKind.CALLBACK and task.phone == CALLER


def test_nobody_logged_in_the_queue_takes_a_message(sim, deps, agents):
    caller = sim.call(CALLER, NUMBER).expect_say("after the tone")
    run(sim, deps, 10)
    assert caller.failures == []
    assert deps.router.entry(caller.call.sid) is None


def test_redis_losing_its_data_is_noticed_and_the_holding_callers_rebuilt(sim, deps, agents):
    from routing.recovery import epoch_lost

    assert epoch_lost(deps)  # the first start sets the epoch (nothing to rebuild)
    assert not epoch_lost(deps)
    luis = sim.phone("client:agent_luis", answer_after=2)
    deps.router.set_presence(agents["ana"], "away", "break")
    first = sim.call(CALLER, NUMBER).wait(300).hangup()
    run(sim, deps, 5)
    second = sim.call("+13135550102", NUMBER).wait(300).hangup()
    run(sim, deps, 5)
    t0 = deps.router.entry(first.call.sid)["t0"]
    deps.router.redis.flushdb()  # Redis restarted without its data
    events = deps.router.redis.pubsub()
    events.subscribe(deps.router.keys.events)
    assert epoch_lost(deps)
    assert deps.router.entry(first.call.sid)["t0"] == t0  # the same place in line
    assert deps.router.entry(second.call.sid)["state"] == "waiting"
    assert deps.router.agent(agents["ana"].id) is None  # everyone offline until re-announced
    messages = [events.get_message(timeout=0.2) for _ in range(10)]
    assert any(m and m["type"] == "message" and b"reannounce" in m["data"] for m in messages)
    events.close()
    deps.dispatcher.run(deps.router.set_presence(agents["luis"], "available").actions)
    run(sim, deps, 5)
    assert len(luis.answered) == 1
    assert deps.router.entry(first.call.sid)["state"] == "connected"  # the first caller first


def add_queue(deps, clock, **fields):
    with deps.session_factory.begin() as s:
        create_queue(s, parse(QueueIn, fields), clock)
    deps.router.queues.invalidate()


def test_max_wait_overflows_to_another_queue_keeping_the_place(sim, deps, agents, clock):
    add_queue(deps, clock, name="service", required_skills={"service": 1}, empty_action="wait")
    with deps.session_factory.begin() as s:
        update = {"max_wait_seconds": 60, "overflow_action": "queue", "overflow_queue": "service"}
        update_queue(s, "sales", parse(QueueUpdate, update), clock)
    deps.router.queues.invalidate()
    deps.router.set_presence(agents["ana"], "away", "lunch")
    caller = sim.call(CALLER, NUMBER).wait(200).hangup()
    run(sim, deps, 10)
    t0 = deps.router.entry(caller.call.sid)["t0"]
    run(sim, deps, 55)
    entry = deps.router.entry(caller.call.sid)
    assert entry["queue"] == "service" and entry["t0"] == t0
    assert not caller.call.ended  # still holding, now for service


def test_max_wait_to_voicemail(sim, deps, agents, clock):
    with deps.session_factory.begin() as s:
        update = {"max_wait_seconds": 30, "overflow_action": "voicemail"}
        update_queue(s, "sales", parse(QueueUpdate, update), clock)
    deps.router.queues.invalidate()
    deps.router.set_presence(agents["ana"], "away", "lunch")
    caller = sim.call(CALLER, NUMBER).expect_say("sorry for the long wait", within=60)
    caller.expect_say("after the tone").talk(5).press("#")
    run(sim, deps, 60)
    assert caller.failures == [], caller.transcript
    assert deps.router.entry(caller.call.sid) is None
    with deps.session_factory() as s:
        assert s.scalars(select(Task)).one().kind is TaskKind.VOICEMAIL


def test_max_wait_to_a_callback_keeps_the_place(sim, deps, agents, clock):
    with deps.session_factory.begin() as s:
        update = {"max_wait_seconds": 30, "overflow_action": "callback"}
        update_queue(s, "sales", parse(QueueUpdate, update), clock)
    deps.router.queues.invalidate()
    deps.router.set_presence(agents["ana"], "away", "lunch")
    caller = sim.call(CALLER, NUMBER).expect_say("we will call you back", within=60)
    run(sim, deps, 60)
    assert caller.failures == [] and caller.call.ended, caller.transcript
    entry = deps.router.entry(caller.call.sid)
    assert entry["kind"] == "callback" and entry["state"] == "waiting"


def test_ring_all_rings_everyone_and_stops_the_others_when_one_answers(sim, deps, agents, clock):
    add_queue(
        deps,
        clock,
        name="bdc",
        required_skills={"sales": 1},
        strategy="ring_all",
        empty_action="wait",
    )
    sim.add_number("+13135550199", f"{PUBLIC}/twilio/acd/enqueue?queue=bdc")
    ana = sim.phone("client:agent_ana", answer_after=3)
    sim.phone("client:agent_luis", answer_after=8)
    for name in ("ana", "luis"):
        deps.router.set_presence(agents[name], "available")
    sim.call(CALLER, "+13135550199").wait(60).hangup()
    run(sim, deps, 10)
    assert len(ana.answered) == 1
    luis_legs = [c for c in sim.calls.values() if c.to == "client:agent_luis"]
    assert [c.status for c in luis_legs] == ["canceled"]
    assert deps.router.agent(agents["luis"].id)["state"] == "available"


def test_a_spanish_caller_hears_the_hold_loop_in_spanish(sim, deps, agents):
    sim.add_number("+13135550177", f"{PUBLIC}/twilio/acd/enqueue?queue=sales&lang=es-MX")
    deps.router.set_presence(agents["ana"], "away", "break")
    caller = sim.call(CALLER, "+13135550177").expect_say("lugar en la fila es el 1")
    caller.expect_say("oprima 1").press("1").expect_say("Conserva su lugar")
    run(sim, deps, 40)
    assert caller.failures == [], caller.transcript
    assert deps.router.entry(caller.call.sid)["lang"] == "es-MX"
