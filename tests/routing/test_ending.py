"""Calls a supervisor ends and agents a supervisor signs out mid-call (routing/ending.py,
console/acd_live.py), as whole calls: the simulator plays the caller and the agent's
softphone, the app's signed webhooks answer, and its Carrier (the real twilio-python
client) talks to the simulator's REST API in this thread."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_core.acd import create_queue
from crm_core.acd_records import WaitRecord
from crm_core.acd_schemas import QueueIn
from crm_core.models import Call
from crm_core.schemas import parse
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
def sim(app, deps, clock, api):
    sim = Simulator(
        clock=clock,
        transport=WsgiTransport(app),
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        api_base_url=API,
    )
    deps.carrier.http.session.mount(API, WsgiAdapter(make_rest_app(sim)))
    sim.add_number(NUMBER, f"{PUBLIC}/twilio/acd/enqueue?queue=sales")
    with deps.session_factory.begin() as s:
        create_queue(s, parse(QueueIn, {"name": "sales", "empty_action": "wait"}), clock)
    api.user("agent", username="ana")
    api.user("supervisor")
    return sim


def run(sim, deps, seconds):
    """Simulated time passes; the ticker runs every second, as `callcenter ticker` does."""
    for _ in range(int(seconds)):
        sim.advance(1)
        deps.dispatcher.run(deps.router.tick())


def call_row(deps, sid) -> Call:
    with deps.session_factory() as s:
        return s.scalars(select(Call).where(Call.call_sid == sid)).one()


def test_a_supervisor_ends_a_waiting_call_and_nobody_abandoned(sim, deps, api):
    caller = sim.call(CALLER, NUMBER).wait(300).hangup()
    run(sim, deps, 40)
    sid = caller.call.sid
    assert deps.router.entry(sid)["state"] == "waiting"
    ended = api.post(f"/api/acd/calls/{sid}/end", as_="supervisor")
    assert ended.status_code == 200, ended.json
    assert ended.json == {"call_sid": sid, "ended": True, "was": "waiting"}
    run(sim, deps, 2)
    assert caller.call.ended and caller.call.status == "completed"  # hung up at the carrier
    assert deps.router.entry(sid) is None and sim.errors == []
    drain(deps, "test")
    with deps.session_factory() as s:
        wait = s.scalars(select(WaitRecord).where(WaitRecord.call_sid == sid)).one()
    assert wait.outcome.value == "supervisor" and 39_000 <= wait.waited_ms <= 41_000
    assert call_row(deps, sid).ended_by == "supervisor"
    tiles = {q["queue"]: q for q in api.get("/api/acd/queues", as_="supervisor").json["queues"]}
    today = tiles["sales"]["today"]
    assert today["abandoned"] == 0 and today["service_level"] is None, today
    (sales,) = api.get("/api/acd/service-level", as_="supervisor").json["queues"]
    assert sales["total"]["abandoned"] == 0 and sales["total"]["offered"] == 0, sales["total"]
    log = api.get("/api/audit", as_="supervisor").json["entries"]
    assert (log[0]["action"], log[0]["target"], log[0]["detail"]) == (
        "call.end",
        f"call:{sid}",
        {"was": "waiting"},
    )
    again = api.post(f"/api/acd/calls/{sid}/end", as_="supervisor")
    assert again.status_code == 409 and again.json["error"]["message"] == (
        "That call has already ended."
    )


def test_a_supervisor_ends_a_connected_call_whose_agent_phone_is_gone(sim, deps, api):
    ana_id, _ = api.user("agent", username="ana")
    sim.phone("client:agent_ana", answer_after=2)
    api.post("/api/agents/me/presence", json={"state": "available"}, as_="ana")
    caller = sim.call(CALLER, NUMBER).wait(600).hangup()
    run(sim, deps, 20)
    sid = caller.call.sid
    assert deps.router.agent(ana_id)["state"] == "busy"
    # The page was reloaded mid-call: the supervisor signs Ana out; it waits for the call.
    out = api.post(
        f"/api/acd/agents/{ana_id}/presence", json={"state": "offline"}, as_="supervisor"
    )
    assert out.status_code == 200 and out.json["offline_after_call"] is True, out.json
    assert out.json["call_sid"] == sid
    # Her softphone is gone, so the supervisor ends the call.
    ended = api.post(f"/api/acd/calls/{sid}/end", as_="supervisor")
    assert ended.status_code == 200 and ended.json["was"] == "connected", ended.json
    run(sim, deps, 3)
    assert caller.call.ended and sim.errors == []
    assert deps.router.agent(ana_id)["state"] == "offline"
    call = call_row(deps, sid)
    assert call.ended_by == "supervisor" and call.agent_id == ana_id and call.talk_seconds
    assert call.outcome_incomplete is True  # no disposition was saved: kept on the list
    drain(deps, "test")
    with deps.session_factory() as s:
        wait = s.scalars(select(WaitRecord).where(WaitRecord.call_sid == sid)).one()
    assert wait.outcome.value == "answered"
